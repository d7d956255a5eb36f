"""Early stopping on the validation −ELBO at β = 1, the VampPrior paper's rule.

The original code (jmtomczak/vae_vampprior, utils/perform_experiment.py) validates after
every epoch: a lower loss than the best so far saves the model and resets a counter;
otherwise the counter grows, is reset while the KL warm-up lasts, and training stops once
it exceeds the patience (`e > early_stopping_epochs`: patience + 1 epochs in a row without
improvement after warm-up). The best model is the one evaluated.

The state is a pure fold over the validation history, so it needs no storage of its own:
on resume it is replayed from the validation lines of metrics.jsonl, which the writer
truncates to the checkpoint's step, and comes out exactly as it was at that step. The best
state goes to `<workdir>/checkpoints_best` (checkpointing.manager(best=True)) only once the
regular checkpoint of the same step is complete, so the best step is never later than the
step a run resumes from, and the replayed history always agrees with it.
"""

from __future__ import annotations

import json
import math
import os
from typing import Iterable, NamedTuple

VALIDATION_SPLIT = "validation"  # the `split` of validation lines in metrics.jsonl


class Validation(NamedTuple):
  """One validation pass: its step, the mean −ELBO (β = 1), and whether warm-up is over."""

  step: int
  loss: float
  warmup_over: bool


class State(NamedTuple):
  best_step: int | None = None
  best_loss: float = math.inf
  epochs_without_improvement: int = 0  # counted only after warm-up
  stop: bool = False


def update(state: State, validation: Validation, patience: int) -> State:
  """The state after one more validation; patience 0 never stops (except on NaN/inf, as the
  original stops on a NaN validation loss)."""
  if not math.isfinite(validation.loss):
    return state._replace(stop=True)
  if validation.loss < state.best_loss:
    return State(validation.step, validation.loss)
  waited = state.epochs_without_improvement + 1 if validation.warmup_over else 0
  return state._replace(epochs_without_improvement=waited,
                        stop=patience > 0 and waited > patience)


def replay(history: Iterable[Validation], patience: int) -> State:
  """The state after a whole validation history, in step order."""
  state = State()
  for validation in history:
    state = update(state, validation, patience)
  return state


def history_from_metrics(path: str, warmup_steps: int) -> list[Validation]:
  """The validation passes logged in a metrics.jsonl (none if the file does not exist yet).

  `loss` of a validation line is the −ELBO at β = 1; warm-up is over from the step where β
  reaches its target, as in the original (epoch ≥ warm-up epochs).
  """
  if not os.path.exists(path):
    return []
  with open(path) as f:
    records = [json.loads(line) for line in f if line.strip()]
  return [Validation(r["step"], r["loss"], r["step"] >= warmup_steps)
          for r in records if r["split"] == VALIDATION_SPLIT]
