"""The training objective: reconstruction + β·KL, its terms, and the β schedule."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import optax

from vampjax import likelihoods, priors
from vampjax.distributions import gaussian_log_prob, kl_to_standard_normal
from vampjax.vae import Outputs


def num_noise_samples(config: ml_collections.ConfigDict) -> int:
  """Posterior samples per example: L for the Monte-Carlo KL, 1 when the KL is analytic."""
  return 1 if config.prior == "standard" else config.kl_samples


def sample_noise(rng: jax.Array, config: ml_collections.ConfigDict, batch_size: int) -> jax.Array:
  """The standard-normal noise (L, N, D) behind the posterior samples of one batch."""
  return jax.random.normal(rng, (num_noise_samples(config), batch_size, config.latent_dim))


def kl_divergence(out: Outputs, analytic: bool) -> jax.Array:
  """KL(q(z|x) ‖ p(z)) per example, (N,).

  analytic: the closed form against N(0, I). Otherwise the L-sample Monte-Carlo estimate
  (1/L) Σ_l [log q(z_l|x) − log p(z_l)] over the samples z_l ~ q(z|x) in `out.z`, needed
  for the VampPrior; the first sample is the z the decoder saw.
  """
  if analytic:
    return kl_to_standard_normal(out.mu, out.logvar)
  log_q = gaussian_log_prob(out.z, out.mu, out.logvar)
  log_p = jax.vmap(priors.log_prob, in_axes=(0, None, None, None))(out.z, *out.prior)
  return jnp.mean(log_q - log_p, axis=0)


def beta_schedule(config: ml_collections.ConfigDict) -> optax.Schedule:
  """β(step): constant `beta`, or linear KL annealing from 0 to `beta` over `kl_warmup_steps`."""
  if config.kl_warmup_steps > 0:
    return optax.linear_schedule(0.0, config.beta, config.kl_warmup_steps)
  return optax.constant_schedule(config.beta)


def loss_terms(out: Outputs, x: jax.Array, beta: jax.Array,
               config: ml_collections.ConfigDict) -> dict[str, jax.Array]:
  """Per-example terms, each (N,): loss = reconstruction + β·KL, and the parts it is made of."""
  reconstruction = -likelihoods.log_prob(x, out.logits, out.log_scale, config.likelihood)
  kl = kl_divergence(out, analytic=config.prior == "standard")
  return {"loss": reconstruction + beta * kl, "reconstruction": reconstruction, "kl": kl,
          "elbo": -(reconstruction + kl)}


def kl_share(loss: jax.Array, kl: jax.Array, beta: jax.Array) -> jax.Array:
  """The KL share of the loss, β·KL / (reconstruction + β·KL): the study's 'KL ratio'."""
  return beta * kl / loss
