"""Table 1, standard VAE: MNIST 32×32, latent 40, N(0, I) prior."""

from configs import default


def get_config():
  config = default.get_config()
  config.prior = "standard"
  return config
