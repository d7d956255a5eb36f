"""Plans and runs the rows of a study table: each run trained once, resumed, evaluated, cached.

Rows of one config share a run (`Row.run_name`) in `<workdir-root>/<budget>/<data>/<run>`;
a finished run is reused (also one that stopped early), an interrupted one resumes, and each
evaluated checkpoint's metrics are cached in the run's workdir per evaluation settings. A
row evaluated at the end of training gets the best validation checkpoint when early stopping
saved one (the paper's protocol), as --mode=eval does.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import os
from typing import Any, Callable, Iterator

import jax
import ml_collections
import numpy as np

from experiments import budgets as budgets_lib
from experiments import records
from experiments import seeds as seeds_lib
from experiments.tables import Row, Table
from experiments.run_eval import evaluate_run
from vampjax import config_validation, data, jsonio, train, workdir as workdir_lib
from vampjax.state import Checkpoint, choose_checkpoint, latest_step

TRAIN_LOG = "reproduce_train.json"


def data_overrides(table: Table, args: argparse.Namespace) -> dict[str, Any]:
  """The table's own data keys, and where the CelebA tables read their images (the study's
  MNIST is always the embedded real MNIST)."""
  if table.family != "celeba":
    return dict(table.data)
  overrides: dict[str, Any] = {"data.name": args.data}
  if args.data == "celeba":
    overrides["data.tfds_data_dir"] = args.data_path
  elif args.data == "image_folder":
    overrides["data.path"] = args.data_path
    overrides["data.crop_size"] = 140
  return overrides


@dataclasses.dataclass
class RunPlan:
  """One training run (shared by rows of the same config) and the steps it is evaluated at."""
  config: ml_collections.ConfigDict
  dataset: data.Dataset = dataclasses.field(repr=False)  # loaded once for the whole run
  overrides: dict[str, Any]      # every key changed from the config file, in command order
  workdir: str
  train_size: int
  total_steps: int
  eval_steps: dict[str, int]     # row key -> checkpoint step
  family: budgets_lib.FamilyBudget  # the budget of the run's rows (row_family)


def steps_per_epoch(train_size: int, batch_size: int) -> int:
  return max(1, train_size // batch_size)  # batches are drawn with drop_remainder


def row_family(budget: budgets_lib.Budget, table: Table, row: Row) -> budgets_lib.FamilyBudget:
  """The budget's family for `table`, with the fields `row` replaces at this budget (its
  config overrides are added to the family's)."""
  family = budget.family(table.family)
  fields = dict(row.budgets.get(budget.name, {}))
  fields["overrides"] = {**family.overrides, **fields.get("overrides", {})}
  return dataclasses.replace(family, **fields)


def plan_run(table: Table, rows: list[Row], budget: budgets_lib.Budget, args: argparse.Namespace,
             workdir_root: str) -> RunPlan:
  """The config of a run: the config file, the data, the budget's and the row's overrides, and
  the derived keys (steps, KL warm-up, checkpoints kept for intermediate evaluations).
  The config is validated (as main.py does) before its data is loaded."""
  family = row_family(budget, table, rows[0])
  config = importlib.import_module(f"configs.{rows[0].config}").get_config()
  overrides = {**data_overrides(table, args), **family.overrides, **rows[0].overrides}
  config.update_from_flattened_dict(overrides)
  config_validation.validate(config, jax.device_count())
  dataset = data.get_dataset(config)
  train_size = len(dataset.train)
  per_epoch = steps_per_epoch(train_size, config.batch_size)
  total = family.steps if family.epochs is None else round(family.epochs * per_epoch)
  total = max(1, min(total, family.max_steps or total))
  derived: dict[str, Any] = {"num_train_steps": total}
  if config.num_train_epochs > 0:  # a length in epochs: the budget's steps replace it
    derived["num_train_epochs"] = 0
    if config.kl_warmup_epochs > 0:  # the same share of training as the config's warm-up
      derived["kl_warmup_epochs"] = 0
      derived["kl_warmup_steps"] = max(
          1, round(config.kl_warmup_epochs * total / config.num_train_epochs))
  eval_steps = {row.key: total if row.at_epoch is None
                else max(1, min(round(row.at_epoch * per_epoch), total - 1)) for row in rows}
  if len(set(eval_steps.values())) > 1:  # keep every checkpoint the rows evaluate
    every = config.checkpoint_every_steps
    derived["max_checkpoints_to_keep"] = (total // every if every > 0 else 0) + len(eval_steps) + 1
  config.update_from_flattened_dict(derived)
  overrides.update(derived)
  workdir = os.path.join(workdir_root, budget.name, config.data.name, rows[0].run_name)
  return RunPlan(config, dataset, overrides, workdir, train_size, total, eval_steps, family)


def step_timing(workdir: str, batch_size: int, train_size: int) -> dict[str, float]:
  """The wall time of the run's training steps over all its sessions (`step_seconds`) and
  its median epoch time (`epoch_seconds`), from the images/s of metrics.jsonl's logged
  intervals, which leave the validation passes out. The median ignores intervals slowed
  by a pause or a shared machine; the sum counts them in full. A session killed without a
  word loses only its steps after the last checkpoint, which the next one runs again."""
  path = os.path.join(workdir, workdir_lib.METRICS_FILE)
  seconds, previous, rates = 0.0, 0, []
  if os.path.exists(path):
    with open(path) as f:
      for line in f:
        record = json.loads(line)
        if record["split"] == "train" and record.get("images_per_sec", 0) > 0:
          seconds += (record["step"] - previous) * batch_size / record["images_per_sec"]
          previous = record["step"]
          rates.append(record["images_per_sec"])
  return {"step_seconds": seconds,
          "epoch_seconds": train_size / float(np.median(rates)) if rates else float("nan")}


def train_log(plan: RunPlan) -> dict[str, Any]:
  """What `train_until` logged of the run (its last step, whether it stopped early)."""
  return jsonio.read_json(os.path.join(plan.workdir, TRAIN_LOG)) or {}


def ended_early(log: dict[str, Any], step: int) -> bool:
  """Whether early stopping ended the run of `log` (its `train_log`) at `step`, its latest
  checkpoint."""
  return bool(log.get("stopped_early")) and log.get("steps") == step


def train_until(plan: RunPlan, step: int) -> dict[str, Any]:
  """Trains (resumes) the run up to `step`, or until early stopping ends it; returns its
  last step, whether it stopped early, and its `step_timing`."""
  differences = workdir_lib.config_differences(plan.workdir, plan.config)
  if differences:  # checked even when nothing is left to train: its results are reused
    raise workdir_lib.another_config_error(plan.workdir, differences)
  log = train_log(plan)
  start = latest_step(plan.workdir) or 0
  if start < step and not ended_early(log, start):
    config = ml_collections.ConfigDict(plan.config.to_dict())
    config.num_train_steps = step
    state = train.train_and_evaluate(config, plan.workdir, dataset=plan.dataset)
    log["steps"] = int(state.step)
    log["stopped_early"] = int(state.step) < step
    jsonio.write_json_atomic(os.path.join(plan.workdir, TRAIN_LOG), log)
  return {**log, **step_timing(plan.workdir, plan.config.batch_size, plan.train_size)}


@dataclasses.dataclass
class RowResult:
  row: Row
  plan: RunPlan
  step: int
  metrics: dict[str, Any]
  train_log: dict[str, Any]
  record: dict[str, Any] | None = None  # set when the row comes from its record, not its run

  @property
  def seed(self) -> int:
    return seeds_lib.seed_of(self.row)


def selected_rows(table: Table, budget: budgets_lib.Budget, args: argparse.Namespace
                  ) -> list[Row]:
  """The rows to run: those of `args.rows` (default all), less the extras where the budget
  or `args.no_extras` leaves them out."""
  extras = budget.extra_rows and not args.no_extras
  return [row for row in table.rows if (extras or not row.extra)
          and (not args.rows or row.key in args.rows)]


def scored_checkpoint(plan: RunPlan, row: Row) -> Checkpoint:
  """The checkpoint the report scores for `row`: its own step (a row at an earlier epoch),
  else the run's best validation checkpoint, else its latest."""
  return choose_checkpoint(plan.workdir, None if row.at_epoch is None
                           else plan.eval_steps[row.key])


def has_run(workdir: str) -> bool:
  return os.path.exists(os.path.join(workdir, workdir_lib.CONFIG_FILE))


def row_seeds(budget: budgets_lib.Budget, table: Table, row: Row,
              asked: list[int] | None) -> list[int]:
  """The seeds `row` runs with: those asked for (default: the budget's), less any its own
  budget leaves out."""
  own = row.budgets.get(budget.name, {}).get("seeds")
  return [seed for seed in asked or budget.family(table.family).seeds
          if own is None or seed in own]


def table_rows(table: Table, budget: budgets_lib.Budget, args: argparse.Namespace
               ) -> list[Row]:
  """Every selected row (`args.rows`, default all) once per seed of `args.seeds` (default:
  the budget's), in the report's order: row by row, seeds in order."""
  return [seeds_lib.seeded(row, seed) for row in selected_rows(table, budget, args)
          for seed in row_seeds(budget, table, row, args.seeds)]


def planned_rows(table: Table, rows: list[Row], budget: budgets_lib.Budget,
                 args: argparse.Namespace) -> Iterator[tuple[RunPlan, Row]]:
  """Each row with its run's plan, in the order they run: rows of one config and seed share a
  run, evaluated in step order."""
  groups: dict[str, list[Row]] = {}
  for row in rows:
    groups.setdefault(row.run_name, []).append(row)
  for group in groups.values():
    plan = plan_run(table, group, budget, args, args.workdir_root)
    for row in sorted(group, key=lambda r: plan.eval_steps[r.key]):
      yield plan, row


def run_table(table: Table, budget: budgets_lib.Budget, args: argparse.Namespace,
              records_dir: str | None = None,
              on_evaluated: Callable[[RowResult], None] | None = None) -> list[RowResult]:
  """Trains and evaluates every row of `table_rows` (with `args.train_only` none is
  evaluated); results come in its order. With `records_dir`, a row whose run is not in the
  workdir root but has a record there comes from its record (records.py) and is not
  trained; with `args.records_only` every row comes from its record, and a row without one
  is left out. `on_evaluated` gets each row as soon as it is evaluated (before the next
  trains)."""
  rows = table_rows(table, budget, args)
  results: dict[tuple[str, int], RowResult] = {}
  for plan, row in planned_rows(table, rows, budget, args):
    step, key = plan.eval_steps[row.key], (row.key, seeds_lib.seed_of(row))
    from_record = records_dir is not None and (args.records_only or not has_run(plan.workdir))
    record = records.read(records_dir, *key, plan.config) if from_record else None
    if record is None and args.records_only:
      print(f"== table {table.number}: {row.label}, seed {key[1]}: no record yet, left out",
            flush=True)
      continue
    if record is not None:
      print(f"== table {table.number}: {row.label}, seed {key[1]} <- its record "
            f"({record['source']})", flush=True)
      results[key] = RowResult(row, plan, record["step"], record["metrics"],
                               record["train_log"], record)
      continue
    print(f"== table {table.number}: {row.label}, seed {key[1]} -> "
          f"{plan.workdir} (step {step})", flush=True)
    log = train_until(plan, step)
    if args.train_only:
      continue
    chosen = scored_checkpoint(plan, row)
    results[key] = RowResult(row, plan, chosen.step, evaluate_run(
        plan, chosen.step, chosen.which == "best"), log)
    if on_evaluated is not None:
      on_evaluated(results[key])
  keys = [(row.key, seeds_lib.seed_of(row)) for row in rows]
  return [results[key] for key in keys if key in results]
