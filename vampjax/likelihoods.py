"""The decoder's likelihoods p(x|z): log p(x|z) per example, and the learnable pixel scale.

The decoder outputs logits l; the pixel mean is x̂ = sigmoid(l) (the study's sigmoid output).

  gaussian_study         −½ Σ (x − x̂)²: the study's literal objective, a unit-variance
                         Gaussian without its ½·log 2π per pixel (`normalising_constant`).
  gaussian               Σ log N(x; x̂, σ²), complete: with ½·log 2π + log σ per pixel.
  discretized_logistic   Σ log P(x) of a logistic (mean x̂, scale σ) integrated over the
                         pixel's bin of width 1/255, the end bins taking the tails: a
                         probability mass on the 256 grey levels, so the NLL is a true
                         discrete likelihood (the original VampPrior code's choice for
                         grey images, there without the tails).
  bernoulli              Σ log Bernoulli(x; x̂) (binary cross-entropy), computed from logits.

σ is fixed (`likelihood_scale`) or learned, one for all pixels or one per pixel, bounded
smoothly to [σ_min, σ_max] (`PixelScale`).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import optax
from flax import linen as nn
from jax.scipy.stats import norm

LIKELIHOODS = ("gaussian_study", "gaussian", "discretized_logistic", "bernoulli")
SCALED = ("gaussian", "discretized_logistic")  # the likelihoods with a scale σ
SCALE_MODES = ("fixed", "learned_global", "learned_pixel")
HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
GREY_LEVELS = 256

NOTES = {
    "gaussian_study": (
        "The study's 0.5*sum((x - x_hat)^2) (unit-variance Gaussian without its constant): "
        "'loss', 'reconstruction' and 'neg_elbo_as_trained' leave out the 0.5*log(2*pi) per "
        "pixel; is_nll and neg_elbo_nats include it (a normalised density on continuous "
        "pixels)."),
    "gaussian": (
        "Gaussian with scale sigma (fixed or learned): training uses the complete "
        "-log N(x; x_hat, sigma^2), so neg_elbo_nats equals neg_elbo_as_trained; a density on "
        "continuous pixels (it can go below 0 nats when sigma is small)."),
    "discretized_logistic": (
        "Discretized logistic on the 256 grey levels: a complete probability mass, so "
        "neg_elbo_nats equals neg_elbo_as_trained and is_nll is a discrete NLL (bits/dim "
        "comparable to other 8-bit image models)."),
    "bernoulli": (
        "Bernoulli likelihood: BCE is a complete log-probability, so neg_elbo_nats equals "
        "neg_elbo_as_trained (exact NLL only for binary pixels)."),
}


def _per_example(per_pixel: jax.Array) -> jax.Array:
  """Sums over (H, W, C): (..., H, W, C) -> (...)."""
  return jnp.sum(per_pixel, axis=(-3, -2, -1))


def _discretized_logistic(x: jax.Array, mean: jax.Array, log_scale: jax.Array) -> jax.Array:
  """log P(x) per pixel: the logistic's mass over x's bin [x − h, x + h], h = ½/255; the
  bin of 0 extends to −∞ and that of 1 to +∞, so the 256 levels' masses sum to 1."""
  half_bin = 0.5 / (GREY_LEVELS - 1)
  inv_scale = jnp.exp(-log_scale)
  upper = (x + half_bin - mean) * inv_scale
  lower = (x - half_bin - mean) * inv_scale
  # log(σ(u) − σ(v)) = log σ(u) + log(1 − e^{v−u}) + log σ(−v): stable in both tails.
  log_mass = (jax.nn.log_sigmoid(upper) + jax.nn.log_sigmoid(-lower)
              + jnp.log(-jnp.expm1(lower - upper)))
  is_low, is_high = x < half_bin, x > 1.0 - half_bin
  return jnp.where(is_low, jax.nn.log_sigmoid(upper),
                   jnp.where(is_high, jax.nn.log_sigmoid(-lower), log_mass))


def log_prob(x: jax.Array, logits: jax.Array, log_scale: jax.Array | None,
             likelihood: str) -> jax.Array:
  """log p(x|z) as trained, summed over pixels: logits (..., N, H, W, C) and x broadcast
  against them -> (..., N).

  log_scale: log σ, broadcastable to x (a scalar or (H, W, C)); used by `SCALED` only.
  Complete for every likelihood but `gaussian_study` (see `normalising_constant`).
  """
  if likelihood == "gaussian_study":
    per_pixel = -0.5 * (x - jax.nn.sigmoid(logits)) ** 2
  elif likelihood == "gaussian":
    per_pixel = norm.logpdf(x, jax.nn.sigmoid(logits), jnp.exp(log_scale))
  elif likelihood == "discretized_logistic":
    per_pixel = _discretized_logistic(x, jax.nn.sigmoid(logits), log_scale)
  elif likelihood == "bernoulli":
    per_pixel = -optax.sigmoid_binary_cross_entropy(logits, x)
  else:
    raise ValueError(f"likelihood={likelihood!r}; use one of {LIKELIHOODS}.")
  return _per_example(per_pixel)


def normalising_constant(likelihood: str, num_pixels: int) -> float:
  """What `log_prob` leaves out of −log p(x|z) per example: ½·log 2π per pixel for the
  study's Gaussian; 0 for the others, which are complete."""
  return num_pixels * HALF_LOG_2PI if likelihood == "gaussian_study" else 0.0


def bounded_log_scale(h: jax.Array, low: float, high: float) -> jax.Array:
  """Maps an unbounded parameter to log σ in [log low, log high], smoothly (a sigmoid), so a
  learned σ can neither collapse to 0 (an unbounded density on pixels that never vary)
  nor explode, and its gradient never vanishes abruptly as a hard clip's would."""
  log_low, log_high = math.log(low), math.log(high)
  return log_low + (log_high - log_low) * jax.nn.sigmoid(h)


def unbounded_log_scale(scale: float, low: float, high: float) -> float:
  """The parameter h for which `bounded_log_scale` gives σ = scale (low < scale < high)."""
  fraction = (math.log(scale) - math.log(low)) / (math.log(high) - math.log(low))
  return math.log(fraction) - math.log1p(-fraction)


class PixelScale(nn.Module):
  """log σ of the likelihood: fixed, or learned (one for all pixels, or one per pixel),
  starting at `scale` and bounded to [low, high]. Returns () or `image_shape`."""

  mode: str
  image_shape: tuple[int, int, int]
  scale: float = 1.0
  low: float = 0.01
  high: float = 1.0

  @nn.compact
  def __call__(self) -> jax.Array:
    if self.mode == "fixed":
      return jnp.asarray(math.log(self.scale), jnp.float32)
    shape = () if self.mode == "learned_global" else self.image_shape
    start = unbounded_log_scale(self.scale, self.low, self.high)
    h = self.param("log_scale_logit", nn.initializers.constant(start), shape)
    return bounded_log_scale(h, self.low, self.high)
