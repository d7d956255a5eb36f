"""The paper's two-level HVAE with the VampPrior on z2 (K = 500 pseudo-inputs, stored as pixels,
as the one-level configs/paper/vae_vamp.py)."""

from configs.paper import hvae_standard


def get_config():
  config = hvae_standard.get_config()
  config.prior = "vamp"
  config.pseudo_param = "pixels"
  return config
