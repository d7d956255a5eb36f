"""Early stopping: the original code's rule on synthetic validation curves, its exact replay
after a resume, and the best checkpoint kept beside the regular ones."""

import math
import os

import numpy as np
import pytest

from vampjax import checkpointing, early_stopping
from vampjax.early_stopping import Validation
from vampjax.train import MetricsWriter

STEPS_PER_EPOCH, WARMUP_EPOCHS, PATIENCE = 500, 100, 50


def original_rule(losses, warmup, patience):
  """utils/perform_experiment.py of jmtomczak/vae_vampprior, transcribed: (best epoch, last
  epoch run)."""
  best_loss, best_epoch, e = 100000., None, 0
  for epoch, loss in enumerate(losses, start=1):
    if loss < best_loss:
      e, best_loss, best_epoch = 0, loss, epoch
    else:
      e += 1
      if epoch < warmup:
        e = 0
      if e > patience:
        return best_epoch, epoch
    if math.isnan(loss):
      return best_epoch, epoch
  return best_epoch, len(losses)


def history(losses):
  return [Validation(epoch * STEPS_PER_EPOCH, float(loss),
                     epoch * STEPS_PER_EPOCH >= WARMUP_EPOCHS * STEPS_PER_EPOCH)
          for epoch, loss in enumerate(losses, start=1)]


def run(losses):
  """(best epoch, epoch at which it says stop, or the last one) under our module."""
  state = early_stopping.State()
  for validation in history(losses):
    state = early_stopping.update(state, validation, PATIENCE)
    if state.stop:
      break
  return state.best_step // STEPS_PER_EPOCH, validation.step // STEPS_PER_EPOCH


@pytest.mark.parametrize("minimum,best,stop", [(150, 150, 201), (30, 30, 150)])
def test_best_step_and_stopping_epoch(minimum, best, stop):
  # A U-shaped curve: after its minimum nothing improves. A minimum during warm-up waits
  # for warm-up to end (epoch 100) before the patience counts.
  losses = 90 + (np.arange(1, 401) - minimum) ** 2 / 1000
  assert run(losses) == (best, stop) == original_rule(losses, WARMUP_EPOCHS, PATIENCE)


def test_agrees_with_the_original_rule_on_noisy_curves():
  rng = np.random.default_rng(0)
  for _ in range(20):
    losses = 100 * np.exp(-np.arange(400) / rng.uniform(20, 200)) + rng.normal(0, 0.5, 400)
    losses += np.maximum(0, np.arange(400) - rng.integers(50, 350)) * rng.uniform(0, 0.05)
    assert run(losses) == original_rule(losses, WARMUP_EPOCHS, PATIENCE)


def test_nan_stops_and_zero_patience_never_does():
  state = early_stopping.replay(history([3.0, 2.0]), PATIENCE)
  assert early_stopping.update(state, Validation(1500, math.nan, False), PATIENCE).stop
  assert not early_stopping.replay(history([1.0] + [2.0] * 300), 0).stop


def test_replay_from_metrics_survives_a_resume(tmp_path):
  losses = 90 + (np.arange(1, 301) - 150) ** 2 / 1000
  warmup_steps = WARMUP_EPOCHS * STEPS_PER_EPOCH

  def log(writer, epochs):
    for epoch in epochs:
      step = epoch * STEPS_PER_EPOCH
      writer.write(step - 250, "train", {"loss": 123.0})
      writer.write(step, "validation", {"loss": losses[epoch - 1], "kl": 1.0})

  workdir = str(tmp_path)
  path = os.path.join(workdir, "metrics.jsonl")
  log(MetricsWriter(workdir, 0), range(1, 190))
  # Killed at epoch 189; the last checkpoint was at epoch 160, so the writer forgets the lines
  # after it and the state replays to what it was at epoch 160.
  log(MetricsWriter(workdir, 160 * STEPS_PER_EPOCH), range(161, 301))
  resumed = early_stopping.history_from_metrics(path, warmup_steps)
  assert resumed == history(losses)
  state = early_stopping.replay(resumed[:160], PATIENCE)
  assert state == early_stopping.replay(history(losses[:160]), PATIENCE)
  assert (state.best_step, state.epochs_without_improvement) == (150 * STEPS_PER_EPOCH, 10)
  assert early_stopping.history_from_metrics(str(tmp_path / "none.jsonl"), 0) == []


def test_best_checkpoint_keeps_the_lowest_loss(tmp_path):
  mngr = checkpointing.manager(str(tmp_path), best=True)
  for step, loss in ((500, 3.0), (1000, 1.0), (1500, 2.0)):
    checkpointing.save(mngr, step, {"w": np.full(3, step, np.float32)}, {"loss": loss})
    mngr.wait_until_finished()
  assert mngr.all_steps() == [1000] and mngr.best_step() == 1000
  mngr = checkpointing.manager(str(tmp_path), best=True)  # as a resumed run sees it
  restored = checkpointing.restore(mngr, {"w": np.zeros(3, np.float32)}, mngr.best_step())
  np.testing.assert_array_equal(restored["w"], 1000)
