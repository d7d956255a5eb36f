"""The paper's two-level convHVAE (gated convolutions) with the VampPrior on z2, K = 500
(pseudo-inputs stored as pixels, as the other configs/paper VampPriors)."""

from configs.paper import convhvae_standard


def get_config():
  config = convhvae_standard.get_config()
  config.prior = "vamp"
  config.pseudo_param = "pixels"
  return config
