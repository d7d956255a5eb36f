"""The paper's configs: the recipe, a model of the paper's sizes, two training steps, and
prior samples in [0, 1]."""

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vampjax import config_validation, modes, state as state_lib, train
from vampjax.models import build_model

PAPER = ("vae_standard", "vae_vamp")


def paper_config(name):
  return importlib.import_module(f"configs.paper.{name}").get_config()


@pytest.mark.parametrize("name", PAPER)
def test_recipe_and_model_sizes(name):
  config = paper_config(name)
  config_validation.validate(config)
  assert (config.data.name, config.data.image_size, config.likelihood) == (
      "mnist_binary", 28, "bernoulli")
  assert (config.learning_rate, config.batch_size, config.kl_warmup_epochs,
          config.early_stopping.patience_epochs) == (5e-4, 100, 100, 50)
  assert (config.pseudo_init, config.pseudo_init_mean, config.pseudo_init_std) == (
      "random", 0.05, 0.01)
  assert config.eval.is_samples == 5000 and config.eval.num_examples == -1
  x, noise = jnp.zeros((2, 28, 28, 1)), jnp.zeros((1, 2, 40))
  terms, params = jax.eval_shape(build_model(config).init_with_output, jax.random.key(0),
                                 x, noise)
  assert terms.log_px_z.shape == terms.log_qz_x.shape == terms.log_pz.shape == (1, 2)
  num_params = sum(p.size for p in jax.tree.leaves(params))
  # Two gated layers are two dense layers each: 784-300-300-(40+40) and 40-300-300-784.
  networks = 2 * (785 * 300 + 301 * 300) + 2 * 301 * 40 + 2 * (41 * 300 + 301 * 300) + 301 * 784
  assert num_params == networks + (500 * 784 if config.prior == "vamp" else 0)


@pytest.mark.parametrize("name", PAPER)
def test_trains_two_steps_and_samples(name, tmp_path):
  config = paper_config(name)
  config.mlp_hidden, config.latent_dim, config.num_components = (16, 16), 4, 10
  config.batch_size, config.num_train_steps, config.log_every_steps = 10, 2, 1
  config.eval_every_steps = config.checkpoint_every_steps = 2
  config.num_eval_examples, config.num_samples = 20, 6
  workdir = str(tmp_path)
  state = train.train_and_evaluate(config, workdir)
  assert int(state.step) == 2
  model, state = state_lib.restore_model(config, workdir)
  images = np.asarray(model.apply({"params": state.params}, jax.random.key(0), 64,
                                  method="sample"))
  assert images.shape == (64, 28, 28, 1) and np.all(np.isfinite(images))
  assert images.min() >= 0 and images.max() <= 1
  assert modes.run_sample(config, workdir).endswith("samples.png")


@pytest.mark.parametrize("name", ["hvae_vamp", "convhvae_standard"])
def test_two_level_configs_train_evaluate_and_sample(name, tmp_path):
  """Part 2's models through the same loop, evaluation and sampling as every model."""
  config = paper_config(name)
  config.latent_dim, config.num_components, config.batch_size = 4, 10, 10
  config.num_train_steps = config.eval_every_steps = config.checkpoint_every_steps = 2
  config.num_eval_examples, config.num_samples = 20, 6
  config.eval.num_examples, config.eval.is_samples, config.eval.is_chunk = 20, 10, 5
  workdir = str(tmp_path)
  assert int(train.train_and_evaluate(config, workdir).step) == 2
  results = modes.run_eval(config, workdir)
  assert results["active_units"] == results["active_units_z1"] + results["active_units_z2"]
  assert results["latent_dim"] == 8 and len(results["posterior_mean_variance"]) == 8
  assert np.isfinite(results["is_nll_nats"]) and results["is_nll_nats"] > 0
  assert results["is_nll_nats"] <= results["neg_elbo_nats"] + 1.0  # IS ≤ −ELBO (noisy at S=10)
  assert modes.run_sample(config, workdir).endswith("samples.png")
