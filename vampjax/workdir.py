"""A workdir holds one run: its config.json, metrics.jsonl, checkpoints/ (and checkpoints_best/).

Starting again with the same config resumes; a different config is refused (it would
mix two runs) unless the user asks to overwrite, which deletes the old run first. A
workdir whose run wrote nothing but its config (it died before its first log line or
checkpoint) is simply reused.
"""

from __future__ import annotations

import json
import os
import shutil

import ml_collections

from vampjax import default_config, jsonio
from vampjax.checkpointing import BEST_CHECKPOINT_DIR, CHECKPOINT_DIR

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
# Keys that may change between sessions of one run: how long, how often, how much to log.
RESUMABLE_KEYS = ("num_train_steps", "log_every_steps", "eval_every_steps",
                  "num_eval_examples", "checkpoint_every_steps", "max_checkpoints_to_keep",
                  "num_samples", "preemption_sync_seconds", "eval", "data.num_workers",
                  "data.cache_dir",
                  "preemption_sync_every_steps")  # the last: renamed, in older runs' config.json


class WorkdirError(Exception):
  """The workdir holds a run of another config."""


def _as_plain(config: ml_collections.ConfigDict) -> dict:
  return json.loads(config.to_json_best_effort())


def _differences(old: dict, new: dict, prefix: str = "") -> list[str]:
  keys = []
  for key in sorted(set(old) | set(new)):
    name = prefix + key
    if any(name == k or name.startswith(k + ".") for k in RESUMABLE_KEYS):
      continue
    a, b = old.get(key), new.get(key)
    if isinstance(a, dict) and isinstance(b, dict):
      keys += _differences(a, b, name + ".")
    elif a != b:
      keys.append(f"{name} ({a!r} -> {b!r})")
  return keys


def _holds_results(workdir: str) -> bool:
  """Whether the run in `workdir` wrote metrics or a checkpoint."""
  metrics = os.path.join(workdir, METRICS_FILE)
  checkpoints = os.path.join(workdir, CHECKPOINT_DIR)
  return ((os.path.exists(metrics) and os.path.getsize(metrics) > 0)
          or (os.path.isdir(checkpoints) and bool(os.listdir(checkpoints))))


def saved_config_differences(saved: dict, config: ml_collections.ConfigDict) -> list[str]:
  """The keys (not those that may change between sessions) in which a saved config (plain
  JSON) differs from `config`, with both values; keys added since it was saved count with
  their defaults."""
  return _differences(_as_plain(_with_defaults(saved)), _as_plain(config))


def config_differences(workdir: str, config: ml_collections.ConfigDict) -> list[str]:
  """`saved_config_differences` of the run in `workdir`; none when it has no config.json."""
  saved = jsonio.read_json(os.path.join(workdir, CONFIG_FILE))
  return [] if saved is None else saved_config_differences(saved, config)


def another_config_error(workdir: str, differences: list[str]) -> WorkdirError:
  """The one-line refusal of a workdir that holds a run of another config."""
  return WorkdirError(
      f"{workdir} holds a run of another config ({'; '.join(differences[:3])}"
      f"{'; …' if len(differences) > 3 else ''}); use another --workdir, or --overwrite "
      "to delete that run and start again.")


def prepare(workdir: str, config: ml_collections.ConfigDict, overwrite: bool = False) -> None:
  """Creates `workdir`, or checks that the run in it has this config; writes config.json."""
  os.makedirs(workdir, exist_ok=True)
  path = os.path.join(workdir, CONFIG_FILE)
  differences = config_differences(workdir, config)
  if differences:
    if not overwrite and _holds_results(workdir):
      raise another_config_error(workdir, differences)
    for name in (CHECKPOINT_DIR, BEST_CHECKPOINT_DIR, METRICS_FILE):
      target = os.path.join(workdir, name)
      if os.path.isdir(target):
        shutil.rmtree(target)
      elif os.path.exists(target):
        os.remove(target)
  jsonio.write_text_atomic(path, config.to_json_best_effort(indent=2))


def require_run(workdir: str) -> None:
  """A run to evaluate, sample or plot: refused, creating nothing, if there is none."""
  if not os.path.isdir(workdir):
    raise WorkdirError(f"{workdir} does not exist; train a run there first (--mode=train), or "
                       "check --workdir.")
  if not os.path.isdir(os.path.join(workdir, CHECKPOINT_DIR)):
    raise WorkdirError(f"no checkpoint in {os.path.join(workdir, CHECKPOINT_DIR)}; train "
                       "first (--mode=train).")


def _merge(config: ml_collections.ConfigDict, saved: dict) -> None:
  for key, value in saved.items():
    if isinstance(value, dict) and isinstance(config.get(key), ml_collections.ConfigDict):
      _merge(config[key], value)
    else:
      config[key] = tuple(value) if isinstance(config.get(key), tuple) else value


def read_config(workdir: str) -> ml_collections.ConfigDict:
  """The config of the run in `workdir`: its config.json over today's defaults, so that
  keys added since the run was written take their default values."""
  path = os.path.join(workdir, CONFIG_FILE)
  if not os.path.exists(path):
    raise WorkdirError(f"no {CONFIG_FILE} in {workdir}: not a vampjax run (train one there "
                       "with main.py --workdir).")
  with open(path) as f:
    return _with_defaults(json.load(f))


def _with_defaults(saved: dict) -> ml_collections.ConfigDict:
  """A saved config over today's defaults."""
  config = default_config.get_config()
  _merge(config, saved)
  return config
