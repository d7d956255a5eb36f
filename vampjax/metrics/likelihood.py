"""Importance-sampled log-likelihood (Burda et al., 2016; the VampPrior paper's S = 5000).

  log p(x) ≈ logsumexp_s [log p(x|z_s) + log p(z_s) − log q(z_s|x)] − log S,  z_s ~ q(z|x).

Written once against any model's `Terms` (`terms.log_weights`), so the one-level VAEs and
the two-level HVAEs share it; it is tested on a linear-Gaussian model whose marginal
likelihood is known in closed form. The S samples are drawn in chunks, each passed to the
model as one batch of chunk × N, so memory holds chunk × batch decodes, not S × batch.
"""

from __future__ import annotations

import functools
import math
from typing import Callable

import jax
import ml_collections

from vampjax import likelihoods, priors
from vampjax import terms as terms_lib
from vampjax.vae import VAE

# noise (chunk, N, noise_dim) -> the model's Terms for those chunk samples of N examples.
TermsFn = Callable[[jax.Array], terms_lib.Terms]


def importance_log_likelihood(rng: jax.Array, terms_fn: TermsFn,
                              noise_shape: tuple[int, int], num_samples: int,
                              chunk_size: int) -> jax.Array:
  """The S-sample estimate of log p(x) for each of N examples: (N,).

  terms_fn(noise) gives the Terms of the posterior samples drawn with standard-normal
  noise (chunk, *noise_shape), noise_shape = (N, noise_dim). S must be a multiple of
  chunk_size (the chunk is shrunk to a divisor of S otherwise).
  """
  chunk_size = _chunk(num_samples, chunk_size)
  per_chunk = jax.lax.map(
      lambda key: chunk_logsumexp(key, terms_fn, noise_shape, chunk_size),
      chunk_keys(rng, num_samples, chunk_size))
  return jax.nn.logsumexp(per_chunk, axis=0) - math.log(num_samples)


def chunk_keys(rng: jax.Array, num_samples: int, chunk_size: int) -> jax.Array:
  """The key of each chunk of `importance_log_likelihood`, (S / chunk_size,)."""
  return jax.random.split(rng, num_samples // chunk_size)


def chunk_logsumexp(key: jax.Array, terms_fn: TermsFn, noise_shape: tuple[int, int],
                    chunk_size: int) -> jax.Array:
  """logsumexp of one chunk's log-weights, (N,): the chunk's samples drawn from `key`."""
  noise = jax.random.normal(key, (chunk_size, *noise_shape))
  return jax.nn.logsumexp(terms_lib.log_weights(terms_fn(noise)), axis=0)


def _chunk(num_samples: int, chunk_size: int) -> int:
  return math.gcd(num_samples, max(1, min(chunk_size, num_samples)))


@functools.lru_cache(maxsize=None)
def _jitted_estimate(model: VAE, noise_dim: int, num_samples: int, chunk_size: int,
                     constant: float) -> Callable[..., jax.Array]:
  """(params, x, rng, prior) -> log p(x) (N,), jitted once per (model, settings). One XLA
  program loops over the chunks, so the decoder's large buffers are allocated once per
  call, not once per chunk."""

  def estimate(params, x, rng, prior):
    terms_fn = lambda noise: model.apply({"params": params}, x, noise, prior)
    return importance_log_likelihood(rng, terms_fn, (x.shape[0], noise_dim), num_samples,
                                     chunk_size) - constant

  return jax.jit(estimate)


def vae_log_likelihood(model: VAE, params, x: jax.Array, rng: jax.Array,
                       components: priors.Mixture,
                       config: ml_collections.ConfigDict, num_samples: int,
                       chunk_size: int, include_constant: bool = True) -> jax.Array:
  """log p(x) of a batch x (N, H, W, C) under any model of vampjax, (N,), with S importance
  samples; `components` is the prior, computed once per evaluation.

  include_constant: add what the likelihood as trained leaves out (the study's Gaussian:
  ½·log 2π per pixel), so the result is the log of a normalised density; without it, the
  estimate is of the likelihood as trained.
  """
  constant = (likelihoods.normalising_constant(config.likelihood, math.prod(x.shape[1:]))
              if include_constant else 0.0)
  estimate = _jitted_estimate(model, model.noise_dim, num_samples,
                              _chunk(num_samples, chunk_size), constant)
  return estimate(params, x, rng, components)


def bits_per_dim(nll_nats: jax.Array | float, num_dims: int) -> jax.Array | float:
  """Nats per example -> bits per pixel-channel."""
  return nll_nats / (num_dims * math.log(2.0))
