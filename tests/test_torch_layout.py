"""benchmarks/torch_layout.py: vampjax's layers, with their parameters in PyTorch's layouts,
compute what PyTorch's layers compute by their documented definitions (written here in
numpy), so the side-by-side benchmark times the same networks."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from benchmarks import torch_layout
from tests.conftest import tiny_config
from vampjax import fast_convs
from vampjax.state import create_train_state
from vampjax.models import build_model


def conv2d(x: np.ndarray, weight: np.ndarray, stride: int, padding: int) -> np.ndarray:
  """PyTorch's Conv2d: out[n, o, i, j] = Σ_{c,a,b} x_pad[n, c, s·i + a, s·j + b] w[o, c, a, b]."""
  kh, kw = weight.shape[2:]
  x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
  rows = (x.shape[2] - kh) // stride + 1
  cols = (x.shape[3] - kw) // stride + 1
  out = 0
  for a in range(kh):
    for b in range(kw):
      window = x[:, :, a:a + stride * rows:stride, b:b + stride * cols:stride]
      out = out + np.einsum("nchw,oc->nohw", window, weight[:, :, a, b])
  return out


def conv_transpose2d(x: np.ndarray, weight: np.ndarray) -> np.ndarray:
  """PyTorch's ConvTranspose2d(4, stride 2, padding 1): x[n, c, i, j] w[c, o, a, b] is added
  at output pixel (2i + a − 1, 2j + b − 1), kept where inside the 2H × 2W output."""
  n, _, h, w = x.shape
  out = np.zeros((n, weight.shape[1], 2 * h + 2, 2 * w + 2))
  for a in range(4):
    for b in range(4):
      out[:, :, a:a + 2 * h:2, b:b + 2 * w:2] += np.einsum("nchw,co->nohw", x, weight[:, :, a, b])
  return out[:, :, 1:-1, 1:-1]


def nchw(x: jax.Array) -> np.ndarray:
  return torch_layout.images(np.asarray(x, np.float64))


@pytest.fixture
def rng():
  return np.random.default_rng(0)


@pytest.mark.parametrize("kernel_size,stride,conv", [(4, 2, fast_convs.strided_conv),
                                                     (3, 1, fast_convs.same_conv)])
def test_conv_kernel_gives_pytorch_conv(rng, kernel_size, stride, conv):
  u = rng.standard_normal((2, 8, 8, 3)).astype(np.float32)
  kernel = rng.standard_normal((kernel_size, kernel_size, 3, 5)).astype(np.float32)
  expected = conv2d(torch_layout.images(u), torch_layout.conv_kernel(kernel), stride, 1)
  np.testing.assert_allclose(nchw(conv(u, kernel)), expected, rtol=1e-4, atol=1e-4)


def test_transposed_conv_kernel_gives_pytorch_conv_transpose(rng):
  x = rng.standard_normal((2, 4, 4, 6)).astype(np.float32)
  kernel = rng.standard_normal((4, 4, 5, 6)).astype(np.float32)  # a (6 -> 5) up-conv
  expected = conv_transpose2d(torch_layout.images(x), torch_layout.conv_kernel(kernel))
  np.testing.assert_allclose(nchw(fast_convs.conv_transpose(x, kernel)), expected,
                             rtol=1e-4, atol=1e-4)


def test_dense_layers_next_to_a_flatten_see_the_same_features(rng):
  shape = (2, 3, 4)  # (H, W, C)
  feature_map = rng.standard_normal((5, *shape))
  kernel, bias = rng.standard_normal((24, 7)), rng.standard_normal(7)
  # Encoder head: flatten as (h, w, c) @ kernel == flatten as (c, h, w) @ weightᵀ.
  weight = torch_layout.dense_from_map(kernel, shape)
  np.testing.assert_allclose(feature_map.reshape(5, -1) @ kernel,
                             feature_map.transpose(0, 3, 1, 2).reshape(5, -1) @ weight.T)
  # Decoder input: z @ kernel + bias viewed as (H, W, C) == z @ weightᵀ + bias as (C, H, W).
  z, kernel, bias = rng.standard_normal((5, 7)), rng.standard_normal((7, 24)), rng.standard_normal(24)
  weight, torch_bias = torch_layout.dense_to_map(kernel, bias, shape)
  np.testing.assert_allclose((z @ kernel + bias).reshape(5, *shape).transpose(0, 3, 1, 2),
                             (z @ weight.T + torch_bias).reshape(5, 4, 2, 3))


def linear(x: np.ndarray, weights: dict[str, np.ndarray], name: str) -> np.ndarray:
  """PyTorch's Linear `name`: x @ Wᵀ + b."""
  return x @ weights[f"{name}.weight"].T + weights[f"{name}.bias"]


def gated_dense(x: np.ndarray, weights: dict[str, np.ndarray], prefix: str) -> np.ndarray:
  """`prefix`'s GatedDense_0, GatedDense_1, ... in turn, each Linear h(x) ⊙ σ(Linear g(x))."""
  i = 0
  while f"{prefix}.GatedDense_{i}.h.weight" in weights:
    name = f"{prefix}.GatedDense_{i}"
    x = linear(x, weights, f"{name}.h") / (1.0 + np.exp(-linear(x, weights, f"{name}.g")))
    i += 1
  return x


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("architecture,head", [("gated_mlp", "encoder.mu"),
                                               ("hvae_mlp", "encoder.GaussianHead_0.mu")])
def test_mlp_encoder_weights_give_the_same_mu(rng, channels, architecture, head):
  """The MLP models' dense kernels are only transposed: torch_vae flattens NCHW pixels in
  vampjax's (h, w, c) order (torch_vae.flat_pixels), so no map is reordered."""
  config = tiny_config(architecture=architecture, mlp_hidden=(6, 5), **{"data.channels": channels})
  model = build_model(config)
  x = rng.uniform(size=(3, 32, 32, channels)).astype(np.float32)
  params = model.init(jax.random.key(0), x, np.zeros((1, 3, model.noise_dim), np.float32))
  weights = {name: np.asarray(value, np.float64) for name, value in
             torch_layout.state_dict(params["params"], None).items()}
  pixels = torch_layout.images(x.astype(np.float64))  # what the PyTorch model is given
  h = gated_dense(pixels.transpose(0, 2, 3, 1).reshape(3, -1), weights, "encoder")
  mu, _ = model.apply(params, x, method=model.encode)
  np.testing.assert_allclose(linear(h, weights, head), mu, rtol=1e-4, atol=1e-5)


MLP = {"decoder_bias_init": "zero", "likelihood": "bernoulli", "mlp_hidden": (6, 5)}


@pytest.mark.parametrize("overrides", [{}, {"architecture": "resnet"}, {"pseudo_param": "pixels"},
                                       {"pseudo_param": "pixels", "train_pseudo_inputs": False},
                                       {"prior": "standard", "likelihood": "bernoulli"},
                                       {"architecture": "gated_mlp", **MLP},
                                       {"architecture": "hvae_mlp", "kl_samples": 2, **MLP},
                                       {"architecture": "hvae_conv", "kl_samples": 2, **MLP}])
def test_pytorch_model_on_copied_weights_gives_the_same_loss(overrides):
  pytest.importorskip("torch")  # CI installs it (.ci/run); the tests above need none
  from benchmarks import vs_pytorch  # pylint: disable=import-outside-toplevel
  config = tiny_config(pseudo_init="random", **overrides)
  model = build_model(config)
  images = np.random.default_rng(0).integers(0, 256, (16, 32, 32, 1), dtype=np.uint8)
  state = create_train_state(config, model, jax.random.key(0), images)  # output bias ≠ 0
  params = state.params
  if config.pseudo_param == "pixels":  # some outside [0, 1]: the clip and its straight-through
    pixels = params["vamp_prior"]["pseudo_pixels"]  # gradient there
    params = {**params, "vamp_prior": {"pseudo_pixels": jax.random.uniform(
        jax.random.key(3), pixels.shape, minval=-0.5, maxval=1.5)}}
  batch = jax.random.uniform(jax.random.key(1), (config.batch_size, 32, 32, 1))
  for name, r in vs_pytorch.compare(config, model, params, batch,
                                    jax.random.key(2)).items():
    assert r["relative_difference"] < 1e-4, (name, r)
