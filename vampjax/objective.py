"""The training objective: reconstruction + β·KL over any model's `Terms`, and the β schedule.

Written once against `vampjax.terms.Terms` (log p(x|z), log q(z|x), log p(z) per sample),
so the study's conv/ResNet VAE, the paper's MLP VAE and the two-level HVAEs share it.
"""

from __future__ import annotations

import jax
import ml_collections
import optax

from vampjax import terms as terms_lib
from vampjax.vae import VAE


def sample_noise(rng: jax.Array, model: VAE, config: ml_collections.ConfigDict,
                 batch_size: int) -> jax.Array:
  """The standard-normal noise (L, N, noise_dim) behind the posterior samples of one batch:
  L = config.kl_samples, or 1 where the model's KL is analytic (`VAE.noise_shape`)."""
  return jax.random.normal(rng, model.noise_shape(batch_size, config.kl_samples))


def beta_schedule(config: ml_collections.ConfigDict) -> optax.Schedule:
  """β(step): constant `beta`, or linear KL annealing from 0 to `beta` over `kl_warmup_steps`."""
  if config.kl_warmup_steps > 0:
    return optax.linear_schedule(0.0, config.beta, config.kl_warmup_steps)
  return optax.constant_schedule(config.beta)


def loss_terms(terms: terms_lib.Terms, beta: jax.Array) -> dict[str, jax.Array]:
  """Per-example terms, each (N,): loss = reconstruction + β·KL, and the parts it is made of.

  reconstruction = −E_q[log p(x|z)] over the L samples; KL is the closed form where the
  model gives one, else the L-sample Monte-Carlo estimate.
  """
  reconstruction = -terms_lib.expected_log_likelihood(terms)
  kl = terms_lib.kl_estimate(terms)
  return {"loss": reconstruction + beta * kl, "reconstruction": reconstruction, "kl": kl,
          "elbo": -(reconstruction + kl)}


def kl_share(loss: jax.Array, kl: jax.Array, beta: jax.Array) -> jax.Array:
  """The KL share of the loss, β·KL / (reconstruction + β·KL): the study's 'KL ratio'."""
  return beta * kl / loss
