"""vampjax's priors on your own Flax networks.

Any encoder that maps images (N, H, W, C) to (μ, log σ²), each (N, D), can take
vampjax's prior: a prior module, held by your model, is called with that encoder and gives
the prior's components (a `priors.Mixture`, μ_k and log σ²_k of shape (K, D)); the KL
estimate (`kl_estimate`), log p(z) (`prior_log_prob`) and prior samples (`prior_sample`) are
pure functions of them.

  class MyVAE(nn.Module):
    def setup(self):
      self.encoder, self.decoder = MyEncoder(), MyDecoder()
      self.prior = vampjax.VampPrior(num_components=500, image_shape=(28, 28, 1))

    def __call__(self, x, rng):
      mu, logvar = self.encoder(x)
      z = mu + jnp.exp(0.5 * logvar) * jax.random.normal(rng, mu.shape)
      kl = vampjax.kl_estimate(z, mu, logvar, self.prior(self.encoder))
      return self.decoder(z), kl

For the VampPrior, p(z) = (1/K) Σ_k q(z|u_k): its K pseudo-inputs u_k are parameters of
your model (under the prior module's name, e.g. params["prior"]["pseudo_inputs"]
["pseudo_logits"], or ["pseudo_pixels"] with pseudo_param="pixels"), trained with it, and
run through your encoder, as one batch of K, on every call; `model.apply(variables,
method=lambda m: m.prior.pseudo_inputs())` gives them as images. A new prior is one module
with the same call, `prior(encoder) -> Mixture`; `MoGPrior`, the paper's mixture of K free
Gaussians, is one that ignores the encoder.
"""

from __future__ import annotations

from typing import Callable

import jax
from flax import linen as nn

from vampjax import priors
from vampjax.distributions import gaussian_log_prob
from vampjax.terms import monte_carlo_kl

Encoder = Callable[[jax.Array], tuple[jax.Array, jax.Array]]


class StandardPrior(nn.Module):
  """p(z) = N(0, I): one component, whatever the encoder."""

  latent_dim: int

  def __call__(self, encoder: Encoder | None = None) -> priors.Mixture:
    return priors.standard_normal(self.latent_dim)


class VampPrior(nn.Module):
  """p(z) = (1/K) Σ_k q(z|u_k) over K learned pseudo-inputs u_k shaped like the images, with
  pixels in [0, 1], initialised as N(init_mean, init_std²) (vampjax's defaults).

  `pseudo_param` is how they are stored, as in vampjax's own models (`priors.VampPrior`):
  "logits" (a sigmoid) or "pixels" (clipped to [0, 1], with a straight-through gradient),
  which the optimiser moves about 20× faster near the initial 0.05.
  """

  num_components: int
  image_shape: tuple[int, int, int]
  init_mean: float = 0.05
  init_std: float = 0.01
  pseudo_param: str = priors.VampPrior.parametrisation  # vampjax's own models' default

  def setup(self):
    if self.pseudo_param not in priors.PSEUDO_PARAMS:
      raise ValueError(f"pseudo_param must be one of {', '.join(priors.PSEUDO_PARAMS)}, "
                       f"not {self.pseudo_param!r}.")
    self.pseudo_inputs = priors.VampPrior(self.num_components, tuple(self.image_shape),
                                          self.init_mean, self.init_std, self.pseudo_param)

  def __call__(self, encoder: Encoder) -> priors.Mixture:
    """The components: `encoder`'s posteriors at the pseudo-inputs, (K, D) each."""
    return priors.Mixture(*encoder(self.pseudo_inputs()))


class MoGPrior(nn.Module):
  """p(z) = (1/K) Σ_k N(z; μ_k, diag σ²_k) with μ_k and log σ²_k free parameters, whatever
  the encoder: the VampPrior paper's MoG baseline, as in vampjax's own models
  (`priors.GaussianMixture`, config prior='mog'), its log-variances bounded to
  `logvar_bounds`."""

  num_components: int
  latent_dim: int
  logvar_bounds: tuple[float, float] = priors.GaussianMixture.logvar_bounds

  def setup(self):
    self.mixture = priors.GaussianMixture(self.num_components, self.latent_dim,
                                          tuple(self.logvar_bounds))

  def __call__(self, encoder: Encoder | None = None) -> priors.Mixture:
    return self.mixture()


def prior_log_prob(z: jax.Array, components: priors.Mixture) -> jax.Array:
  """log p(z) under the prior's components: z (..., D) -> (...)."""
  return priors.mixture_log_prob(z, components)


def kl_estimate(z: jax.Array, mu: jax.Array, logvar: jax.Array,
                components: priors.Mixture) -> jax.Array:
  """The Monte-Carlo KL(q(z|x) ‖ p(z)) per example, mean over samples of
  log q(z|x) − log p(z): z (N, D) or (L, N, D) drawn from q = N(μ, σ²), μ and log σ² (N, D)
  -> (N,). Unbiased for any prior; the estimator of vampjax's own models
  (`terms.monte_carlo_kl`)."""
  samples = z if z.ndim == 3 else z[None]  # (L, N, D)
  return monte_carlo_kl(gaussian_log_prob(samples, mu, logvar),
                        prior_log_prob(samples, components))


def prior_sample(rng: jax.Array, components: priors.Mixture, n: int) -> jax.Array:
  """n latents from the prior: k ~ Uniform(K), then z ~ N(μ_k, σ²_k). Returns (n, D)."""
  return priors.sample(rng, components.mu, components.logvar, n)
