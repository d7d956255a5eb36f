"""The decoder's likelihoods p(x|z): log p(x|z) per example from the decoder's logits."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import optax

LIKELIHOODS = ("gaussian", "bernoulli")
HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def log_prob(x: jax.Array, logits: jax.Array, log_scale: jax.Array | None,
             likelihood: str) -> jax.Array:
  """log p(x|z) as trained, summed over (H, W, C): x broadcasts against logits (..., H, W, C).

  gaussian: −½ Σ (x − sigmoid(logits))², the study's unit-variance Gaussian without its
  ½·log 2π per pixel (`normalising_constant`); bernoulli: −BCE from logits.
  """
  del log_scale
  if likelihood == "gaussian":
    per_pixel = -0.5 * (x - jax.nn.sigmoid(logits)) ** 2
  elif likelihood == "bernoulli":
    per_pixel = -optax.sigmoid_binary_cross_entropy(logits, x)
  else:
    raise ValueError(f"likelihood={likelihood!r}; use one of {LIKELIHOODS}.")
  return jnp.sum(per_pixel, axis=(-3, -2, -1))


def normalising_constant(likelihood: str, num_pixels: int) -> float:
  """What `log_prob` leaves out of −log p(x|z) per example."""
  return num_pixels * HALF_LOG_2PI if likelihood == "gaussian" else 0.0
