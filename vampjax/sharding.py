"""Data parallelism over a 1-D device mesh: the batch split along `data`, the rest replicated.

One code path serves one device, many devices on one host, and many hosts: `jax.jit` with
these shardings. With several processes (hosts), each process holds only its own rows of
the global batch, and `put_batch` assembles the global array from them.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import ml_collections
import numpy as np
from jax._src import xla_bridge  # backends_are_initialized: no public API
from jax.sharding import Mesh, NamedSharding, PartitionSpec

DATA_AXIS = "data"

# Set by a launcher (or by hand) on every host of a multi-host run; see docs/scaling.md.
COORDINATOR_ENV = "JAX_COORDINATOR_ADDRESS"
NUM_PROCESSES_ENV = "JAX_NUM_PROCESSES"
PROCESS_ID_ENV = "JAX_PROCESS_ID"


def _env_int(name: str) -> int | None:
  value = os.environ.get(name)
  return int(value) if value not in (None, "") else None


def wants_distributed(config: ml_collections.ConfigDict | None) -> bool:
  """config.distributed, or a coordinator address in the environment."""
  return bool(config is not None and config.get("distributed", False)) or bool(
      os.environ.get(COORDINATOR_ENV))


def initialize_distributed(config: ml_collections.ConfigDict | None = None) -> bool:
  """Joins the multi-host run when asked to; returns whether JAX is now distributed.

  Must run before any other JAX call (the backend fixes its device list when first used).
  Calling it again is a no-op. Coordinator, process count and id come from
  JAX_COORDINATOR_ADDRESS / JAX_NUM_PROCESSES / JAX_PROCESS_ID when set; otherwise JAX
  detects them itself (Cloud TPU pod slices, SLURM, Open MPI, Kubernetes).
  """
  if jax.distributed.is_initialized():
    return True
  if not wants_distributed(config):
    return False
  if xla_bridge.backends_are_initialized():
    raise RuntimeError(
        "initialize_distributed() must run before any other JAX call (main.py calls it "
        "first); something already started the XLA backend in this process.")
  jax.distributed.initialize(
      coordinator_address=os.environ.get(COORDINATOR_ENV) or None,
      num_processes=_env_int(NUM_PROCESSES_ENV),
      process_id=_env_int(PROCESS_ID_ENV))
  return True


def make_mesh(devices: list | None = None) -> Mesh:
  """A mesh over all (or the given) devices with one axis, `data`.

  With several processes, jax.devices() lists every process's devices in process order,
  so the batch rows of process p land on p's own devices.
  """
  return Mesh(np.asarray(devices or jax.devices()), (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, PartitionSpec())


def batch_sharded(mesh: Mesh, axis: int = 0) -> NamedSharding:
  """The batch axis (the leading one, or `axis` of a block of stacked batches) split over
  the devices of `data`."""
  return NamedSharding(mesh, PartitionSpec(*[None] * axis, DATA_AXIS))


def put_replicated(tree: Any, mesh: Mesh) -> Any:
  """Every leaf on every device; with several processes each must pass the same values."""
  return jax.device_put(tree, replicated(mesh))


def put_batch(batch: Any, mesh: Mesh, axis: int = 0) -> Any:
  """Host rows -> one global array split over `data` (along `axis`, the batch axis).

  One process: `batch` is the whole global batch. Several processes: `batch` is this
  process's contiguous rows (pipeline.local_slice), and the global batch is the rows of
  all processes in process order.
  """
  sharding = batch_sharded(mesh, axis)
  if jax.process_count() == 1:
    return jax.device_put(batch, sharding)
  return jax.tree.map(
      lambda rows: jax.make_array_from_process_local_data(sharding, np.asarray(rows)), batch)
