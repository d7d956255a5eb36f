"""A 4×4 stride-2 transposed convolution that is fast to differentiate on XLA:CPU.

`flax.linen.ConvTranspose` lowers its kernel gradient to a convolution with a dilated
input, which XLA:CPU runs ~10× slower than the forward pass. A transposed convolution is
the adjoint (in its input) of a strided convolution, so both of its gradients can be
written with the plain strided convolution, whose backward passes XLA handles well:

    y = Cᵀ(w) x        (forward: the adjoint of the stride-2 conv C(w))
    dx = C(w) g        (a plain stride-2 conv of the output cotangent)
    dw = ∂_w <C(w) g, x>  (the ordinary kernel gradient of that stride-2 conv)

Shapes follow PyTorch's ``ConvTranspose2d(kernel_size=4, stride=2, padding=1)``:
(N, H, W, C_in) -> (N, 2H, 2W, C_out).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import linen as nn

_STRIDES = (2, 2)
_PADDING = ((1, 1), (1, 1))
_DIMENSION_NUMBERS = ("NHWC", "HWIO", "NHWC")


def _strided_conv(u: jax.Array, kernel: jax.Array) -> jax.Array:
  """The stride-2, padding-1 convolution whose adjoint is the transposed conv."""
  return jax.lax.conv_general_dilated(
      u, kernel, _STRIDES, _PADDING, dimension_numbers=_DIMENSION_NUMBERS)


def conv_transpose_reference(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """Transposed conv as the linear transpose of `_strided_conv`, differentiated by autodiff.

  kernel: (kh, kw, C_out, C_in), the HWIO kernel of the strided conv it transposes.
  """
  n, h, w, _ = x.shape
  u_shape = jax.ShapeDtypeStruct((n, 2 * h, 2 * w, kernel.shape[2]), x.dtype)
  (y,) = jax.linear_transpose(lambda u: _strided_conv(u, kernel), u_shape)(x)
  return y


@jax.custom_vjp
def conv_transpose(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """Same values as `conv_transpose_reference`; gradients via plain strided convs."""
  return conv_transpose_reference(x, kernel)


def _conv_transpose_fwd(x, kernel):
  return conv_transpose_reference(x, kernel), (x, kernel)


def _conv_transpose_bwd(residuals, g):
  x, kernel = residuals
  dx = _strided_conv(g, kernel)
  _, kernel_vjp = jax.vjp(lambda k: _strided_conv(g, k), kernel)
  (dkernel,) = kernel_vjp(x)
  return dx, dkernel


conv_transpose.defvjp(_conv_transpose_fwd, _conv_transpose_bwd)


class ConvTranspose2x(nn.Module):
  """Upsamples ×2 with a 4×4 stride-2 padding-1 transposed conv (PyTorch semantics) + bias."""

  features: int
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    # Fan-in is the input channels times the kernel area, as for PyTorch's layer.
    kernel = self.param(
        "kernel",
        nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform",
                                         in_axis=(0, 1, 3), out_axis=2),
        (4, 4, self.features, x.shape[-1]))
    bias = self.param("bias", nn.initializers.zeros_init(), (self.features,))
    y = conv_transpose(x.astype(self.dtype), kernel.astype(self.dtype))
    return y + bias.astype(self.dtype)
