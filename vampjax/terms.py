"""The one interface between a model and its objective: per-sample log-densities.

A model's forward pass on a batch x (N, H, W, C) and standard-normal noise (L, N, noise_dim)
returns `Terms`: for each of the L posterior samples z_l ~ q(z|x) and each example,
log p(x|z_l), log q(z_l|x) and log p(z_l). With two latent levels each is the sum over the
levels (log q(z1|x,z2) + log q(z2|x), log p(z1|z2) + log p(z2)). The loss, the ELBO and the
importance-sampled log-likelihood are written once against these three numbers, so every
model (the study's conv/ResNet VAE, the paper's MLP VAE and two-level HVAEs) shares them.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp


class Terms(NamedTuple):
  """Per-sample log-densities of one forward pass. Shapes: L samples, N examples."""

  log_px_z: jax.Array             # (L, N) log p(x|z_l)
  log_qz_x: jax.Array             # (L, N) log q(z_l|x)
  log_pz: jax.Array               # (L, N) log p(z_l)
  kl: jax.Array | None = None     # (N,) closed-form KL(q(z|x) ‖ p(z)) where one exists


def kl_estimate(terms: Terms) -> jax.Array:
  """KL(q(z|x) ‖ p(z)) per example, (N,): the closed form where the model gives one, else
  the Monte-Carlo estimate (`monte_carlo_kl`)."""
  if terms.kl is not None:
    return terms.kl
  return monte_carlo_kl(terms.log_qz_x, terms.log_pz)


def monte_carlo_kl(log_qz_x: jax.Array, log_pz: jax.Array) -> jax.Array:
  """The L-sample estimate (1/L) Σ_l [log q(z_l|x) − log p(z_l)] of KL(q(z|x) ‖ p(z)), from
  (L, N) log-densities at z_l ~ q(z|x) -> (N,). Unbiased for any prior; vampjax's models and
  `vampjax.kl_estimate` (a user's networks) share it."""
  return jnp.mean(log_qz_x - log_pz, axis=0)


def expected_log_likelihood(terms: Terms) -> jax.Array:
  """E_q[log p(x|z)] per example, (N,), averaged over the L samples."""
  return jnp.mean(terms.log_px_z, axis=0)


def log_weights(terms: Terms) -> jax.Array:
  """Importance weights log p(x, z_l) − log q(z_l|x), (L, N)."""
  return terms.log_px_z + terms.log_pz - terms.log_qz_x


def log_mean_exp(log_w: jax.Array, axis: int = 0) -> jax.Array:
  """log (1/S) Σ_s exp(log_w_s) along `axis`, stably."""
  return jax.nn.logsumexp(log_w, axis=axis) - math.log(log_w.shape[axis])
