"""The paper's one-level VAE with the VampPrior, K = 500."""

from configs.paper import base


def get_config():
  config = base.get_config()
  config.prior = "vamp"
  return config
