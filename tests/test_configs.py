"""Every experiment config loads and builds a model of the study's shape."""

import glob
import importlib
import os

import jax
import jax.numpy as jnp
import pytest

from tests.conftest import ROOT
from vampjax.models import build_model

CONFIGS = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(ROOT, "configs", "*.py"))
                 if not p.endswith("__init__.py"))
STUDY = {  # name: (image size, channels, latent, prior, K, architecture, lr, warm-up > 0)
    "mnist_vae": (32, 1, 40, "standard", None, "conv", None, False),
    "mnist_vamp": (32, 1, 40, "vamp", 500, "conv", None, False),
    "celeba_vae_conv": (64, 3, 256, "standard", None, "conv", 1e-4, False),
    "celeba_vamp_conv": (64, 3, 256, "vamp", 1000, "conv", 1e-4, False),
    "celeba_vamp_conv_anneal": (64, 3, 256, "vamp", 1000, "conv", 1e-4, True),
    "celeba_vae_resnet": (64, 3, 256, "standard", None, "resnet", 1e-4, False),
    "celeba_vamp_resnet": (64, 3, 256, "vamp", 1000, "resnet", 1e-4, True),
}


def test_every_study_row_has_a_config():
  assert set(STUDY) <= set(CONFIGS)


@pytest.mark.parametrize("name", CONFIGS)
def test_config_loads_and_builds_its_model(name):
  config = importlib.import_module(f"configs.{name}").get_config()
  model = build_model(config)
  size = config.data.image_size
  x = jnp.zeros((2, size, size, config.data.channels))
  noise = jnp.zeros((1, 2, config.latent_dim))
  terms, params = jax.eval_shape(model.init_with_output, jax.random.key(0), x, noise)
  assert terms.log_px_z.shape == terms.log_qz_x.shape == terms.log_pz.shape == (1, 2)
  apply = lambda method, *args: jax.eval_shape(
      lambda p: model.apply(p, *args, method=method), params)
  assert apply("reconstruct", x).shape == x.shape
  assert apply("posterior_means", x)["z"].shape == (2, config.latent_dim)
  if name in STUDY:
    image, channels, latent, prior, k, arch, lr, anneal = STUDY[name]
    assert (size, config.data.channels, config.latent_dim, config.prior) == (image, channels,
                                                                             latent, prior)
    assert config.architecture == arch and (config.kl_warmup_epochs > 0) == anneal
    if k is not None:
      assert apply("prior_components").mu.shape == (k, latent)
    if lr is not None:
      assert config.learning_rate == lr
