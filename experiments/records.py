"""A row's record: what the paper report needs from a finished, evaluated run, kept as JSON
beside the report.

The checkpoints stay in `runs/` (never committed) and a machine may lose them; the records
are committed with the report. `--reuse-records` writes the report again from them for rows
whose run is no longer in the workdir root, instead of training those rows again: their
test metrics, training log, validation curve and pseudo-input statistics come from the record
(samples cannot be drawn without the weights).
"""

from __future__ import annotations

import datetime
import os
from typing import Any

from vampjax import jsonio


def directory(out_dir: str, report_stem: str) -> str:
  return os.path.join(out_dir, f"{report_stem}_records")


def _path(records_dir: str, row_key: str, seed: int) -> str:
  return os.path.join(records_dir, f"{row_key}_seed{seed}.json")


def make(row_key: str, seed: int, step: int, metrics: dict[str, Any],
         train_log: dict[str, Any], curves: dict[str, list[dict[str, float]]],
         pseudo_inputs: dict[str, float] | None, workdir: str) -> dict[str, Any]:
  """The record of one evaluated row, and where and when it was taken."""
  when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
  return {"row": row_key, "seed": seed, "step": step, "metrics": metrics,
          "train_log": train_log, "curves": curves, "pseudo_inputs": pseudo_inputs,
          "source": f"its run in {workdir}, recorded {when}"}


def write(records_dir: str, record: dict[str, Any]) -> str:
  return jsonio.write_json_atomic(_path(records_dir, record["row"], record["seed"]), record)


def read(records_dir: str, row_key: str, seed: int) -> dict[str, Any] | None:
  """The row's record for `seed`, or None when there is none."""
  return jsonio.read_json(_path(records_dir, row_key, seed))
