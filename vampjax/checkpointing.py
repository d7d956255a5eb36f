"""Orbax checkpoints of the whole train state (parameters, optimizer state, step).

Orbax writes each step to a temporary directory and renames it when complete, so an
interrupted save never spoils the previous checkpoint.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import orbax.checkpoint as ocp

CHECKPOINT_DIR = "checkpoints"


def manager(workdir: str, max_to_keep: int = 3) -> ocp.CheckpointManager:
  """The CheckpointManager of `<workdir>/checkpoints`."""
  directory = os.path.join(os.path.abspath(workdir), CHECKPOINT_DIR)
  options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True)
  return ocp.CheckpointManager(directory, options=options)


def save(mngr: ocp.CheckpointManager, step: int, state: Any) -> None:
  mngr.save(step, args=ocp.args.StandardSave(state))


def restore(mngr: ocp.CheckpointManager, target: Any, step: int | None = None) -> Any:
  """The state at `step` (default: the latest), with the structure and shardings of `target`."""
  step = mngr.latest_step() if step is None else step
  if step is None:
    raise FileNotFoundError(f"no checkpoint in {mngr.directory}; train first (--mode=train).")
  abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
  return mngr.restore(step, args=ocp.args.StandardRestore(abstract))
