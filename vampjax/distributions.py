"""Diagonal Gaussians: log-density, reparameterised samples, analytic KL to N(0, I), and the
smooth bound on log σ² that every learned variance goes through."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

# A Python float, not a jnp value: computing at import would start the XLA backend, after
# which jax.distributed.initialize() (multi-host runs) can no longer be called.
LOG_2PI = math.log(2.0 * math.pi)


def gaussian_log_prob(z: jax.Array, mu: jax.Array, logvar: jax.Array) -> jax.Array:
  """log N(z; μ, diag exp(logvar)), summed over the last (latent) axis."""
  return -0.5 * jnp.sum(LOG_2PI + logvar + (z - mu) ** 2 * jnp.exp(-logvar), axis=-1)


def sample_gaussian(rng: jax.Array, mu: jax.Array, logvar: jax.Array,
                    num_samples: int | None = None) -> jax.Array:
  """z = μ + σ·ε (reparameterised). With num_samples, returns (num_samples, *mu.shape)."""
  shape = mu.shape if num_samples is None else (num_samples, *mu.shape)
  eps = jax.random.normal(rng, shape, mu.dtype)
  return mu + jnp.exp(0.5 * logvar) * eps


def kl_to_standard_normal(mu: jax.Array, logvar: jax.Array) -> jax.Array:
  """KL(N(μ, σ²) ‖ N(0, I)) = ½ Σ (μ² + σ² − log σ² − 1), summed over the last axis."""
  return 0.5 * jnp.sum(mu ** 2 + jnp.exp(logvar) - logvar - 1.0, axis=-1)


def bounded_logvar(h: jax.Array, low: float, high: float) -> jax.Array:
  """Maps an unbounded pre-activation to log σ² in (low, high), smoothly.

  The original VampPrior code clips log σ² with a hardtanh(−6, 2), which kills the
  gradient outside the range; a shifted sigmoid keeps it bounded (σ² never collapses
  to 0 nor explodes, so log q and the KL stay finite) and differentiable everywhere.
  The shift makes h = 0 give log σ² = 0, the usual initial value.
  """
  shift = jnp.log(-low / high) if low < 0 < high else 0.0
  return low + (high - low) * jax.nn.sigmoid(h + shift)
