"""The fast stride-2 convs (down and up) against naive numpy definitions and autodiff."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import linen as nn

from vampjax import fast_convs
from vampjax.fast_convs import (Conv2xDown, Conv3x3, ConvTranspose2x, conv_transpose,
                                conv_transpose_reference, same_conv, same_conv_reference,
                                strided_conv, strided_conv_reference)


def naive_conv_transpose(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
  """PyTorch ConvTranspose2d(k=4, s=2, p=1) by its definition: each input pixel scatters
  its kernel-weighted value onto the output at stride 2, then 1 pixel is cropped per side."""
  n, h, w, _ = x.shape
  out = np.zeros((n, 2 * h + 2, 2 * w + 2, kernel.shape[2]))
  for i in range(h):
    for j in range(w):
      # kernel[a, b, c_out, c_in]
      out[:, 2 * i:2 * i + 4, 2 * j:2 * j + 4, :] += np.einsum("nc,aboc->nabo", x[:, i, j], kernel)
  return out[:, 1:-1, 1:-1]


@pytest.fixture(scope="module")
def inputs():
  kx, kw = jax.random.split(jax.random.key(0))
  return jax.random.normal(kx, (2, 4, 5, 3)), jax.random.normal(kw, (4, 4, 6, 3))


def test_forward_matches_definition(inputs):
  x, kernel = inputs
  y = conv_transpose(x, kernel)
  assert y.shape == (2, 8, 10, 6)
  np.testing.assert_allclose(y, naive_conv_transpose(np.asarray(x), np.asarray(kernel)),
                             rtol=1e-5, atol=1e-5)


def test_forward_matches_lax_conv_transpose(inputs):
  x, kernel = inputs
  expected = jax.lax.conv_transpose(x, kernel, (2, 2), ((2, 2), (2, 2)),
                                    dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                    transpose_kernel=True)
  np.testing.assert_allclose(conv_transpose(x, kernel), expected, rtol=1e-5, atol=1e-5)


# (input shape, C_out) of each forward form (`fast_convs._adjoint_fastest`): cropped (at
# most 4 input pixels), scatter (up to 4×4, or one output channel), row conv (up to 8×8)
# and space-to-depth (larger).
SHAPES_OF_EACH_FORM = [((3, 2, 2, 5), 4), ((3, 1, 1, 3), 2), ((2, 1, 3, 4), 3),
                       ((2, 3, 4, 5), 6), ((2, 9, 7, 3), 1), ((2, 4, 5, 3), 6),
                       ((2, 8, 6, 3), 2), ((2, 10, 9, 3), 5)]


@pytest.mark.parametrize("x_shape,c_out", SHAPES_OF_EACH_FORM)
def test_each_forward_form_matches_definition_and_autodiff(x_shape, c_out):
  kx, kw, kt = jax.random.split(jax.random.key(5), 3)
  x = jax.random.normal(kx, x_shape)
  kernel = jax.random.normal(kw, (4, 4, c_out, x_shape[-1]))
  np.testing.assert_allclose(conv_transpose(x, kernel),
                             naive_conv_transpose(np.asarray(x), np.asarray(kernel)),
                             rtol=1e-5, atol=1e-5)
  target = jax.random.normal(kt, (x_shape[0], 2 * x_shape[1], 2 * x_shape[2], c_out))
  fast = jax.grad(_loss(conv_transpose, target), argnums=(0, 1))(x, kernel)
  reference = jax.grad(_loss(conv_transpose_reference, target), argnums=(0, 1))(x, kernel)
  for got, want in zip(fast, reference):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=2e-5)


def naive_strided_conv(u: np.ndarray, kernel: np.ndarray) -> np.ndarray:
  """PyTorch Conv2d(k=4, s=2, p=1) by its definition: out[i, j] = Σ_ab u[2i−1+a, 2j−1+b]·w[a, b]."""
  padded = np.pad(u, ((0, 0), (1, 1), (1, 1), (0, 0)))
  n, h, w, _ = u.shape
  out = np.zeros((n, h // 2, w // 2, kernel.shape[3]))
  for i in range(h // 2):
    for j in range(w // 2):
      out[:, i, j] = np.einsum("nabc,abco->no", padded[:, 2 * i:2 * i + 4, 2 * j:2 * j + 4], kernel)
  return out


def _loss(fn, target):
  return lambda a, b: jnp.sum(jnp.tanh(fn(a, b)) * target)


def test_transposed_gradients_match_autodiff(inputs):
  x, kernel = inputs
  target = jax.random.normal(jax.random.key(1), (2, 8, 10, 6))
  fast = jax.grad(_loss(conv_transpose, target), argnums=(0, 1))(x, kernel)
  reference = jax.grad(_loss(conv_transpose_reference, target), argnums=(0, 1))(x, kernel)
  for got, want in zip(fast, reference):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=2e-5)


# Input gradient forms (`_adjoint_form` of the output's shape): cropped for (3, 4, 4, 1),
# (2, 2, 2, 3), (8, 2, 2, 3); scatter for (9, 8, 8, 2), (2, 8, 6, 1); row conv for
# (2, 8, 10, 3), (1, 16, 8, 5); space-to-depth for (2, 18, 16, 3). The forward and kernel
# gradient take the space-to-depth form for ≤ 4 channels, XLA's strided conv for (1, 16, 8, 5).
@pytest.mark.parametrize("shape", [(2, 8, 10, 3), (3, 4, 4, 1), (1, 16, 8, 5), (9, 8, 8, 2),
                                   (2, 2, 2, 3), (2, 8, 6, 1), (8, 2, 2, 3), (2, 18, 16, 3)])
@pytest.mark.parametrize("split", [False, True])
def test_strided_conv_values_and_gradients(shape, split, monkeypatch):
  if split:  # the kernel gradient summed over (uneven) batch chunks
    monkeypatch.setattr(fast_convs, "_CHUNK_BYTES", 1)
  ku, kw, kt = jax.random.split(jax.random.key(3), 3)
  u = jax.random.normal(ku, shape)
  kernel = jax.random.normal(kw, (4, 4, shape[-1], 7))
  y = strided_conv(u, kernel)
  np.testing.assert_allclose(y, naive_strided_conv(np.asarray(u), np.asarray(kernel)),
                             rtol=1e-4, atol=1e-4)
  target = jax.random.normal(kt, y.shape)
  fast = jax.grad(_loss(strided_conv, target), argnums=(0, 1))(u, kernel)
  reference = jax.grad(_loss(strided_conv_reference, target), argnums=(0, 1))(u, kernel)
  for got, want in zip(fast, reference):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=2e-5)


def test_kernel_grad_chunks_only_on_cpu():
  assert fast_convs.kernel_grad_chunks(564, 10_000_000, "cpu") == 7  # ⌈10 MB / 1.5 MB⌉
  assert fast_convs.kernel_grad_chunks(3, 10_000_000, "cpu") == 3  # at most one per image
  assert fast_convs.kernel_grad_chunks(564, 10**9, "cpu") == 64
  assert fast_convs.kernel_grad_chunks(564, 10**9, "gpu") == 1
  assert fast_convs.kernel_grad_chunks(564, 10**9, "tpu") == 1


@pytest.mark.parametrize("backend, chunks", [("cpu", 4), ("gpu", 1)])
def test_kernel_gradient_convs_by_backend(backend, chunks, monkeypatch):
  """Traced for a GPU, the kernel gradient is one conv; on CPU, one per chunk."""
  monkeypatch.setattr(fast_convs, "_CHUNK_BYTES", 1)
  monkeypatch.setattr(jax, "default_backend", lambda: backend)
  u, kernel = jnp.ones((4, 8, 8, 5)), jnp.ones((4, 4, 5, 7))
  jaxpr = jax.make_jaxpr(jax.grad(lambda k: jnp.sum(strided_conv(u, k))))(kernel)
  kernel_grad_convs = [e for e in jaxpr.eqns if e.primitive.name == "conv_general_dilated"
                       and e.outvars[0].aval.shape == kernel.shape]
  assert len(kernel_grad_convs) == chunks


def test_down_module_matches_flax_conv():
  u = jax.random.normal(jax.random.key(4), (2, 8, 8, 3))
  params = Conv2xDown(5).init(jax.random.key(5), u)
  flax_conv = nn.Conv(5, (4, 4), strides=2, padding=1)
  np.testing.assert_allclose(Conv2xDown(5).apply(params, u), flax_conv.apply(params, u),
                             rtol=1e-5, atol=1e-5)


def test_module_matches_flax_conv_transpose(inputs):
  """Same kernel in Flax's layer (PyTorch padding k − 1 − p = 2, transposed kernel)."""
  x, _ = inputs
  layer = ConvTranspose2x(6)
  params = layer.init(jax.random.key(2), x)
  flax_layer = nn.ConvTranspose(6, (4, 4), strides=(2, 2), padding=((2, 2), (2, 2)),
                                transpose_kernel=True)
  flax_params = {"params": {"kernel": params["params"]["kernel"],
                            "bias": params["params"]["bias"] + 0.5}}
  params = {"params": {**params["params"], "bias": params["params"]["bias"] + 0.5}}
  np.testing.assert_allclose(layer.apply(params, x), flax_layer.apply(flax_params, x),
                             rtol=1e-5, atol=1e-5)


def test_conv3x3_matches_flax_conv_and_autodiff(monkeypatch):
  """With a tiny split threshold the chunked kernel gradient (uneven chunks) is exercised."""
  monkeypatch.setattr(fast_convs, "_CHUNK_BYTES", 1)
  u = jax.random.normal(jax.random.key(6), (7, 6, 5, 4))
  params = Conv3x3(3).init(jax.random.key(7), u)
  np.testing.assert_allclose(Conv3x3(3).apply(params, u),
                             nn.Conv(3, (3, 3), padding=1).apply(params, u), rtol=1e-5, atol=1e-5)
  kernel, target = params["params"]["kernel"], jax.random.normal(jax.random.key(8), (7, 6, 5, 3))
  fast = jax.grad(_loss(same_conv, target), argnums=(0, 1))(u, kernel)
  reference = jax.grad(_loss(same_conv_reference, target), argnums=(0, 1))(u, kernel)
  for got, want in zip(fast, reference):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=2e-5)
