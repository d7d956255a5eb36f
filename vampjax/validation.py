"""The training loop's validation pass after every epoch, early stopping and the best checkpoint.

Sources with a validation split (mnist_binary) get the −ELBO at β = 1 of that split after
each epoch, logged as a `validation` line of metrics.jsonl and folded into the early-stopping
state (vampjax/early_stopping.py). On resume the state is replayed from those lines, so it
needs no storage of its own. The best step's state goes to `<workdir>/checkpoints_best` once
its regular checkpoint is complete, so a run never resumes from before its best step.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import ml_collections
import orbax.checkpoint as ocp

from vampjax import checkpointing, early_stopping, epochs
from vampjax import workdir as workdir_lib
from vampjax.data import Dataset
from vampjax.metric_writers import MetricsWriter
from vampjax.metrics import masked_eval
from vampjax.vae import VAE


class Validator:
  """Validates every epoch (`due`), keeps the early-stopping state and saves the best state."""

  def __init__(self, config: ml_collections.ConfigDict, workdir: str, dataset: Dataset,
               state: Any, mngr: ocp.CheckpointManager, eval_rng: jax.Array):
    """`state`: the one the run starts (or resumes) from, the latest in `mngr`."""
    start = int(state.step)
    self.images = dataset.validation
    self.every = (0 if self.images is None
                  else epochs.steps_per_epoch(config, len(dataset.train)))
    self.patience = config.early_stopping.patience_epochs
    self.warmup_steps = config.kl_warmup_steps
    self.rng = jax.random.fold_in(eval_rng, 1)  # not the test split's fold_in(eval_rng, step)
    # Every process replays the same file; lines after `start` are being cut by the writer.
    history = early_stopping.history_from_metrics(
        os.path.join(workdir, workdir_lib.METRICS_FILE), self.warmup_steps)
    self.state = early_stopping.replay([v for v in history if v.step <= start], self.patience)
    self.best_mngr = (None if self.images is None
                      else checkpointing.manager(workdir, best=True))
    if (self.best_mngr is not None and self.state.best_step == start
        and self.best_mngr.latest_step() != start):
      self.save_best(start, state, mngr)  # a kill interrupted it: the run resumes at the best

  def due(self, step: int) -> bool:
    return self.every > 0 and step % self.every == 0

  def validate(self, step: int, model: VAE, params: Any, config: ml_collections.ConfigDict,
               mesh: jax.sharding.Mesh, eval_step: Any,
               writers: list[MetricsWriter]) -> tuple[bool, bool]:
    """Evaluates the validation split, logs it and updates the early-stopping state;
    returns whether `step` is the best so far, and whether to stop."""
    results = masked_eval.loss_means(model, params, self.images, config,
                                     jax.random.fold_in(self.rng, step), 1.0, mesh, eval_step)
    for writer in writers:
      writer.write(step, early_stopping.VALIDATION_SPLIT, results)
    self.state = early_stopping.update(
        self.state,
        early_stopping.Validation(step, results["loss"], step >= self.warmup_steps),
        self.patience)
    return self.state.best_step == step, self.state.stop

  def best_text(self) -> str:
    return (f"the best validation −ELBO {self.state.best_loss:.3f} was at step "
            f"{self.state.best_step}")

  def save_best(self, step: int, state: Any, mngr: ocp.CheckpointManager) -> None:
    """Saves `state` as the best once the regular checkpoint of `step` is complete; waits."""
    checkpointing.finish(mngr)
    checkpointing.save(self.best_mngr, step, state, {"loss": self.state.best_loss})
    checkpointing.finish(self.best_mngr)
