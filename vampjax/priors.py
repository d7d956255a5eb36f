"""Priors over z, all written as mixtures of diagonal Gaussians.

The standard normal is the one-component mixture N(0, I); the MoG has K components with
free means and variances; the VampPrior
(Tomczak & Welling, 2018) is p(z) = (1/K) Σ_k q(z | u_k), whose components are the
encoder's posteriors at K learnable pseudo-inputs u_k. A prior therefore reduces to its
components (μ_k, log σ²_k), shape (K, D): `log_prob` and `sample` are pure functions of
them, and the VAE produces them by encoding the pseudo-inputs with the same encoder.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn

from vampjax.distributions import LOG_2PI, bounded_logvar, sample_gaussian

PIXEL_EPS = 1e-4  # pseudo-inputs live in (eps, 1 − eps): a sigmoid never reaches 0 or 1.


class Mixture(NamedTuple):
  """A prior as its components: μ_k and log σ²_k (K, D), and a (K,) mask that is False for
  padding components (added so that K splits evenly over devices), or None."""

  mu: jax.Array
  logvar: jax.Array
  mask: jax.Array | None = None


def standard_normal(latent_dim: int) -> Mixture:
  """N(0, I) as the one-component mixture."""
  zeros = jnp.zeros((1, latent_dim), jnp.float32)
  return Mixture(zeros, zeros)


@jax.jit
def log_prob(z: jax.Array, mu_k: jax.Array, logvar_k: jax.Array,
             mask: jax.Array | None = None) -> jax.Array:
  """log p(z) = logsumexp_k log N(z; μ_k, σ²_k) − log K.

  Each component's log-density sums over all D latent dimensions before the
  logsumexp over k (doing the logsumexp per dimension is a different, wrong prior).
  z: (N, D); μ_k, log σ²_k: (K, D); mask: (K,) bool, False for padding components
  (K is then the number of True entries) -> (N,).
  """
  log_density = component_log_probs(z, mu_k, logvar_k)  # (N, K)
  if mask is None:
    return jax.nn.logsumexp(log_density, axis=-1) - jnp.log(mu_k.shape[0])
  return (jax.nn.logsumexp(log_density, axis=-1, where=mask)
          - jnp.log(jnp.sum(mask.astype(jnp.float32))))


def mixture_log_prob(z: jax.Array, components: Mixture) -> jax.Array:
  """`log_prob` for z of any leading shape: (..., D) -> (...)."""
  return log_prob(z.reshape(-1, z.shape[-1]), *components).reshape(z.shape[:-1])


def component_log_probs(z: jax.Array, mu_k: jax.Array, logvar_k: jax.Array) -> jax.Array:
  """log N(z_n; μ_k, diag σ²_k) for every pair, (N, K), as matrix products.

  Σ_d (z_d − μ_kd)²/σ²_kd = z²·(1/σ²_k) − 2z·(μ_k/σ²_k) + Σ_d μ²_kd/σ²_kd: two (N×D)·(D×K)
  products instead of an (N, K, D) tensor, whose gradient was 1/5 of a VampPrior step
  at K = 500. z and μ_k are first centred on the components' mean (which cancels
  exactly) so that the expansion keeps float32 precision.
  """
  centre = jax.lax.stop_gradient(jnp.mean(mu_k, axis=0))
  z, mu_k = z - centre, mu_k - centre
  precision = jnp.exp(-logvar_k)
  dot = functools.partial(jnp.dot, precision=jax.lax.Precision.HIGHEST)
  quadratic = (dot(z * z, precision.T) - 2.0 * dot(z, (mu_k * precision).T)
               + jnp.sum(mu_k * mu_k * precision, axis=-1))
  return -0.5 * (quadratic + jnp.sum(logvar_k, axis=-1) + z.shape[-1] * LOG_2PI)


def sample(rng: jax.Array, mu_k: jax.Array, logvar_k: jax.Array, n: int) -> jax.Array:
  """A true mixture sample: k ~ Uniform{1..K}, then z ~ N(μ_k, σ²_k). Returns (n, D)."""
  k_rng, z_rng = jax.random.split(rng)
  k = jax.random.randint(k_rng, (n,), 0, mu_k.shape[0])
  return sample_gaussian(z_rng, mu_k[k], logvar_k[k])


# The original code has no MoG prior; its components start near N(0, I), the standard prior:
# means N(0, MOG_INIT_STD²) (apart, so that they can specialise), log-variances 0.
MOG_INIT_STD = 0.1


class GaussianMixture(nn.Module):
  """The paper's MoG baseline: p(z) = (1/K) Σ_k N(z; μ_k, diag σ²_k) with μ_k and log σ²_k
  free parameters. The log-variances are bounded to the encoder's range, so the MoG's
  components are the same family as the VampPrior's (encoded pseudo-inputs)."""

  num_components: int
  latent_dim: int
  logvar_bounds: tuple[float, float] = (-6.0, 2.0)

  @nn.compact
  def __call__(self) -> Mixture:
    shape = (self.num_components, self.latent_dim)
    mu = self.param("means", nn.initializers.normal(MOG_INIT_STD), shape)
    logvar = self.param("logvars", nn.initializers.zeros, shape)
    return Mixture(mu, bounded_logvar(logvar, *self.logvar_bounds))


PSEUDO_PARAMS = ("logits", "pixels")
_PARAM_NAMES = {"logits": "pseudo_logits", "pixels": "pseudo_pixels"}


@jax.custom_jvp
def clip_straight_through(x: jax.Array) -> jax.Array:
  """x clipped to [0, 1] going forward; the identity going backward."""
  return jnp.clip(x, 0.0, 1.0)


@clip_straight_through.defjvp
def _clip_straight_through_jvp(primals, tangents):
  return clip_straight_through(primals[0]), tangents[0]


def to_stored(pixels: jax.Array, parametrisation: str) -> jax.Array:
  """What a parametrisation stores for pseudo-inputs of these pixels."""
  return pixels_to_logits(pixels) if parametrisation == "logits" else pixels


def from_stored(stored: jax.Array, parametrisation: str) -> jax.Array:
  """The pseudo-inputs' pixels, in [0, 1], from what a parametrisation stores."""
  if parametrisation == "logits":
    return jax.nn.sigmoid(stored)
  return clip_straight_through(stored)


def stored_params(pixels: jax.Array, parametrisation: str) -> dict[str, jax.Array]:
  """The VampPrior's parameters holding pseudo-inputs of these pixels."""
  return {_PARAM_NAMES[parametrisation]: to_stored(pixels, parametrisation)}


class VampPrior(nn.Module):
  """Holds the K pseudo-inputs u_k, shaped like images, with pixels in [0, 1].

  `parametrisation` "logits" stores sigmoid⁻¹(u): gradients flow everywhere, but Adam moves
  a logit by about the learning rate per step, so a pixel near 0.05 moves ~20× slower than
  a stored pixel would. "pixels" stores u itself, as the original code does (which clips with
  a hardtanh(0, 1) whose gradient is 0 outside the range, so a pixel pushed past a bound
  stays there); here the clip is straight-through: forward clip, backward identity, so the
  gradient also reaches a pixel at or past a bound and can bring it back. It lives in the
  module, so any optimiser and gradient accumulation work unchanged; its cost is that a
  stored pixel pushed past a bound keeps drifting (about one learning rate per step) while
  the gradient pushes it out. `random` init draws pixels from N(init_mean, init_std²) (the
  original's 0.05, 0.01); pseudo_init='data' replaces them (`data_init_pixels`). With
  `trainable` False the pseudo-inputs get no gradient (the paper's fixed "VampPrior data").
  """

  num_components: int
  image_shape: tuple[int, int, int]
  init_mean: float = 0.05
  init_std: float = 0.01
  parametrisation: str = "logits"
  trainable: bool = True

  @nn.compact
  def __call__(self) -> jax.Array:
    def init(rng, shape):
      pixels = self.init_mean + self.init_std * jax.random.normal(rng, shape)
      return to_stored(pixels, self.parametrisation)

    stored = self.param(_PARAM_NAMES[self.parametrisation], init,
                        (self.num_components, *self.image_shape))
    if not self.trainable:
      stored = jax.lax.stop_gradient(stored)
    return from_stored(stored, self.parametrisation)


def pixels_to_logits(pixels: jax.Array) -> jax.Array:
  """Inverse of the sigmoid that maps stored logits to pseudo-input pixels."""
  pixels = jnp.clip(pixels, PIXEL_EPS, 1.0 - PIXEL_EPS)
  return jnp.log(pixels) - jnp.log1p(-pixels)


def data_init_pixels(rng: jax.Array, images: np.ndarray, num_components: int,
                     noise_std: float) -> jax.Array:
  """K distinct training images (chosen with rng) plus N(0, noise_std²) noise, as pixels
  (the noise may step outside [0, 1]; `from_stored` maps them back).

  images: (N, H, W, C), uint8 in [0, 255] or floats in [0, 1].
  """
  if num_components > images.shape[0]:
    raise ValueError(
        f"num_components={num_components} exceeds the {images.shape[0]} training images "
        "available for pseudo_init='data'; lower num_components or use pseudo_init='random'.")
  pick_rng, noise_rng = jax.random.split(rng)
  index = jax.random.choice(pick_rng, images.shape[0], (num_components,), replace=False)
  chosen = np.asarray(images[np.sort(np.asarray(index))], np.float32)
  if np.issubdtype(images.dtype, np.integer):
    chosen /= 255.0
  return chosen + noise_std * jax.random.normal(noise_rng, chosen.shape)
