"""Where a reproduction stands, read from its workdirs: for each row and seed, the steps
trained, the best validation −ELBO so far, and whether its evaluation is done, kept in part
by an interrupted one, or not started. Reads files only: trains, evaluates and writes
nothing (`python -m experiments.reproduce ... --status`)."""

from __future__ import annotations

import argparse
import os

from experiments import budgets as budgets_lib
from experiments import records
from experiments import seeds as seeds_lib
from experiments.run import (RunPlan, ended_early, has_run, planned_rows, scored_checkpoint,
                             steps_per_epoch, table_rows, train_log)
from experiments.run_eval import cached_evaluation, kept_batches
from experiments.tables import Row, Table
from vampjax import figures, run_lock
from vampjax.state import latest_step
from vampjax.workdir import METRICS_FILE


# Where a run can stand, in the order the closing count names them.
CATEGORIES = ("evaluated", "from records", "training now", "to resume", "to evaluate",
              "not started")


def _epochs(epochs: float) -> str:
  """Whole epochs as integers, a run stopped within one to a tenth."""
  return f"{epochs:g}" if epochs == int(epochs) else f"{epochs:.1f}"


def best_validation(workdir: str) -> dict[str, float] | None:
  """The logged validation line of the lowest loss, if any."""
  path = os.path.join(workdir, METRICS_FILE)
  lines = figures.read_metrics(path).get("validation", []) if os.path.exists(path) else []
  return min(lines, key=lambda line: line["loss"]) if lines else None


def evaluation_state(plan: RunPlan, row: Row) -> tuple[str, str]:
  """('done: test NLL …', 'evaluated') when the checkpoint the report scores is evaluated,
  else how far its evaluation got."""
  chosen = scored_checkpoint(plan, row)
  metrics = cached_evaluation(plan, chosen.step, chosen.which == "best")
  if metrics is not None:
    nll = metrics.get("is_nll_nats")
    return (f"done: test NLL {nll:.2f}" if nll is not None else "done"), "evaluated"
  kept = kept_batches(plan, chosen.step)
  return (f"started: {kept} batches kept" if kept else "not started"), "to evaluate"


def absent_run(records_dir: str | None, key: str, seed: int, plan: RunPlan
               ) -> tuple[str, str]:
  """The line's end for a row whose run is absent: not started, or (with `--reuse-records`)
  what its record holds; and its category."""
  if records_dir is not None:
    try:
      record = records.read(records_dir, key, seed, plan.config)
    except records.RecordError as error:
      return f"| not started | — | its record is refused: {error} |", "not started"
    if record is not None:
      nll = record["metrics"].get("is_nll_nats")
      return ("| its run is not on this machine | — | from its record"
              + (f": test NLL {nll:.2f} |" if nll is not None else " |")), "from records"
  return "| not started | — | — |", "not started"


def run_line(plan: RunPlan, row: Row, records_dir: str | None) -> tuple[str, str]:
  """One row and seed's line of the status table, and its category."""
  seed = seeds_lib.seed_of(row)
  head = f"| {row.label} | {seed} "
  if not has_run(plan.workdir):
    end, category = absent_run(records_dir, row.key, seed, plan)
    return head + end, category
  per_epoch = steps_per_epoch(plan.train_size, plan.config.batch_size)
  step = latest_step(plan.workdir) or 0
  stopped = ended_early(train_log(plan), step)
  trained = (f"{_epochs(step / per_epoch)} of {_epochs(plan.total_steps / per_epoch)} epochs"
             + (" (early stop)" if stopped else ""))
  best = best_validation(plan.workdir)
  best_text = ("—" if best is None
               else f"{best['loss']:.2f} (epoch {_epochs(best['step'] / per_epoch)})")
  if stopped or step >= plan.eval_steps[row.key]:
    state, category = evaluation_state(plan, row)
  elif training := run_lock.holder(plan.workdir):
    state, category = f"training now ({training})", "training now"
  else:
    state, category = "training stopped: resume it", "to resume"
  return head + f"| {trained} | {best_text} | {state} |", category


def status_lines(table: Table, budget: budgets_lib.Budget, args: argparse.Namespace,
                 records_dir: str | None) -> list[str]:
  """The status table of every row and seed `experiments.reproduce` would run."""
  rows = table_rows(table, budget, args)
  lines = {}
  for plan, row in planned_rows(table, rows, budget, args):
    lines[row.key, seeds_lib.seed_of(row)] = run_line(plan, row, records_dir)
  ordered = [lines[row.key, seeds_lib.seed_of(row)] for row in rows]
  counts = [sum(category == name for _, category in ordered) for name in CATEGORIES]
  return [f"table {table.number}, budget {budget.name}, runs under {args.workdir_root}:", "",
          "| row | seed | trained | best validation −ELBO | evaluation |",
          "|---|---|---|---|---|", *(line for line, _ in ordered), "",
          f"{len(ordered)} runs: "
          + ", ".join(f"{n} {name}" for name, n in zip(CATEGORIES, counts)) + "."]
