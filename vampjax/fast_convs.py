"""Convolutions whose gradients are fast on XLA:CPU: the 4×4 stride-2 down/up pair and the
3×3 stride-1 conv of the residual blocks.

XLA:CPU lowers the input gradient of a strided conv (which is also the forward pass of a
transposed conv) to a slow dilated-input conv, so both layers use a `jax.custom_vjp`:

    down   y = C(w) u          dy/du = C(w)ᵀ (via the space-to-depth form),  dw: plain
    up     y = C(w)ᵀ x         dx = C(w) g (plain strided conv),             dw: plain

where C(w) is the stride-2, padding-1 convolution (PyTorch's Conv2d(4, 2, 1)) and C(w)ᵀ is
PyTorch's ConvTranspose2d(4, 2, 1). C(w)ᵀ x takes the form that is fastest for its shape
(`_adjoint_form`); kernel gradients are summed over cache-sized batch chunks on CPU
(`_kernel_grad`); the first conv (at most 4 channels) runs over its input's space-to-depth
view (`_strided_form`). Values equal plain autodiff to float rounding (tests). The
measurements behind each choice: docs/performance_notes.md.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
from flax import linen as nn

from vampjax import code_paths

_DIMENSION_NUMBERS = ("NHWC", "HWIO", "NHWC")


def strided_conv_reference(u: jax.Array, kernel: jax.Array) -> jax.Array:
  """C(w) u: the 4×4 stride-2 padding-1 conv, (N, 2H, 2W, C_in) -> (N, H, W, C_out)."""
  return jax.lax.conv_general_dilated(u, kernel, (2, 2), ((1, 1), (1, 1)),
                                      dimension_numbers=_DIMENSION_NUMBERS)


def _space_to_depth_conv(u: jax.Array, kernel: jax.Array) -> jax.Array:
  """C(w) u as a stride-1 2×2 conv: pad by 1, fold each 2×2 block into channels. Faster
  than XLA's strided conv for images of at most 4 channels, slower from 32 channels up."""
  n, h, w, c = u.shape
  padded = jnp.pad(u, ((0, 0), (1, 1), (1, 1), (0, 0)))
  blocks = padded.reshape(n, h // 2 + 1, 2, w // 2 + 1, 2, c).transpose(0, 1, 3, 2, 4, 5)
  blocks = blocks.reshape(n, h // 2 + 1, w // 2 + 1, 4 * c)
  return jax.lax.conv_general_dilated(blocks, _folded_kernel(kernel), (1, 1), "VALID",
                                      dimension_numbers=_DIMENSION_NUMBERS)


def _folded_kernel(kernel: jax.Array) -> jax.Array:
  """The 4×4 kernel (4, 4, C_in, C_out) as the 2×2 kernel (2, 2, 4·C_in, C_out) of the
  space-to-depth view: tap (2A+a, 2B+b) goes to block tap (A, B), channel (a, b, c)."""
  c_in = kernel.shape[2]
  return kernel.reshape(2, 2, 2, 2, c_in, -1).transpose(0, 2, 1, 3, 4, 5).reshape(
      2, 2, 4 * c_in, -1)


def _strided_form(u_shape: tuple[int, ...]) -> Callable[[jax.Array, jax.Array], jax.Array]:
  """The faster form of C(w) u (and of its kernel gradient) for u of this shape."""
  _, h, w, c_in = u_shape
  return _space_to_depth_conv if c_in <= 4 and h % 2 == w % 2 == 0 else strided_conv_reference


def _adjoint(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """C(w)ᵀ x, (N, H, W, C_out) -> (N, 2H, 2W, C_in), through the space-to-depth form: the
  transpose of its 2×2 VALID conv is a 2×2 conv of the padded x by the flipped, swapped
  kernel, into (H+1)×(W+1) blocks of 2×2 pixels, then cropped by 1. Written out rather
  than by `jax.linear_transpose`, whose conv is slower inside a loop (a scan of
  micro-batches, the NLL's map over chunks)."""
  n, h, w, _ = x.shape
  c_in = kernel.shape[2]
  flipped = _folded_kernel(kernel)[::-1, ::-1].transpose(0, 1, 3, 2)
  blocks = jax.lax.conv_general_dilated(x, flipped, (1, 1), ((1, 1), (1, 1)),
                                        dimension_numbers=_DIMENSION_NUMBERS)
  pixels = blocks.reshape(n, h + 1, w + 1, 2, 2, c_in).transpose(0, 1, 3, 2, 4, 5)
  return pixels.reshape(n, 2 * h + 2, 2 * w + 2, c_in)[:, 1:-1, 1:-1]


def _tap_range(i: int, size: int) -> tuple[int, int]:
  """Taps [a0, a1) by which input i of `size` reaches an output o = 2i + a − 1 in [0, 2·size)."""
  return max(0, 1 - 2 * i), min(4, 2 * size + 1 - 2 * i)


def _cropped_adjoint(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """C(w)ᵀ x for inputs of at most 4 pixels: one matmul per input pixel by only the taps
  that land inside the output (3×3 of the 4×4 for a 2×2 input: the other forms compute
  and discard 44% of the products), the patches then summed in place."""
  n, h, w, c = x.shape
  c_out = kernel.shape[2]
  out = 0
  for i in range(h):
    a0, a1 = _tap_range(i, h)
    for j in range(w):
      b0, b1 = _tap_range(j, w)
      taps = kernel[a0:a1, b0:b1].transpose(3, 0, 1, 2).reshape(c, -1)
      patch = (x[:, i, j] @ taps).reshape(n, a1 - a0, b1 - b0, c_out)
      top, left = 2 * i + a0 - 1, 2 * j + b0 - 1
      out = out + jnp.pad(patch, ((0, 0), (top, 2 * h - top - (a1 - a0)),
                                  (left, 2 * w - left - (b1 - b0)), (0, 0)))
  return out


def _overlap_add(blocks: jax.Array) -> jax.Array:
  """Σ over (s, t) of blocks (N, R, C, S, 2, T, 2, C_out), block [r, j, s, :, t, :] put at
  pixel (2(r+s), 2(j+t)): (N, 2(R+S−1), 2(C+T−1), C_out), in one fused pass."""
  n, rows, cols, s_taps, _, t_taps, _, c_out = blocks.shape
  total = 0
  for s in range(s_taps):
    for t in range(t_taps):
      block = blocks[:, :, :, s, :, t].transpose(0, 1, 3, 2, 4, 5).reshape(
          n, 2 * rows, 2 * cols, c_out)
      total = total + jnp.pad(block, ((0, 0), (2 * s, 2 * (s_taps - 1 - s)),
                                      (2 * t, 2 * (t_taps - 1 - t)), (0, 0)))
  return total


def _scatter_adjoint(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """C(w)ᵀ x by definition: each input pixel's 4×4×C_out patch is one matmul, then the
  patches, 2 pixels apart, are summed: no space-to-depth waste ((H+1)²/H² of the work)
  and a well-shaped matmul."""
  n, h, w, c = x.shape
  c_out = kernel.shape[2]
  # patches[n, i, j, s, p, t, q, o]: pixel (i, j)'s term at output (2(i+s)+p−1, 2(j+t)+q−1).
  patches = x.reshape(-1, c) @ kernel.transpose(3, 0, 1, 2).reshape(c, 16 * c_out)
  return _overlap_add(patches.reshape(n, h, w, 2, 2, 2, 2, c_out))[:, 1:-1, 1:-1]


def _row_conv_adjoint(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """C(w)ᵀ x with the two row taps summed by a 2×1 conv and the column taps by
  `_overlap_add`: half the scatter form's patches to sum, (H+1)/H of the work."""
  n, h, w, c = x.shape
  c_out = kernel.shape[2]
  # rows[n, r, j, (p, t, q, o)] = Σ_s x[n, r−s, j] · w[2s+p, 2t+q, o]: flip s for the conv.
  row_kernel = kernel.reshape(2, 2, 2, 2, c_out, c)[::-1].transpose(0, 5, 1, 2, 3, 4)
  rows = jax.lax.conv_general_dilated(x, row_kernel.reshape(2, 1, c, 8 * c_out), (1, 1),
                                      ((1, 1), (0, 0)), dimension_numbers=_DIMENSION_NUMBERS)
  return _overlap_add(rows.reshape(n, h + 1, w, 1, 2, 2, 2, c_out))[:, 1:-1, 1:-1]


def _adjoint_form(x_shape: tuple[int, ...], c_out: int
                  ) -> Callable[[jax.Array, jax.Array], jax.Array]:
  """The form of C(w)ᵀ x that runs fastest for its shape (docs/performance_notes.md;
  benchmarks/transposed_conv_forms.py times them all on the study's shapes)."""
  _, h, w, _ = x_shape
  if h * w <= 4:
    return _cropped_adjoint
  if c_out == 1 or max(h, w) <= 4:
    return _scatter_adjoint
  if max(h, w) <= 8:
    return _row_conv_adjoint
  return _adjoint


def _adjoint_fastest(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """C(w)ᵀ x in its fastest form."""
  return _adjoint_form(x.shape, kernel.shape[2])(x, kernel)


_CHUNK_BYTES = 1.5e6  # kernel gradients are summed over batch chunks of about this size
_MAX_CHUNKS = 64


def kernel_grad_chunks(batch: int, nbytes: int, backend: str) -> int:
  """How many batch chunks a kernel gradient is summed over: on XLA:CPU, chunks of about
  `_CHUNK_BYTES` (at most `_MAX_CHUNKS`); elsewhere one. The chunks are a CPU cache
  optimisation: on a GPU each chunk is one more small kernel, and the step slows down."""
  if backend != "cpu":
    return 1
  return int(min(batch, _MAX_CHUNKS, -(-nbytes // _CHUNK_BYTES)))


def _kernel_grad(u: jax.Array, g: jax.Array, kernel: jax.Array,
                 conv: Callable[[jax.Array, jax.Array], jax.Array] = strided_conv_reference
                 ) -> jax.Array:
  """∂/∂w <conv(u, w), g>: the kernel gradient of `conv`.

  On CPU, summed over batch chunks whose activations fit in a core's L2 (~1.5 MB), which
  speeds up the CelebA steps (benchmarks/conv_layers.py; docs/performance_notes.md); the
  backend is `code_paths.backend()`, so VAMPJAX_CODE_PATHS can force either path.
  """
  chunks = kernel_grad_chunks(u.shape[0], max(u.nbytes, g.nbytes), code_paths.backend())
  bounds = [round(i * u.shape[0] / chunks) for i in range(chunks + 1)]
  total = None
  for start, stop in zip(bounds[:-1], bounds[1:]):
    _, vjp = jax.vjp(lambda k, s=start, e=stop: conv(u[s:e], k), kernel)
    part = vjp(g[start:stop])[0]
    total = part if total is None else total + part
  return total


@jax.custom_vjp
def strided_conv(u: jax.Array, kernel: jax.Array) -> jax.Array:
  """C(w) u with fast gradients. kernel: (4, 4, C_in, C_out)."""
  return _strided_form(u.shape)(u, kernel)


strided_conv.defvjp(
    lambda u, k: (_strided_form(u.shape)(u, k), (u, k)),
    lambda res, g: (_adjoint_fastest(g, res[1]),
                    _kernel_grad(res[0], g, res[1], _strided_form(res[0].shape))))


def conv_transpose_reference(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """C(w)ᵀ x by autodiff's linear transpose of the plain strided conv (the slow path).

  kernel: (4, 4, C_out, C_in), the HWIO kernel of the strided conv it transposes.
  """
  n, h, w, _ = x.shape
  u_shape = jax.ShapeDtypeStruct((n, 2 * h, 2 * w, kernel.shape[2]), x.dtype)
  (y,) = jax.linear_transpose(lambda u: strided_conv_reference(u, kernel), u_shape)(x)
  return y


@jax.custom_vjp
def conv_transpose(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """C(w)ᵀ x, PyTorch's ConvTranspose2d(4, 2, 1): (N, H, W, C_in) -> (N, 2H, 2W, C_out)."""
  return _adjoint_fastest(x, kernel)


conv_transpose.defvjp(
    lambda x, k: (_adjoint_fastest(x, k), (x, k)),
    lambda res, g: (strided_conv_reference(g, res[1]), _kernel_grad(g, res[0], res[1])))


def same_conv_reference(u: jax.Array, kernel: jax.Array) -> jax.Array:
  """A stride-1 'same' conv: kernel (kh, kw, C_in, C_out) with odd kh, kw."""
  pad = ((kernel.shape[0] // 2,) * 2, (kernel.shape[1] // 2,) * 2)
  return jax.lax.conv_general_dilated(u, kernel, (1, 1), pad,
                                      dimension_numbers=_DIMENSION_NUMBERS)


@jax.custom_vjp
def same_conv(u: jax.Array, kernel: jax.Array) -> jax.Array:
  """`same_conv_reference` with the chunked kernel gradient."""
  return same_conv_reference(u, kernel)


def _same_conv_bwd(res, g):
  u, kernel = res
  _, input_vjp = jax.vjp(lambda v: same_conv_reference(v, kernel), u)
  return input_vjp(g)[0], _kernel_grad(u, g, kernel, same_conv_reference)


same_conv.defvjp(lambda u, k: (same_conv_reference(u, k), (u, k)), _same_conv_bwd)


class _ConvLayer(nn.Module):
  """A conv + bias with the module's parameters and compute dtype; subclasses pick the conv."""

  features: int
  dtype: jnp.dtype = jnp.float32

  def _conv_plus_bias(self, u: jax.Array, conv: Callable[[jax.Array, jax.Array], jax.Array],
                      kernel_shape: tuple[int, ...],
                      kernel_init: Callable = nn.initializers.lecun_normal()) -> jax.Array:
    kernel = self.param("kernel", kernel_init, kernel_shape)
    bias = self.param("bias", nn.initializers.zeros_init(), (self.features,))
    return conv(u.astype(self.dtype), kernel.astype(self.dtype)) + bias.astype(self.dtype)


class Conv3x3(_ConvLayer):
  """A 3×3 stride-1 'same' conv + bias, as `nn.Conv(features, (3, 3), padding=1)`."""

  @nn.compact
  def __call__(self, u: jax.Array) -> jax.Array:
    return self._conv_plus_bias(u, same_conv, (3, 3, u.shape[-1], self.features))


class Conv2xDown(_ConvLayer):
  """Halves H and W: 4×4 stride-2 padding-1 conv + bias (Flax `nn.Conv`'s initialisers)."""

  @nn.compact
  def __call__(self, u: jax.Array) -> jax.Array:
    return self._conv_plus_bias(u, strided_conv, (4, 4, u.shape[-1], self.features))


class ConvTranspose2x(_ConvLayer):
  """Doubles H and W: 4×4 stride-2 padding-1 transposed conv (PyTorch semantics) + bias."""

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    # Fan-in is the input channels times the kernel area, as for PyTorch's layer.
    init = nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform",
                                            in_axis=(0, 1, 3), out_axis=2)
    return self._conv_plus_bias(x, conv_transpose, (4, 4, self.features, x.shape[-1]), init)
