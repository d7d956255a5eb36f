"""The paper's "VampPrior data": the one-level VampPrior whose K = 500 pseudo-inputs are
random training images, fixed (never trained), without the init's noise. They are stored as
pixels, so that they are the training images exactly (logits would clip them to
[1e-4, 1 − 1e-4]); the parametrisation matters only when they learn."""

from configs.paper import base


def get_config():
  config = base.get_config()
  config.prior = "vamp"
  config.pseudo_init = "data"
  config.pseudo_init_std = 0.0
  config.train_pseudo_inputs = False
  config.pseudo_param = "pixels"
  return config
