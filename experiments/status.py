"""Where a reproduction stands, read from its workdirs: for each row and seed, the steps
trained, the best validation −ELBO so far, and whether its evaluation is done, kept in part
by an interrupted one, or not started. Reads files only: trains, evaluates and writes
nothing (`python -m experiments.reproduce ... --status`)."""

from __future__ import annotations

import argparse
import json
import os
import re

from experiments import budgets as budgets_lib
from experiments import records
from experiments import seeds as seeds_lib
from experiments.run import (TRAIN_LOG, RunPlan, has_run, planned_rows, steps_per_epoch,
                             table_rows)
from experiments.run_eval import cached_evaluation, kept_batches
from experiments.tables import Row, Table
from vampjax import jsonio, run_lock
from vampjax.state import choose_checkpoint, latest_step
from vampjax.workdir import METRICS_FILE


# The summary's counts: each line's last column says where its run stands.
SUMMARY = (("evaluated", r"\| done[:| ]"), ("from records", r"\| from its record"),
           ("training now", r"\| training now"), ("to resume", r"\| training stopped"),
           ("to evaluate", r"\| (not started|started: .*) \|$"),
           ("not started", r"^\| [^|]+ \| \d+ \| not started \|"))


def _epochs(epochs: float) -> str:
  """Whole epochs as integers, a run stopped within one to a tenth."""
  return f"{epochs:g}" if epochs == int(epochs) else f"{epochs:.1f}"


def best_validation(workdir: str) -> dict[str, float] | None:
  """The logged validation line of the lowest loss, if any."""
  path = os.path.join(workdir, METRICS_FILE)
  if not os.path.exists(path):
    return None
  with open(path) as f:
    lines = [json.loads(line) for line in f if '"validation"' in line]
  lines = [line for line in lines if line["split"] == "validation"]
  return min(lines, key=lambda line: line["loss"]) if lines else None


def evaluation_state(plan: RunPlan, row: Row) -> str:
  """'test NLL …' when the checkpoint the report scores is evaluated, else how far it got."""
  at = None if row.at_epoch is None else plan.eval_steps[row.key]
  chosen = choose_checkpoint(plan.workdir, at)
  metrics = cached_evaluation(plan, chosen.step, chosen.which == "best")
  if metrics is not None:
    nll = metrics.get("is_nll_nats")
    return f"done: test NLL {nll:.2f}" if nll is not None else "done"
  kept = kept_batches(plan, chosen.step)
  return f"started: {kept} batches kept" if kept else "not started"


def absent_run(records_dir: str | None, key: str, seed: int, plan: RunPlan) -> str:
  """The line's end for a row whose run is absent: not started, or (with `--reuse-records`)
  what its record holds."""
  if records_dir is not None:
    try:
      record = records.read(records_dir, key, seed, plan.config)
    except records.RecordError as error:
      return f"| not started | — | its record is refused: {error} |"
    if record is not None:
      nll = record["metrics"].get("is_nll_nats")
      return ("| its run is not on this machine | — | from its record"
              + (f": test NLL {nll:.2f} |" if nll is not None else " |"))
  return "| not started | — | — |"


def run_line(plan: RunPlan, row: Row, records_dir: str | None) -> str:
  """One row and seed's line of the status table."""
  seed = seeds_lib.seed_of(row)
  head = f"| {row.label} | {seed} "
  if not has_run(plan.workdir):
    return head + absent_run(records_dir, row.key, seed, plan)
  per_epoch = steps_per_epoch(plan.train_size, plan.config.batch_size)
  step = latest_step(plan.workdir) or 0
  log = jsonio.read_json(os.path.join(plan.workdir, TRAIN_LOG)) or {}
  stopped = bool(log.get("stopped_early")) and log.get("steps") == step
  trained = (f"{_epochs(step / per_epoch)} of {_epochs(plan.total_steps / per_epoch)} epochs"
             + (" (early stop)" if stopped else ""))
  best = best_validation(plan.workdir)
  best_text = ("—" if best is None
               else f"{best['loss']:.2f} (epoch {_epochs(best['step'] / per_epoch)})")
  finished = stopped or step >= plan.eval_steps[row.key]
  training = run_lock.holder(plan.workdir)
  state = (evaluation_state(plan, row) if finished
           else f"training now ({training})" if training else "training stopped: resume it")
  return head + f"| {trained} | {best_text} | {state} |"


def status_lines(table: Table, budget: budgets_lib.Budget, args: argparse.Namespace,
                 records_dir: str | None) -> list[str]:
  """The status table of every row and seed `experiments.reproduce` would run."""
  rows = table_rows(table, budget, args)
  lines = {}
  for plan, row in planned_rows(table, rows, budget, args):
    lines[row.key, seeds_lib.seed_of(row)] = run_line(plan, row, records_dir)
  ordered = [lines[row.key, seeds_lib.seed_of(row)] for row in rows]
  counts = {name: sum(bool(re.search(pattern, line)) for line in ordered)
            for name, pattern in SUMMARY}
  return [f"table {table.number}, budget {budget.name}, runs under {args.workdir_root}:", "",
          "| row | seed | trained | best validation −ELBO | evaluation |",
          "|---|---|---|---|---|", *ordered, "",
          f"{len(ordered)} runs: " + ", ".join(f"{n} {name}" for name, n in counts.items()) + "."]
