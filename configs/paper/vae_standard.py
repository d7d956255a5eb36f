"""The paper's one-level VAE with the standard prior N(0, I)."""

from configs.paper import base


def get_config():
  config = base.get_config()
  config.prior = "standard"
  return config
