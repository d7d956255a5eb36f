"""The paper's two-level convHVAE (gated convolutions), prior N(0, I) on z2."""

from configs.paper import hvae_standard


def get_config():
  config = hvae_standard.get_config()
  config.architecture = "hvae_conv"
  return config
