"""The VampPrior paper's gated layers and its one-level MLP encoder and decoder.

A gated layer (Dauphin et al. 2017, as in Tomczak & Welling 2018) computes
h = (W₁x + b₁) ⊙ σ(W₂x + b₂): a linear map times a learned sigmoid gate. The one-level
model of the paper (jmtomczak/vae_vampprior, models/VAE.py):

  encoder: x (784) → GatedDense 300 → GatedDense 300 → μ (Dense 40), log σ² (Dense 40)
  decoder: z (40) → GatedDense 300 → GatedDense 300 → Dense 784 pixel logits

Initialisation follows the original: every dense kernel He-normal (N(0, 2/fan_in), not
truncated), biases PyTorch's default U(±1/√fan_in); the gated convolutions keep PyTorch's
default conv init, U(±1/√fan_in) for kernel and bias. Images stay NHWC at the interface.
"""

from __future__ import annotations

import math
from typing import Sequence

import jax
import jax.numpy as jnp
from flax import linen as nn

from vampjax.networks import bounded_logvar

HE_NORMAL = nn.initializers.variance_scaling(2.0, "fan_in", "normal")
TORCH_DEFAULT = nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")  # U(±1/√fan_in)


def torch_bias_init(fan_in: int) -> nn.initializers.Initializer:
  """PyTorch's default bias init, U(±1/√fan_in); the bias's own shape does not give fan_in."""
  bound = 1.0 / math.sqrt(fan_in)
  return lambda rng, shape, dtype=jnp.float32: jax.random.uniform(rng, shape, dtype, -bound, bound)


def dense(features: int, fan_in: int, dtype: jnp.dtype, name: str | None = None) -> nn.Dense:
  """A dense layer initialised as the original code's `Linear` + `he_init`."""
  return nn.Dense(features, dtype=dtype, kernel_init=HE_NORMAL,
                  bias_init=torch_bias_init(fan_in), name=name)


class GatedDense(nn.Module):
  """h = (W₁x + b₁) ⊙ σ(W₂x + b₂), (..., fan_in) -> (..., features)."""

  features: int
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    fan_in = x.shape[-1]
    h = dense(self.features, fan_in, self.dtype, name="h")(x)
    gate = dense(self.features, fan_in, self.dtype, name="g")(x)
    return h * nn.sigmoid(gate)


class GatedConv2d(nn.Module):
  """The convolutional gated layer, NHWC: conv_h(x) ⊙ σ(conv_g(x)).

  `padding` pads each spatial side like PyTorch's Conv2d(padding=p), so the original's
  sizes carry over: (k=3, s=2, p=1) halves 28 to 14.
  """

  features: int
  kernel_size: int
  stride: int = 1
  padding: int = 0
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    fan_in = x.shape[-1] * self.kernel_size ** 2

    def conv(name: str) -> nn.Conv:
      return nn.Conv(self.features, (self.kernel_size,) * 2, (self.stride,) * 2,
                     padding=[(self.padding, self.padding)] * 2, dtype=self.dtype,
                     kernel_init=TORCH_DEFAULT, bias_init=torch_bias_init(fan_in), name=name)

    return conv("h")(x) * nn.sigmoid(conv("g")(x))


class MLPEncoder(nn.Module):
  """q(z|x) of the paper's one-level VAE: (N, H, W, C) -> (μ, log σ²), each (N, latent_dim).

  log σ² is bounded smoothly to `logvar_bounds` (networks.bounded_logvar), where the
  original clips it with a hardtanh(−6, 2).
  """

  latent_dim: int
  hidden: Sequence[int] = (300, 300)
  logvar_bounds: tuple[float, float] = (-6.0, 2.0)
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    h = x.reshape(x.shape[0], -1).astype(self.dtype)
    for features in self.hidden:
      h = GatedDense(features, dtype=self.dtype)(h)
    mu = dense(self.latent_dim, h.shape[-1], self.dtype, name="mu")(h)
    logvar = dense(self.latent_dim, h.shape[-1], self.dtype, name="logvar")(h)
    mu, logvar = mu.astype(jnp.float32), logvar.astype(jnp.float32)
    return mu, bounded_logvar(logvar, *self.logvar_bounds)


class MLPDecoder(nn.Module):
  """p(x|z) of the paper's one-level VAE: (N, D) -> pixel logits (N, H, W, C).

  The original ends in Linear + Sigmoid and clamps the probabilities to [1e-5, 1 − 1e-5]
  in its Bernoulli log-density; logits here, so the objective's BCE is exact and stable.
  """

  image_shape: tuple[int, int, int]
  hidden: Sequence[int] = (300, 300)
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, z: jax.Array) -> jax.Array:
    h = z.astype(self.dtype)
    for features in self.hidden:
      h = GatedDense(features, dtype=self.dtype)(h)
    logits = dense(math.prod(self.image_shape), h.shape[-1], self.dtype, name="logits")(h)
    return logits.reshape(z.shape[0], *self.image_shape).astype(jnp.float32)
