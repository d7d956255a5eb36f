"""Standard VAE with the residual nets (the study's Fig. 2 baseline)."""

from configs import celeba


def get_config():
  config = celeba.get_config()
  config.prior = "standard"
  config.architecture = "resnet"
  return config
