"""Orbax checkpoints of the whole train state (parameters, optimizer state, step).

Orbax writes each step to a temporary directory and renames it when complete, so an
interrupted save never spoils the previous checkpoint. Before restoring, the saved shapes
are compared with the config's, so a mismatch names the parameter that differs. A
checkpoint restores on any number of devices (or hosts): leaves are placed on the devices
of this run, never on those recorded when it was saved.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import orbax.checkpoint as ocp

from vampjax import sharding as sharding_lib

CHECKPOINT_DIR = "checkpoints"
BEST_CHECKPOINT_DIR = "checkpoints_best"  # the state of the best validation step (early stopping)


class CheckpointError(Exception):
  """No checkpoint, or one that does not fit the config; the message says what to do."""


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


def save(mngr: ocp.CheckpointManager, step: int, state: Any,
         metrics: dict[str, float] | None = None) -> None:
  mngr.save(step, args=ocp.args.StandardSave(state), metrics=metrics)


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


def restore(mngr: ocp.CheckpointManager, target: Any, step: int | None = None,
            sharding: jax.sharding.Sharding | None = None) -> Any:
  """The state at `step` (default: the latest), with the structure of `target`.

  Leaves go where `target`'s leaves are, or else to `sharding` (default: replicated over
  all devices of this run), whatever device count wrote the checkpoint.
  """
  step = mngr.latest_step() if step is None else step
  if step is None:
    raise CheckpointError(f"no checkpoint in {mngr.directory}; train first (--mode=train).")
  if step not in mngr.all_steps():
    raise CheckpointError(f"no checkpoint of step {step} in {mngr.directory}; "
                          f"the saved steps are {mngr.all_steps()}.")
  default = sharding or sharding_lib.replicated(sharding_lib.make_mesh())
  abstract = jax.tree.map(lambda leaf: _abstract(leaf, default), target)
  check_compatible(mngr.item_metadata(step).tree, abstract, str(mngr.directory))
  return mngr.restore(step, args=ocp.args.StandardRestore(abstract))
