"""A row's record: what the paper report needs from a finished, evaluated run, kept as JSON
beside the report.

The checkpoints stay in `runs/` (never committed) and a machine may lose them; the records
are written as each row's evaluation ends and committed with the report. `--reuse-records`
writes the report again from them for rows whose run is no longer in the workdir root,
instead of training those rows again: their test metrics, training log, validation curve and
pseudo-input statistics come from the record, and the samples figure's images from the
`<row>_seed<s>_images.npz` kept beside it (drawn from the weights while they were here).
"""

from __future__ import annotations

import datetime
import json
import os
from typing import Any

import ml_collections
import numpy as np

from vampjax import jsonio
from vampjax import workdir as workdir_lib


class RecordError(Exception):
  """A record that cannot serve: made with another config than its row's now, or none where
  the report needs one (`--records-only`)."""


def directory(out_dir: str, report_stem: str) -> str:
  """Where a report's records go: `<out_dir>/<report_stem>_records/`."""
  return os.path.join(out_dir, f"{report_stem}_records")


def _path(records_dir: str, row_key: str, seed: int, suffix: str = ".json") -> str:
  return os.path.join(records_dir, f"{row_key}_seed{seed}{suffix}")


def make(row_key: str, seed: int, step: int, metrics: dict[str, Any],
         train_log: dict[str, Any], curves: dict[str, list[dict[str, float]]],
         pseudo_inputs: dict[str, float] | None, workdir: str,
         config: ml_collections.ConfigDict) -> dict[str, Any]:
  """The record of one evaluated row: its numbers, its run's config, where and when."""
  when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
  return {"row": row_key, "seed": seed, "step": step, "metrics": metrics,
          "train_log": train_log, "curves": curves, "pseudo_inputs": pseudo_inputs,
          "config": json.loads(config.to_json_best_effort()),
          "source": f"its run in {workdir}, recorded {when}"}


def write(records_dir: str, record: dict[str, Any]) -> str:
  """Writes `record` as `<row>_seed<s>.json` in `records_dir`; returns its path."""
  return jsonio.write_json_atomic(_path(records_dir, record["row"], record["seed"]), record)


def read(records_dir: str, row_key: str, seed: int,
         config: ml_collections.ConfigDict) -> dict[str, Any] | None:
  """The row's record for `seed`, or None when there is none; refused (RecordError) when it
  was made with another config than `config` (the row changed since)."""
  path = _path(records_dir, row_key, seed)
  record = jsonio.read_json(path)
  if record is not None:
    differences = workdir_lib.saved_config_differences(record["config"], config)
    if differences:
      raise RecordError(f"{path} was made with another config than the row's now "
                        f"({'; '.join(differences[:3])}); delete it, or leave out "
                        "--reuse-records to train the row")
  return record


def write_images(records_dir: str, row_key: str, seed: int,
                 images: dict[str, np.ndarray]) -> str:
  """Keeps the row's figure images (values in [0, 1]) as 8-bit pixels, what a figure shows:
  `<row>_seed<s>_images.npz` beside its record; returns its path."""
  os.makedirs(records_dir, exist_ok=True)
  path = _path(records_dir, row_key, seed, "_images.npz")
  pixels = {name: np.round(np.clip(a, 0.0, 1.0) * 255).astype(np.uint8)
            for name, a in images.items()}
  with jsonio.atomic_path(path) as tmp, open(tmp, "wb") as f:  # a file: np.savez adds no .npz
    np.savez_compressed(f, **pixels)
  return path


def read_images(records_dir: str, row_key: str, seed: int) -> dict[str, np.ndarray] | None:
  """The images `write_images` kept for the row and seed, in [0, 1]; None when none were."""
  path = _path(records_dir, row_key, seed, "_images.npz")
  if not os.path.exists(path):
    return None
  with np.load(path) as kept:
    return {name: kept[name].astype(np.float32) / 255 for name in kept.files}
