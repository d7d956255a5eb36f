"""The paper's two-level HVAE with the VampPrior on z2 (K = 500 pseudo-inputs)."""

from configs.paper import hvae_standard


def get_config():
  config = hvae_standard.get_config()
  config.prior = "vamp"
  return config
