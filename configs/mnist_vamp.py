"""Table 1, VampPrior: MNIST 32×32, latent 40, K = 500, pseudo-inputs from data."""

from configs import default


def get_config():
  return default.get_config()
