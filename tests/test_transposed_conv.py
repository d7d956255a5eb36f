"""The fast transposed conv against a naive numpy scatter and against autodiff."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import linen as nn

from vampjax.transposed_conv import ConvTranspose2x, conv_transpose, conv_transpose_reference


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


def test_gradients_match_autodiff(inputs):
  x, kernel = inputs
  target = jax.random.normal(jax.random.key(1), (2, 8, 10, 6))

  def loss(fn):
    return lambda a, b: jnp.sum(jnp.tanh(fn(a, b)) * target)

  fast = jax.grad(loss(conv_transpose), argnums=(0, 1))(x, kernel)
  reference = jax.grad(loss(conv_transpose_reference), argnums=(0, 1))(x, kernel)
  for got, want in zip(fast, reference):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=2e-5)


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
