"""Table 1, VampPrior: MNIST 32×32, latent 40, K = 500, pseudo-inputs from data.

The study's literal objective: ½Σ(x − x̂)² (likelihood="gaussian_study") + KL at β = 1. Its
posterior stayed collapsed through 10 epochs here (the decoder gives the mean image:
experiments/results/cpu/table1.md); the quick start is configs/mnist_quickstart.py.
"""

from configs import default


def get_config():
  config = default.get_config()
  config.likelihood = "gaussian_study"  # the study's ½Σ(x−x̂)², whatever the default
  return config
