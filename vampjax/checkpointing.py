"""Orbax checkpoints of the whole train state (parameters, optimizer state, step).

Orbax writes each step to a temporary directory and renames it when complete, so an
interrupted save never spoils the previous checkpoint. Before restoring, the saved shapes
are compared with the config's, so a mismatch names the parameter that differs. A
checkpoint restores on any number of devices (or hosts): leaves are placed on the devices
of this run, never on those recorded when it was saved.

Once a save is complete, a checksum of every file of that step is recorded beside it
(CHECKSUM_FILE), so a damaged or missing file is found and named before orbax reads it
(orbax itself misses some damage: zeroed bytes of a small array read back as other
values). A checkpoint that cannot be read is reported in one line; training then resumes
from the newest readable one, and moves the unreadable ones aside (never deleting them).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from typing import Any

import jax
import orbax.checkpoint as ocp
from jax.experimental import multihost_utils

from vampjax import sharding as sharding_lib

CHECKPOINT_DIR = "checkpoints"
BEST_CHECKPOINT_DIR = "checkpoints_best"  # the state of the best validation step (early stopping)
UNREADABLE_SUFFIX = "_unreadable"  # training moves unreadable steps to checkpoints_unreadable/
CHECKSUM_FILE = "vampjax_checksums.json"  # in each step's directory: {file: [size, sha256]}


class CheckpointError(Exception):
  """No checkpoint, or one that does not fit the config; the message says what to do."""


class UnreadableCheckpointError(CheckpointError):
  """A checkpoint whose files are damaged or missing; the message names the step and file."""

  def __init__(self, step: int, directory: str, problem: str):
    super().__init__(f"the checkpoint of step {step} in {directory} cannot be read: {problem}")
    self.step, self.problem = step, problem


def manager(workdir: str, max_to_keep: int = 3, best: bool = False) -> ocp.CheckpointManager:
  """The CheckpointManager of `<workdir>/checkpoints`, or with `best` of
  `<workdir>/checkpoints_best`, which keeps only the checkpoint of the lowest validation
  loss saved (`save(..., metrics={"loss": ...})`)."""
  if best:
    directory = BEST_CHECKPOINT_DIR
    options = ocp.CheckpointManagerOptions(max_to_keep=1, create=True, best_mode="min",
                                           best_fn=lambda metrics: metrics["loss"])
  else:
    directory = CHECKPOINT_DIR
    options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True)
  return ocp.CheckpointManager(os.path.join(os.path.abspath(workdir), directory),
                               options=options, item_handlers=ocp.StandardCheckpointHandler())


def step_dir(mngr: ocp.CheckpointManager, step: int) -> str:
  return os.path.join(str(mngr.directory), str(step))


def _digest(path: str) -> str:
  sha = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      sha.update(block)
  return sha.hexdigest()


def _files(directory: str) -> list[str]:
  return sorted(os.path.relpath(os.path.join(folder, name), directory)
                for folder, _, names in os.walk(directory) for name in names
                if name != CHECKSUM_FILE)


def record_checksums(mngr: ocp.CheckpointManager) -> None:
  """Writes CHECKSUM_FILE into every complete step that lacks one (on process 0)."""
  if jax.process_index() != 0:
    return
  for step in mngr.all_steps():
    directory = step_dir(mngr, step)
    path = os.path.join(directory, CHECKSUM_FILE)
    if os.path.exists(path):
      continue
    sums = {name: [os.path.getsize(os.path.join(directory, name)),
                   _digest(os.path.join(directory, name))] for name in _files(directory)}
    with open(path + ".tmp", "w") as f:
      json.dump(sums, f, indent=0)
    os.replace(path + ".tmp", path)


def finish(mngr: ocp.CheckpointManager) -> None:
  """Waits for the save in flight, then records the checksums of the finished steps."""
  mngr.wait_until_finished()
  record_checksums(mngr)


def save(mngr: ocp.CheckpointManager, step: int, state: Any,
         metrics: dict[str, float] | None = None) -> None:
  """Starts saving `state` as `step` in the background, after the previous save ends."""
  finish(mngr)
  mngr.save(step, args=ocp.args.StandardSave(state), metrics=metrics)


def verify(mngr: ocp.CheckpointManager, step: int) -> None:
  """Raises UnreadableCheckpointError naming the first file of `step` that is missing or
  differs from its recorded checksum. A step saved without checksums passes: reading it
  is then the only check."""
  directory = step_dir(mngr, step)
  path = os.path.join(directory, CHECKSUM_FILE)
  if not os.path.exists(path):
    return
  fail = lambda problem: UnreadableCheckpointError(step, str(mngr.directory), problem)
  try:
    with open(path) as f:
      sums = json.load(f)
  except (OSError, ValueError) as error:
    raise fail(f"{path} is damaged ({error})") from error
  for name, (size, digest) in sums.items():
    path = os.path.join(directory, name)
    if not os.path.exists(path):
      raise fail(f"{path} is missing")
    if os.path.getsize(path) != size:
      raise fail(f"{path} has {os.path.getsize(path)} bytes, {size} when saved")
    if _digest(path) != digest:
      raise fail(f"{path} is damaged (its checksum differs from the one recorded at save)")


def _key_name(key: Any) -> str:
  for attribute in ("key", "name", "idx"):  # DictKey, GetAttrKey, SequenceKey
    if hasattr(key, attribute):
      return str(getattr(key, attribute))
  return str(key)


def _shapes(tree: Any) -> dict[str, tuple[tuple[int, ...], str]]:
  """Leaf shapes by path; 'params/encoder/mu/kernel' whether saved as dicts or dataclasses."""
  return {"/".join(map(_key_name, path)): (tuple(leaf.shape), str(leaf.dtype))
          for path, leaf in jax.tree_util.tree_leaves_with_path(tree)}


def check_compatible(saved: Any, expected: Any, where: str) -> None:
  """Raises CheckpointError naming the first parameter whose presence or shape differs."""
  saved, expected = _shapes(saved), _shapes(expected)
  # Parameters first: a differing parameter also differs in the Adam moments.
  for name in sorted(set(saved) | set(expected), key=lambda n: (not n.startswith("params"), n)):
    if name not in saved:
      problem = "is missing from the checkpoint"
    elif name not in expected:
      problem = "is in the checkpoint but not in the model of this config"
    elif saved[name][0] != expected[name][0]:
      problem = f"has shape {saved[name][0]} in the checkpoint but {expected[name][0]} here"
    else:
      continue
    raise CheckpointError(
        f"the checkpoint in {where} does not fit this config: {name} {problem}; use the "
        "config it was trained with (see config.json there) or another --workdir.")


def _abstract(leaf: Any, default: jax.sharding.Sharding) -> jax.ShapeDtypeStruct:
  """A restore target leaf: the leaf's own sharding when it has one, else `default`.

  Without a sharding, orbax would reuse the saved one, which names the devices of the
  saving run and fails ("Topology mismatch") on another device count.
  """
  struct = ocp.utils.to_shape_dtype_struct(leaf)
  return jax.ShapeDtypeStruct(struct.shape, struct.dtype,
                              sharding=getattr(struct, "sharding", None) or default)


def _innermost(error: BaseException) -> str:
  """The first line of the root cause: tensorstore's "Error reading <array> ... : <why>"."""
  while error.__cause__ is not None or error.__context__ is not None:
    error = error.__cause__ or error.__context__
  return f"{type(error).__name__}: {str(error).strip().splitlines()[0][:400]}"


def _read(mngr: ocp.CheckpointManager, step: int, abstract: Any) -> Any:
  """The checkpoint of `step`; UnreadableCheckpointError if any of its files is bad."""
  verify(mngr, step)
  where = str(mngr.directory)
  try:
    saved = mngr.item_metadata(step).tree
  except Exception as error:  # pylint: disable=broad-except
    raise UnreadableCheckpointError(
        step, where, f"its metadata cannot be read ({_innermost(error)})") from error
  check_compatible(saved, abstract, where)
  try:
    return mngr.restore(step, args=ocp.args.StandardRestore(abstract))
  except Exception as error:  # pylint: disable=broad-except  # orbax/tensorstore raise many kinds
    raise UnreadableCheckpointError(step, where, _innermost(error)) from error


def _readable(mngr: ocp.CheckpointManager, steps: list[int]) -> list[int]:
  """The steps among `steps` whose files pass their checksums."""
  readable = []
  for step in steps:
    try:
      verify(mngr, step)
      readable.append(step)
    except UnreadableCheckpointError:
      pass
  return readable


def _set_aside(mngr: ocp.CheckpointManager, steps: list[int]) -> str:
  """Moves the unreadable `steps` out of orbax's directory, so that training can save
  those steps again; returns where they went."""
  aside = str(mngr.directory) + UNREADABLE_SUFFIX
  if jax.process_index() == 0:
    os.makedirs(aside, exist_ok=True)
    for step in steps:
      target = os.path.join(aside, str(step))
      if os.path.exists(target):
        shutil.rmtree(target)  # an older copy of the same step
      shutil.move(step_dir(mngr, step), target)
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices("vampjax_checkpoints_set_aside")
  mngr.reload()
  return aside


def restore(mngr: ocp.CheckpointManager, target: Any, step: int | None = None,
            sharding: jax.sharding.Sharding | None = None, fallback: bool = False,
            how_to_pick: str = "--config.eval.checkpoint_step={step}") -> Any:
  """The state at `step` (default: the latest), with the structure of `target`.

  Leaves go where `target`'s leaves are, or else to `sharding` (default: replicated over
  all devices of this run), whatever device count wrote the checkpoint. An unreadable
  checkpoint raises UnreadableCheckpointError naming the readable steps and how to pick
  one (`how_to_pick`, formatted with the newest); with `fallback` (training's resume) the latest readable one is
  restored instead, with a warning, and the unreadable newer ones are set aside.
  """
  steps = sorted(mngr.all_steps(), reverse=True)
  if not steps:
    raise CheckpointError(f"no checkpoint in {mngr.directory}; train first (--mode=train).")
  if step is not None and step not in steps:
    raise CheckpointError(f"no checkpoint of step {step} in {mngr.directory}; "
                          f"the saved steps are {sorted(steps)}.")
  default = sharding or sharding_lib.replicated(sharding_lib.make_mesh())
  abstract = jax.tree.map(lambda leaf: _abstract(leaf, default), target)
  if step is not None or not fallback:
    step = steps[0] if step is None else step
    try:
      return _read(mngr, step, abstract)
    except UnreadableCheckpointError as error:
      others = _readable(mngr, [s for s in steps if s != step])
      hint = (f"the saved steps {sorted(others)} pass their checksums: pick one with "
              f"{how_to_pick.format(step=others[0])}" if others
              else "no other checkpoint is readable")
      raise UnreadableCheckpointError(step, str(mngr.directory),
                                      f"{error.problem}; {hint}.") from error
  problems = []
  for step in steps:
    try:
      state = _read(mngr, step, abstract)
    except UnreadableCheckpointError as error:
      problems.append(error)
      continue
    if problems:
      aside = _set_aside(mngr, [error.step for error in problems])
      print(f"warning: {'; '.join(map(str, problems))}. Resuming from step {step}, the "
            f"newest readable checkpoint; the unreadable ones were moved to {aside}.",
            file=sys.stderr)
    return state
  raise CheckpointError(f"no checkpoint in {mngr.directory} can be read "
                        f"({'; '.join(map(str, problems))}); move {mngr.directory} away to "
                        "train from the start, or use another --workdir.")
