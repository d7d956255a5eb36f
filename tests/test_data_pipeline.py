"""Batching: the order is a function of (seed, step), eval counts every image once, and
the per-process slices make up the global batch."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from vampjax.data import pipeline
from vampjax.data.pipeline import Shard


def numbered(count: int) -> np.ndarray:
  """Images whose first pixel is their index (uint8 wraps are avoided: count <= 256)."""
  images = np.zeros((count, 4, 4, 1), np.uint8)
  images[:, 0, 0, 0] = np.arange(count)
  return images


def ids(batch: np.ndarray) -> list[int]:
  return np.rint(batch[:, 0, 0, 0] * 255).astype(int).tolist()


def test_train_order_is_deterministic_and_resumable():
  images = numbered(50)
  first = [ids(b) for b in itertools.islice(pipeline.train_batches(images, 8, seed=3), 14)]
  again = [ids(b) for b in itertools.islice(pipeline.train_batches(images, 8, seed=3), 14)]
  assert first == again
  other = [ids(b) for b in itertools.islice(pipeline.train_batches(images, 8, seed=4), 14)]
  assert first != other
  resumed = [ids(b) for b in itertools.islice(
      pipeline.train_batches(images, 8, seed=3, start_step=9), 5)]
  assert resumed == first[9:]
  # 50 // 8 = 6 steps an epoch, each image at most once in an epoch, drop_remainder.
  for epoch in (first[:6], first[6:12]):
    seen = sum(epoch, [])
    assert len(seen) == 48 and len(set(seen)) == 48
  assert first[:6] != first[6:12]  # each epoch has its own shuffle


@pytest.mark.parametrize("count,batch_size", [(23, 8), (24, 8), (3, 8), (1, 1)])
def test_eval_batches_count_every_image_once(count, batch_size):
  images = numbered(count)
  seen = []
  for batch, mask in pipeline.eval_batches(images, batch_size):
    assert batch.shape == (batch_size, 4, 4, 1) and batch.dtype == np.float32
    assert mask.shape == (batch_size,) and not batch[~mask].any()
    seen += [i for i, keep in zip(ids(batch), mask) if keep]
  assert seen == list(range(count))


@pytest.mark.parametrize("processes", [2, 4])
def test_process_slices_make_up_the_global_batch(processes):
  images = numbered(37)
  whole = list(itertools.islice(pipeline.train_batches(images, 8, 1, shard=Shard(0, 1)), 5))
  parts = [list(itertools.islice(pipeline.train_batches(images, 8, 1, shard=Shard(p, processes)),
                                 5)) for p in range(processes)]
  for step, batch in enumerate(whole):
    np.testing.assert_array_equal(np.concatenate([part[step] for part in parts]), batch)
  whole_eval = list(pipeline.eval_batches(images, 8, Shard(0, 1)))
  parts_eval = [list(pipeline.eval_batches(images, 8, Shard(p, processes)))
                for p in range(processes)]
  for i, (batch, mask) in enumerate(whole_eval):
    np.testing.assert_array_equal(np.concatenate([part[i][0] for part in parts_eval]), batch)
    np.testing.assert_array_equal(np.concatenate([part[i][1] for part in parts_eval]), mask)
  with pytest.raises(ValueError, match="not divisible by the 3 processes"):
    next(pipeline.train_batches(images, 8, 1, shard=Shard(0, 3)))


def test_single_process_default_matches_the_unsharded_batches():
  images = numbered(30)
  default = next(pipeline.train_batches(images, 6, 2, start_step=7))
  explicit = next(pipeline.train_batches(images, 6, 2, start_step=7, shard=Shard(0, 1)))
  np.testing.assert_array_equal(default, explicit)
  np.testing.assert_array_equal(
      default, pipeline.to_float(images[np.sort(pipeline.train_batch_indices(30, 6, 2, 7))]))


def test_prefetch_keeps_order_and_raises_worker_errors():
  assert list(pipeline.prefetch(iter(range(10)), transform=lambda x: x * 2)) == list(
      range(0, 20, 2))

  def broken():
    yield 1
    raise RuntimeError("boom")

  with pytest.raises(RuntimeError, match="boom"):
    list(pipeline.prefetch(broken()))
