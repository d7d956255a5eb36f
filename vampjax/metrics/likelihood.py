"""Importance-sampled log-likelihood (Burda et al., 2016; the VampPrior paper's S = 5000).

  log p(x) ≈ logsumexp_s [log p(x|z_s) + log p(z_s) − log q(z_s|x)] − log S,  z_s ~ q(z|x).

The estimator takes log-density functions, so it is tested on a linear-Gaussian model
whose marginal likelihood is known in closed form and then applied to the VAE. The S
samples are drawn in chunks, and the densities get a whole chunk at once, so that memory
holds chunk × batch decodes, not S × batch, and the decoder sees them as one batch.
"""

from __future__ import annotations

import functools
import math
from typing import Callable

import jax
import jax.numpy as jnp
import ml_collections

from vampjax import likelihoods, priors
from vampjax.distributions import gaussian_log_prob, sample_gaussian
from vampjax.vae import VAE

# z (..., N, D) -> (..., N): the densities importance samples need, for N examples.
LogDensity = Callable[[jax.Array], jax.Array]


def importance_log_likelihood(rng: jax.Array, sample_q: Callable[[jax.Array], jax.Array],
                              log_q: LogDensity, log_joint: LogDensity, num_samples: int,
                              chunk_size: int) -> jax.Array:
  """The S-sample estimate of log p(x) for each of N examples: (N,).

  sample_q(rng) -> z (N, D), one draw from q(z|x) per example; log_q(z) = log q(z|x);
  log_joint(z) = log p(x|z) + log p(z). S must be a multiple of chunk_size (the chunk
  is shrunk to a divisor of S otherwise).
  """
  chunk_size = _chunk(num_samples, chunk_size)
  per_chunk = jax.lax.map(
      lambda key: chunk_logsumexp(key, sample_q, log_q, log_joint, chunk_size),
      jax.random.split(rng, num_samples // chunk_size))  # (C, N)
  return jax.nn.logsumexp(per_chunk, axis=0) - math.log(num_samples)


def _chunk(num_samples: int, chunk_size: int) -> int:
  return math.gcd(num_samples, max(1, min(chunk_size, num_samples)))


def chunk_logsumexp(key: jax.Array, sample_q: Callable[[jax.Array], jax.Array],
                    log_q: LogDensity, log_joint: LogDensity, chunk_size: int) -> jax.Array:
  """(N,): logsumexp of the log-weights of `chunk_size` samples, one key each; the
  densities get them all, (chunk_size, N, D)."""
  z = jax.vmap(sample_q)(jax.random.split(key, chunk_size))
  return jax.nn.logsumexp(log_joint(z) - log_q(z), axis=0)


def vae_estimate(model: VAE, likelihood: str, num_samples: int, chunk_size: int,
                 include_constant: bool) -> Callable[..., jax.Array]:
  """`importance_log_likelihood` under the VAE: (params, x, rng, prior) -> (N,). x is
  encoded once; each chunk's samples are decoded as one batch of chunk × N. Not jitted
  (see `vae_log_likelihood`)."""

  def estimate(params, x, rng, prior):
    mu, logvar = model.apply({"params": params}, x, method=VAE.encode)
    log_scale = model.apply({"params": params}, method=VAE.log_scale)
    constant = likelihoods.normalising_constant(likelihood, math.prod(x.shape[1:]))

    def log_joint(z):  # (chunk, N, D) -> (chunk, N)
      flat = z.reshape(-1, z.shape[-1])
      logits = model.apply({"params": params}, flat, method=VAE.decode)
      targets = jnp.broadcast_to(x, (len(z), *x.shape)).reshape(logits.shape)
      log_px = likelihoods.log_prob(targets, logits, log_scale, likelihood)
      if include_constant:
        log_px -= constant
      return (log_px + priors.log_prob(flat, *prior)).reshape(z.shape[:-1])

    return importance_log_likelihood(rng, lambda k: sample_gaussian(k, mu, logvar),
                                     lambda z: gaussian_log_prob(z, mu, logvar), log_joint,
                                     num_samples, chunk_size)

  return estimate


@functools.lru_cache(maxsize=None)
def _jitted_vae_estimate(model: VAE, likelihood: str, num_samples: int, chunk_size: int,
                         include_constant: bool) -> Callable[..., jax.Array]:
  """`vae_estimate` jitted once per (model, settings)."""
  return jax.jit(vae_estimate(model, likelihood, num_samples, chunk_size, include_constant))


def vae_log_likelihood(model: VAE, params, x: jax.Array, rng: jax.Array,
                       components: priors.Mixture,
                       config: ml_collections.ConfigDict, num_samples: int,
                       chunk_size: int, include_constant: bool = True) -> jax.Array:
  """log p(x) of a batch x (N, H, W, C) under the VAE, (N,), with S importance samples.

  One XLA program loops over the chunks, so the decoder's large buffers are allocated
  once per call, not once per chunk: a Python loop over a jitted chunk spent 15–25% of
  its time in the kernel, mapping and zeroing fresh pages for each chunk.
  include_constant: add what the study's Gaussian leaves out (½·log 2π per pixel), so the
  result is the log of a normalised density; without it, the estimate is of the likelihood
  as trained. The other likelihoods are complete either way.
  """
  estimate = _jitted_vae_estimate(model, config.likelihood, num_samples,
                                  _chunk(num_samples, chunk_size), include_constant)
  return estimate(params, x, rng, components)


def bits_per_dim(nll_nats: jax.Array | float, num_dims: int) -> jax.Array | float:
  """Nats per example -> bits per pixel-channel."""
  return nll_nats / (num_dims * math.log(2.0))
