"""The paper's one-level VAE with the VampPrior, K = 500, its pseudo-inputs stored as pixels
(the original's parametrisation, clipped to [0, 1] with a straight-through gradient).

Pixels beat logits at the cpu budget with three seeds (the paper table's extra row
`vamp_logits` keeps the logits): see experiments/results/cpu/pseudo_inputs_ab/."""

from configs.paper import base


def get_config():
  config = base.get_config()
  config.prior = "vamp"
  config.pseudo_param = "pixels"
  return config
