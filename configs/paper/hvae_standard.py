"""The paper's two-level HVAE (gated dense layers, 40 + 40 latent units), prior N(0, I) on z2."""

from configs.paper import base


def get_config():
  config = base.get_config()
  config.architecture = "hvae_mlp"
  config.prior = "standard"
  return config
