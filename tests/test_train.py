"""Training on real MNIST: the loss falls, checkpoints round-trip, runs resume exactly."""

import json
import os

import jax
import numpy as np
import pytest
from PIL import Image

from configs import mnist_quickstart
from tests.conftest import tiny_config
from vampjax import checkpointing, modes, train
from vampjax.state import create_train_state, restore_model
from vampjax.models import build_model


def read_metrics(workdir, split="train"):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [r for r in map(json.loads, f) if r["split"] == split]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """A 4-step VampPrior run, checkpointed at steps 2 and 4."""
  workdir = str(tmp_path_factory.mktemp("run"))
  config = tiny_config()
  state = train.train_and_evaluate(config, workdir)
  return config, workdir, state


def test_run_writes_metrics_and_checkpoints(trained):
  config, workdir, state = trained
  assert int(state.step) == 4
  records = read_metrics(workdir)
  assert [r["step"] for r in records] == [2, 4]
  for key in ("loss", "reconstruction", "kl", "kl_share", "beta", "images_per_sec"):
    assert np.isfinite(records[-1][key])
  np.testing.assert_allclose(records[-1]["kl_share"],
                             records[-1]["kl"] / records[-1]["loss"], rtol=1e-5)
  (test,) = read_metrics(workdir, "test")
  assert test["num_examples"] == config.num_eval_examples
  assert checkpointing.manager(workdir).all_steps() == [2, 4]


def test_checkpoint_restores_identical_parameters_and_optimizer_state(trained):
  config, workdir, state = trained
  _, restored = restore_model(config, workdir)
  assert int(restored.step) == 4
  for tree in ("params", "opt_state"):
    for got, want in zip(jax.tree.leaves(getattr(restored, tree)),
                         jax.tree.leaves(getattr(state, tree))):
      np.testing.assert_array_equal(got, want)


def test_resume_continues_and_matches_an_uninterrupted_run(trained, tmp_path):
  config, workdir, _ = trained
  # Stop a second run at step 2 (its checkpoint), then ask for 4 steps: it resumes.
  interrupted = str(tmp_path / "interrupted")
  train.train_and_evaluate(tiny_config(num_train_steps=2), interrupted)
  resumed = train.train_and_evaluate(config, interrupted)
  assert [r["step"] for r in read_metrics(interrupted)] == [2, 4]
  _, straight = restore_model(config, workdir)
  for got, want in zip(jax.tree.leaves(resumed.params), jax.tree.leaves(straight.params)):
    np.testing.assert_array_equal(got, want)


def test_sample_mode_writes_a_png_grid(trained):
  config, workdir, _ = trained
  path = modes.run_sample(config, workdir)
  with Image.open(path) as image:
    # 4 samples of 32×32 tile a 2×2 grid with 2-pixel padding: 2·(32+2)+2 = 70.
    assert image.size == (70, 70)


def test_a_short_quickstart_run_on_mnist_learns_a_code(tmp_path):
  """configs/mnist_quickstart.py at a tenth of its steps and K (batch 50): the loss falls and
  the test KL passes 1 nat (the study's literal objective stays at KL ≈ 0 at such budgets)."""
  config = mnist_quickstart.get_config()
  config.num_components, config.batch_size, config.num_train_steps = 50, 50, 100
  config.log_every_steps, config.eval_every_steps, config.checkpoint_every_steps = 1, 100, 0
  config.num_eval_examples = 500
  train.train_and_evaluate(config, str(tmp_path))
  losses = [r["loss"] for r in read_metrics(str(tmp_path))]
  assert np.mean(losses[-10:]) < 0.8 * np.mean(losses[:10])
  (test,) = read_metrics(str(tmp_path), "test")
  assert test["kl"] > 1.0


def test_data_init_pseudo_inputs_are_training_images(tiny):
  config = tiny()
  images = np.random.default_rng(0).integers(0, 256, (20, 32, 32, 1), dtype=np.uint8)
  state = create_train_state(config, build_model(config), jax.random.key(0), images)
  pseudo = jax.nn.sigmoid(state.params["vamp_prior"]["pseudo_logits"])
  distance = np.abs(np.asarray(pseudo)[:, None] - images[None] / 255.0).mean(axis=(2, 3, 4))
  assert np.all(distance.min(axis=1) < 0.02)


def test_output_bias_init_decodes_any_input_to_the_training_mean_image(tiny):
  """decoder_bias_init='data_mean': at step 0 the reconstruction of any input is the
  training mean image, pixels that are always 0 or always 1 included."""
  config = tiny(pseudo_init="random")
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (50, 32, 32, 1), dtype=np.uint8)
  images[:, :4], images[:, -4:] = 0, 255
  model = build_model(config)
  state = create_train_state(config, model, jax.random.key(0), images)
  inputs = rng.uniform(size=(8, 32, 32, 1)).astype(np.float32)
  means = model.apply({"params": state.params}, inputs, method="reconstruct")
  mean = images.mean(axis=0) / 255.0
  np.testing.assert_allclose(means, np.broadcast_to(mean, inputs.shape),
                             atol=0.01)
  with pytest.raises(ValueError, match="decoder_bias_init='data_mean' needs the training"):
    create_train_state(config, model, jax.random.key(0))
