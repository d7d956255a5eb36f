"""The paper's gated layers against numpy, their init, and the one-level MLP's sizes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.signal import correlate

from vampjax.gated import GatedConv2d, GatedDense, MLPDecoder, MLPEncoder


def sigmoid(x):
  return 1.0 / (1.0 + np.exp(-x))


def test_gated_dense_matches_numpy():
  x = np.random.default_rng(0).normal(size=(5, 7)).astype(np.float32)
  layer = GatedDense(3)
  params = layer.init(jax.random.key(1), x)["params"]
  out = np.asarray(layer.apply({"params": params}, x))
  h = x @ np.asarray(params["h"]["kernel"]) + np.asarray(params["h"]["bias"])
  g = x @ np.asarray(params["g"]["kernel"]) + np.asarray(params["g"]["bias"])
  assert out.shape == (5, 3)
  np.testing.assert_allclose(out, h * sigmoid(g), rtol=1e-5, atol=1e-6)
  # The gate really gates: a very negative gate bias shuts the layer, a very positive one
  # lets the linear part through unchanged.
  for bias, expected in ((-1e4, 0.0 * h), (1e4, h)):
    gated = {**params, "g": {**params["g"], "bias": jnp.full(3, bias)}}
    np.testing.assert_allclose(layer.apply({"params": gated}, x), expected, atol=1e-5)


def test_gated_dense_init_is_the_originals():
  params = GatedDense(300).init(jax.random.key(0), jnp.zeros((1, 784)))["params"]
  for name in ("h", "g"):
    kernel, bias = np.asarray(params[name]["kernel"]), np.asarray(params[name]["bias"])
    assert kernel.shape == (784, 300) and bias.shape == (300,)
    # He normal, not truncated: std √(2/784) and tails beyond 2 std (~4.6 % of them).
    assert kernel.std() == pytest.approx(np.sqrt(2 / 784), rel=0.01)
    assert np.mean(np.abs(kernel) > 2 * np.sqrt(2 / 784)) == pytest.approx(0.0455, abs=0.003)
    assert np.abs(bias).max() <= 1 / np.sqrt(784) and bias.std() > 0.5 / np.sqrt(3 * 784)


def test_gated_conv_matches_numpy_and_the_originals_sizes():
  x = np.random.default_rng(0).normal(size=(2, 28, 28, 3)).astype(np.float32)
  layer = GatedConv2d(4, kernel_size=3, stride=2, padding=1)
  params = layer.init(jax.random.key(1), x)["params"]
  out = np.asarray(layer.apply({"params": params}, x))
  assert out.shape == (2, 14, 14, 4)  # the original's GatedConv2d(·, ·, 3, 2, 1): 28 -> 14

  def conv(name):  # cross-correlation of the zero-padded input, every 2nd position
    kernel, bias = np.asarray(params[name]["kernel"]), np.asarray(params[name]["bias"])
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    full = np.stack([np.stack([correlate(padded[n], kernel[..., o], mode="valid")[..., 0]
                               for o in range(4)], axis=-1) for n in range(2)])
    return full[:, ::2, ::2] + bias

  np.testing.assert_allclose(out, conv("h") * sigmoid(conv("g")), rtol=1e-4, atol=1e-5)
  bound = 1 / np.sqrt(3 * 3 * 3)  # PyTorch's default conv init, U(±1/√fan_in)
  assert np.abs(np.asarray(params["h"]["kernel"])).max() <= bound
  # The convHVAE's first layer, GatedConv2d(1, 32, 7, 1, 3), keeps 28×28.
  shape = jax.eval_shape(GatedConv2d(32, 7, 1, 3).init_with_output, jax.random.key(0),
                         jnp.zeros((1, 28, 28, 1)))[0].shape
  assert shape == (1, 28, 28, 32)


def test_mlp_vae_networks_have_the_papers_sizes():
  x = jnp.zeros((2, 28, 28, 1))
  (mu, logvar), params = MLPEncoder(40).init_with_output(jax.random.key(0), x)
  assert mu.shape == logvar.shape == (2, 40)
  params = params["params"]
  assert [params[f"GatedDense_{i}"]["h"]["kernel"].shape for i in range(2)] == [(784, 300),
                                                                               (300, 300)]
  assert params["mu"]["kernel"].shape == params["logvar"]["kernel"].shape == (300, 40)
  logits, params = MLPDecoder((28, 28, 1)).init_with_output(jax.random.key(0), mu)
  assert logits.shape == (2, 28, 28, 1)
  params = params["params"]
  assert [params[f"GatedDense_{i}"]["g"]["kernel"].shape for i in range(2)] == [(40, 300),
                                                                               (300, 300)]
  assert params["logits"]["kernel"].shape == (300, 784)



def test_mlp_encoder_logvar_stays_in_its_bounds():
  x = jnp.ones((3, 28, 28, 1))
  encoder = MLPEncoder(40, logvar_bounds=(-6.0, 2.0))
  params = jax.tree.map(lambda p: p * 100, encoder.init(jax.random.key(0), x)["params"])
  logvar = np.asarray(encoder.apply({"params": params}, x)[1])
  assert logvar.min() >= -6.0 and logvar.max() <= 2.0 and logvar.std() > 1.0
