"""The training loop's validation and early stopping on a small mnist_binary subset: one
validation line per epoch at β = 1, the original's stopping rule on a scripted curve, the
same stop after a kill and resume, and the best checkpoint used by --mode=eval."""

import json
import os

import jax
import numpy as np
import pytest

import vampjax
from vampjax import checkpointing, data, modes, train
from vampjax import state as state_lib
from vampjax.metrics import masked_eval
from tests.test_configs_paper import paper_config

STEPS_PER_EPOCH = 10  # 200 training images, batches of 20


@pytest.fixture(scope="module")
def subset():
  config = small_config()
  full = data.get_dataset(config)
  return data.Dataset("mnist_binary", full.train[:200], full.test[:40],
                      validation=full.validation[:50])


def small_config(**overrides):
  config = paper_config("vae_vamp")
  config.mlp_hidden, config.latent_dim, config.num_components = (16, 16), 4, 10
  config.batch_size, config.log_every_steps = 20, 5
  config.eval_every_steps, config.checkpoint_every_steps = 0, 1000  # both at the last step only
  config.num_eval_examples, config.num_samples = 20, 4
  config.eval.num_examples, config.eval.is_samples, config.eval.is_chunk = 20, 4, 2
  config.kl_warmup_epochs, config.early_stopping.patience_epochs = 3, 1
  config.update_from_flattened_dict(overrides)
  return config


def read_metrics(workdir, split):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [r for r in map(json.loads, f) if r["split"] == split]


def test_validation_each_epoch_at_beta_one_and_eval_uses_the_best(subset, tmp_path):
  config = small_config(num_train_steps=4 * STEPS_PER_EPOCH)
  config.early_stopping.patience_epochs = 0  # never stops: four epochs
  workdir = str(tmp_path)
  train.train_and_evaluate(config, workdir, dataset=subset)
  validations = read_metrics(workdir, "validation")
  assert [r["step"] for r in validations] == [10, 20, 30, 40]
  for r in validations:
    assert r["num_examples"] == len(subset.validation)
    np.testing.assert_allclose(r["loss"], r["reconstruction"] + r["kl"], rtol=1e-5)
  # config.json keeps the epoch key; β grows over 3 epochs of 10 steps (step s trains with
  # the β of the s − 1 steps done before it).
  with open(os.path.join(workdir, "config.json")) as f:
    saved = json.load(f)
  assert (saved["kl_warmup_epochs"], saved["kl_warmup_steps"]) == (3, 0)
  np.testing.assert_allclose([r["beta"] for r in read_metrics(workdir, "train")],
                             [min(1.0, (step - 1) / 30) for step in range(5, 41, 5)], rtol=1e-6)
  best = min(validations, key=lambda r: r["loss"])["step"]
  assert checkpointing.manager(workdir, best=True).all_steps() == [best]
  assert best in checkpointing.manager(workdir).all_steps()  # the regular one, for resume
  results = modes.run_eval(config, workdir)
  assert (results["checkpoint"], results["checkpoint_step"]) == ("best", best)


# Epochs 2 and 3 do not improve but warm-up (3 epochs) holds the counter at epoch 2;
# epoch 4 is the best, and epochs 5 and 6 are more than patience 1 without improvement.
LOSS_MEANS = masked_eval.loss_means
CURVE = [5.0, 6.0, 7.0, 4.0, 4.5, 4.6, 3.0, 2.0]


def scripted(monkeypatch, subset, losses):
  """Makes the validation loss follow `losses`, one value per validation pass."""
  losses = iter(losses)

  def loss_means(model, params, images, *args):
    results = LOSS_MEANS(model, params, images, *args)
    if images is subset.validation:
      results["loss"] = next(losses)
    return results

  monkeypatch.setattr(masked_eval, "loss_means", loss_means)


def test_early_stopping_and_its_state_survive_a_resume(subset, tmp_path, monkeypatch, capsys):
  straight, interrupted = str(tmp_path / "straight"), str(tmp_path / "interrupted")
  config = small_config(num_train_steps=8 * STEPS_PER_EPOCH)
  scripted(monkeypatch, subset, CURVE)
  state = train.train_and_evaluate(config, straight, dataset=subset)
  assert int(state.step) == 60
  assert "the best validation −ELBO 4.000 was at step 40" in "".join(capsys.readouterr())
  assert [r["loss"] for r in read_metrics(straight, "validation")] == CURVE[:6]
  assert checkpointing.manager(straight, best=True).all_steps() == [40]
  assert checkpointing.manager(straight).latest_step() == 60
  _, best, which = modes._restore(config, straight)  # pylint: disable=protected-access
  assert (which, int(best.step)) == ("best", 40)
  # The API loads what eval scores: the best checkpoint, not the latest; or the step asked.
  loaded = vampjax.load_run(straight)
  assert (loaded.step, loaded.which) == (40, "best")
  for got, want in zip(jax.tree.leaves(loaded.params), jax.tree.leaves(best.params)):
    np.testing.assert_array_equal(got, want)
  chosen = vampjax.load_run(straight, step=60)
  assert (chosen.step, chosen.which) == (60, "chosen")
  assert state_lib.choose_checkpoint(straight) == (40, "best")

  # Killed after epoch 5 (its last checkpoint), then resumed: the counter is replayed.
  scripted(monkeypatch, subset, CURVE[:5])
  train.train_and_evaluate(small_config(num_train_steps=50), interrupted, dataset=subset)
  scripted(monkeypatch, subset, CURVE[5:])
  resumed = train.train_and_evaluate(config, interrupted, dataset=subset)
  assert int(resumed.step) == 60
  assert read_metrics(interrupted, "validation") == read_metrics(straight, "validation")
  for got, want in zip(jax.tree.leaves(resumed.params), jax.tree.leaves(state.params)):
    np.testing.assert_array_equal(got, want)
  # Run again after the stop: nothing more is trained or validated.
  scripted(monkeypatch, subset, [])
  capsys.readouterr()
  assert int(train.train_and_evaluate(config, interrupted, dataset=subset).step) == 60
  assert (f"{interrupted} is complete: early stopping ended it at step 60 (the best validation "
          "−ELBO 4.000 was at step 40); nothing to do.") in capsys.readouterr().out
