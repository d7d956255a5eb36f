"""Host-side batching: per-epoch shuffles that are a function of (seed, step), padded eval
batches with masks, and a background thread that keeps the next batches ready.

Multi-process: every process computes the same global batch and materialises only its
own contiguous slice of it (`Shard`), so each reads only its share of the images (with a
memory-mapped `.npy` cache, only those pages). The slices, in process order, make up the
global batch, as `jax.make_array_from_process_local_data` expects.
"""

from __future__ import annotations

import functools
import itertools
import queue
import threading
from typing import Callable, Iterable, Iterator, NamedTuple

import numpy as np


class Shard(NamedTuple):
  """This process's place among all processes."""

  index: int
  count: int


def process_shard() -> Shard:
  """(jax.process_index(), jax.process_count()); (0, 1) on one host."""
  import jax  # pylint: disable=g-import-not-at-top

  return Shard(jax.process_index(), jax.process_count())


def local_slice(batch_size: int, shard: Shard | None) -> slice:
  """The rows of a global batch that `shard` owns."""
  index, count = shard or process_shard()
  if batch_size % count:
    raise ValueError(f"batch_size={batch_size} is not divisible by the {count} processes; "
                     f"use a multiple of {count}.")
  per = batch_size // count
  return slice(index * per, (index + 1) * per)


def to_float(images: np.ndarray) -> np.ndarray:
  """uint8 [0, 255] -> float32 [0, 1]."""
  return images.astype(np.float32) * np.float32(1.0 / 255.0)


@functools.lru_cache(maxsize=2)
def epoch_permutation(num_examples: int, seed: int, epoch: int) -> np.ndarray:
  """The example order of one epoch: the same (seed, epoch) always gives the same order.
  Cached (read-only), so that an epoch's batches do not each redraw it."""
  order = np.random.default_rng([seed, epoch]).permutation(num_examples)
  order.flags.writeable = False
  return order


def train_batch_indices(num_examples: int, batch_size: int, seed: int, step: int) -> np.ndarray:
  """Indices of the training batch at `step` (drop-remainder epochs), recomputable on resume."""
  steps_per_epoch = num_examples // batch_size
  if steps_per_epoch == 0:
    raise ValueError(f"batch_size={batch_size} exceeds the {num_examples} training images; "
                     "lower batch_size.")
  epoch, position = divmod(step, steps_per_epoch)
  order = epoch_permutation(num_examples, seed, epoch)
  return order[position * batch_size:(position + 1) * batch_size]


def index_batches(num_examples: int, batch_size: int, seed: int,
                  start_step: int = 0) -> Iterator[np.ndarray]:
  """Endless int32 indices of the global training batches from `start_step`, each sorted
  (the order in which `train_batches` reads them)."""
  for step in itertools.count(start_step):
    yield np.sort(train_batch_indices(num_examples, batch_size, seed, step)).astype(np.int32)


def train_batches(images: np.ndarray, batch_size: int, seed: int, start_step: int = 0,
                  shard: Shard | None = None) -> Iterator[np.ndarray]:
  """Endless float32 training batches (this process's rows of each global batch),
  beginning with the one for `start_step`. Dynamically binarized sources are drawn on the
  device from the same indices (`vampjax.data.on_device`)."""
  rows = local_slice(batch_size, shard)
  for indices in index_batches(len(images), batch_size, seed, start_step):
    yield to_float(images[indices[rows]])


def stacked(items: Iterator[np.ndarray], sizes: Iterable[int]) -> Iterator[np.ndarray]:
  """The next `size` items of `items` for each size, stacked along a new leading axis:
  the blocks of the steps of each jitted call."""
  for size in sizes:
    yield np.stack(list(itertools.islice(items, size)))


def eval_batches(images: np.ndarray, batch_size: int,
                 shard: Shard | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
  """Every image exactly once, in order: (batch, mask); the last batch is zero-padded and
  its padding masked out, so all batches have one shape (one compilation). With several
  processes each gets its rows of every global batch (and mask)."""
  rows = local_slice(batch_size, shard)
  local = rows.stop - rows.start
  for start in range(0, len(images), batch_size):
    lo, hi = min(start + rows.start, len(images)), min(start + rows.stop, len(images))
    batch = to_float(images[lo:hi])
    mask = np.zeros(local, bool)
    mask[:hi - lo] = True
    if hi - lo < local:
      batch = np.concatenate([batch, np.zeros((local - (hi - lo), *images.shape[1:]),
                                              np.float32)])
    yield batch, mask


def prefetch(iterator: Iterator, size: int = 2, transform: Callable = lambda x: x) -> Iterator:
  """Runs `iterator` (and `transform`, e.g. a device_put) in a daemon thread, `size` ahead."""
  buffer: queue.Queue = queue.Queue(maxsize=size)
  done = object()

  def worker():
    try:
      for item in iterator:
        buffer.put(transform(item))
    except Exception as error:  # pylint: disable=broad-except
      buffer.put(error)
    buffer.put(done)

  threading.Thread(target=worker, daemon=True).start()
  while (item := buffer.get()) is not done:
    if isinstance(item, Exception):
      raise item
    yield item
