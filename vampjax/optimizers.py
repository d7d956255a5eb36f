"""The optimiser a config asks for: Adam, or the VampPrior code's gradient-normalising Adam.

The original VampPrior code (jmtomczak/vae_vampprior, utils/optimizer.py, AdamNormGrad)
divides each parameter's gradient by its own L2 norm (+1e-7) before the Adam update, so
every weight matrix and bias steps at a rate independent of its gradient's scale.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import optax

OPTIMIZERS = ("adam", "adam_normgrad")
NORM_EPS = 1e-7  # the original's


def normalize_each_gradient(eps: float = NORM_EPS) -> optax.GradientTransformation:
  """g -> g / (‖g‖₂ + eps), per parameter array."""
  return optax.stateless(
      lambda grads, params=None: jax.tree.map(lambda g: g / (jnp.linalg.norm(g) + eps), grads))


def make_optimizer(config: ml_collections.ConfigDict) -> optax.GradientTransformation:
  adam = optax.adam(config.learning_rate)
  if config.optimizer == "adam_normgrad":
    return optax.chain(normalize_each_gradient(), adam)
  return adam
