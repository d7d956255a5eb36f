"""Table 1, standard VAE: MNIST 32×32, latent 40, N(0, I) prior.

The study's literal objective: ½Σ(x − x̂)² (likelihood="gaussian_study") + KL at β = 1. At
short budgets its posterior stays collapsed (the decoder gives the mean image); the quick
start is configs/mnist_quickstart.py.
"""

from configs import default


def get_config():
  config = default.get_config()
  config.prior = "standard"
  config.likelihood = "gaussian_study"  # the study's ½Σ(x−x̂)², whatever the default
  return config
