"""The VAE module: encode → sample z → decode, with a standard-normal or VampPrior prior."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
from flax import linen as nn

from vampjax import priors
from vampjax.distributions import sample_gaussian
from vampjax.networks import Decoder, Encoder


class Outputs(NamedTuple):
  """What the objective needs from one forward pass. Shapes: N batch, K components, D latent."""

  mu: jax.Array            # (N, D) posterior means
  logvar: jax.Array        # (N, D) posterior log-variances
  z: jax.Array             # (N, D) the sample that was decoded
  logits: jax.Array        # (N, H, W, C) decoder output
  prior_mu: jax.Array      # (K, D) prior components (K = 1, zeros, for N(0, I))
  prior_logvar: jax.Array  # (K, D)


class VAE(nn.Module):
  """A VAE whose prior is N(0, I) (num_components = 0) or a VampPrior with K components."""

  image_shape: tuple[int, int, int]
  latent_dim: int
  num_components: int = 0
  residual: bool = False
  logvar_bounds: tuple[float, float] = (-6.0, 2.0)
  pseudo_init_mean: float = 0.05
  pseudo_init_std: float = 0.01
  dtype: jnp.dtype = jnp.float32

  def setup(self):
    self.encoder = Encoder(self.latent_dim, self.residual, self.logvar_bounds, dtype=self.dtype)
    self.decoder = Decoder(self.image_shape, self.residual, dtype=self.dtype)
    if self.num_components:
      self.vamp_prior = priors.VampPrior(self.num_components, self.image_shape,
                                        self.pseudo_init_mean, self.pseudo_init_std)

  @property
  def is_vamp(self) -> bool:
    return self.num_components > 0

  def pseudo_inputs(self) -> jax.Array:
    """The VampPrior's pseudo-inputs u_k, (K, H, W, C) in (0, 1)."""
    return self.vamp_prior()

  def prior_components(self) -> tuple[jax.Array, jax.Array]:
    """(μ_k, log σ²_k), each (K, D): the pseudo-inputs encoded now, or N(0, I) as K = 1."""
    if not self.is_vamp:
      zeros = jnp.zeros((1, self.latent_dim), jnp.float32)
      return zeros, zeros
    return self.encoder(self.pseudo_inputs())

  def encode(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    return self.encoder(x)

  def decode(self, z: jax.Array) -> jax.Array:
    return self.decoder(z)

  def __call__(self, x: jax.Array, rng: jax.Array,
               components: tuple[jax.Array, jax.Array] | None = None) -> Outputs:
    """One pass over a batch x (N, H, W, C).

    Without precomputed `components`, the batch and the pseudo-inputs go through the
    encoder in one call (one big convolution instead of two; the same numbers).
    """
    if components is None and self.is_vamp:
      both_mu, both_logvar = self.encoder(jnp.concatenate([x, self.pseudo_inputs()]))
      n = x.shape[0]
      mu, logvar = both_mu[:n], both_logvar[:n]
      components = (both_mu[n:], both_logvar[n:])
    else:
      mu, logvar = self.encoder(x)
      if components is None:
        components = self.prior_components()
    z = sample_gaussian(rng, mu, logvar)
    return Outputs(mu, logvar, z, self.decoder(z), *components)

  def sample(self, rng: jax.Array, n: int) -> jax.Array:
    """n images decoded from prior samples, as pixel means in [0, 1]."""
    z = priors.sample(rng, *self.prior_components(), n)
    return jax.nn.sigmoid(self.decoder(z))



def build_model(config: ml_collections.ConfigDict) -> VAE:
  """The VAE a config describes."""
  return VAE(
      image_shape=(config.data.image_size, config.data.image_size, config.data.channels),
      latent_dim=config.latent_dim,
      num_components=config.num_components if config.prior == "vamp" else 0,
      residual=config.architecture == "resnet",
      logvar_bounds=(config.logvar_min, config.logvar_max),
      pseudo_init_mean=config.pseudo_init_mean,
      pseudo_init_std=config.pseudo_init_std,
      dtype=jnp.dtype(config.dtype),
  )
