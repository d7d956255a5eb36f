"""Table 2, standard VAE, conv nets."""

from configs import celeba


def get_config():
  config = celeba.get_config()
  config.prior = "standard"
  return config
