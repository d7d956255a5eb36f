"""The paper's two-level convHVAE (gated convolutions) with the VampPrior on z2, K = 500."""

from configs.paper import convhvae_standard


def get_config():
  config = convhvae_standard.get_config()
  config.prior = "vamp"
  return config
