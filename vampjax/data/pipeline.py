"""Host-side batching: per-epoch shuffles that are a function of (seed, step), padded eval
batches with masks, and a background thread that keeps the next batches ready."""

from __future__ import annotations

import queue
import threading
from typing import Callable, Iterator

import numpy as np


def to_float(images: np.ndarray) -> np.ndarray:
  """uint8 [0, 255] -> float32 [0, 1]."""
  return images.astype(np.float32) * np.float32(1.0 / 255.0)


def epoch_permutation(num_examples: int, seed: int, epoch: int) -> np.ndarray:
  """The example order of one epoch: the same (seed, epoch) always gives the same order."""
  return np.random.default_rng([seed, epoch]).permutation(num_examples)


def train_batch_indices(num_examples: int, batch_size: int, seed: int, step: int) -> np.ndarray:
  """Indices of the training batch at `step` (drop-remainder epochs), recomputable on resume."""
  steps_per_epoch = num_examples // batch_size
  if steps_per_epoch == 0:
    raise ValueError(f"batch_size={batch_size} exceeds the {num_examples} training images; "
                     "lower batch_size.")
  epoch, position = divmod(step, steps_per_epoch)
  order = epoch_permutation(num_examples, seed, epoch)
  return order[position * batch_size:(position + 1) * batch_size]


def binarize(images: np.ndarray, seed: int, step: int) -> np.ndarray:
  """Dynamic binarization: each pixel is 1 with probability equal to its intensity."""
  rng = np.random.default_rng([seed, step, 1])
  return (rng.random(images.shape, dtype=np.float32) < images).astype(np.float32)


def train_batches(images: np.ndarray, batch_size: int, seed: int, start_step: int = 0,
                  dynamic_binarization: bool = False) -> Iterator[np.ndarray]:
  """Endless float32 training batches, beginning with the one for `start_step`."""
  step = start_step
  while True:
    batch = to_float(images[np.sort(train_batch_indices(len(images), batch_size, seed, step))])
    yield binarize(batch, seed, step) if dynamic_binarization else batch
    step += 1


def eval_batches(images: np.ndarray, batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
  """Every image exactly once, in order: (batch, mask); the last batch is zero-padded and
  its padding masked out, so all batches have one shape (one compilation)."""
  for start in range(0, len(images), batch_size):
    batch = to_float(images[start:start + batch_size])
    mask = np.ones(batch_size, bool)
    if len(batch) < batch_size:
      mask[len(batch):] = False
      batch = np.concatenate([batch, np.zeros((batch_size - len(batch), *batch.shape[1:]),
                                              batch.dtype)])
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
