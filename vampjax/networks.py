"""Encoders and decoders of the study (§3.2): a plain conv pair and its residual variant.

Encoder: four 4×4 stride-2 convs (32→64→128→256, ReLU), then dense heads for μ and
log σ². Decoder: dense → 256×(H/16)×(W/16), four ×2 transposed convs back to H×W×C,
ReLU inside, logits out (the likelihood applies the sigmoid), plus a per-pixel output bias
(`create_train_state` can set it to the logit of the training mean image). The residual variants
("EncoderPlus"/"DecoderPlus") add a `ResBlock` after each encoder conv and between the
decoder's upsamplings.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn

from vampjax.distributions import bounded_logvar
from vampjax.fast_convs import Conv2xDown, Conv3x3, ConvTranspose2x
from vampjax.priors import pixels_to_logits

CHANNELS = (32, 64, 128, 256)
DOWNSAMPLING = 2 ** len(CHANNELS)


class ResBlock(nn.Module):
  """Two 3×3 convs with a ReLU between them and an identity skip, then ReLU."""

  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    features = x.shape[-1]
    h = nn.relu(Conv3x3(features, dtype=self.dtype)(x))
    h = Conv3x3(features, dtype=self.dtype)(h)
    return nn.relu(x + h)


class Encoder(nn.Module):
  """q(z|x) = N(μ(x), diag σ²(x)); returns (μ, log σ²), each (N, latent_dim)."""

  latent_dim: int
  residual: bool = False
  logvar_bounds: tuple[float, float] = (-6.0, 2.0)
  channels: Sequence[int] = CHANNELS
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    h = x.astype(self.dtype)
    for features in self.channels:
      h = nn.relu(Conv2xDown(features, dtype=self.dtype)(h))
      if self.residual:
        h = ResBlock(dtype=self.dtype)(h)
    h = h.reshape(h.shape[0], -1)
    mu = nn.Dense(self.latent_dim, dtype=self.dtype, name="mu")(h)
    logvar = nn.Dense(self.latent_dim, dtype=self.dtype, name="logvar")(h)
    mu, logvar = mu.astype(jnp.float32), logvar.astype(jnp.float32)
    return mu, bounded_logvar(logvar, *self.logvar_bounds)


class Decoder(nn.Module):
  """p(x|z): returns pixel logits (N, H, W, C).

  The last layer's output gets a per-pixel bias `output_bias` (H, W, C), zero here; its
  data-dependent init makes every decoded image start at the training mean image.
  """

  image_shape: tuple[int, int, int]
  residual: bool = False
  channels: Sequence[int] = CHANNELS
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, z: jax.Array) -> jax.Array:
    height, width, out_channels = self.image_shape
    top = self.channels[-1]
    h = nn.Dense(top * (height // DOWNSAMPLING) * (width // DOWNSAMPLING),
                 dtype=self.dtype)(z.astype(self.dtype))
    h = nn.relu(h.reshape(z.shape[0], height // DOWNSAMPLING, width // DOWNSAMPLING, top))
    ups = list(reversed(self.channels[:-1])) + [out_channels]
    for i, features in enumerate(ups):
      if self.residual and i > 0:
        h = ResBlock(dtype=self.dtype)(h)
      h = ConvTranspose2x(features, dtype=self.dtype)(h)
      if i < len(ups) - 1:
        h = nn.relu(h)
    output_bias = self.param("output_bias", nn.initializers.zeros_init(), self.image_shape)
    return h.astype(jnp.float32) + output_bias


def mean_image_logits(images: np.ndarray) -> jax.Array:
  """The logit of the mean image, (H, W, C): the decoder's `output_bias` that makes it
  start at the best constant prediction. images: (N, H, W, C), uint8 or [0, 1] floats."""
  mean = np.mean(images, axis=0, dtype=np.float64)
  if np.issubdtype(images.dtype, np.integer):
    mean /= 255.0
  return pixels_to_logits(jnp.asarray(mean, jnp.float32))
