"""The training data of `steps_per_call` steps, fed to one jitted call (train.make_multi_step).

Dynamically binarized sources (the paper's MNIST): the grey images live on the device; a
call receives only the batch indices of its steps, in the host pipeline's per-epoch order
(`pipeline.index_batches`), and draws each pixel ~ Bernoulli(grey) on the device from a key
that is a function of (seed, step) alone. So every `steps_per_call`, and any number of
devices or processes, trains on the same batches. Other sources: the host pipeline's
batches of a call, stacked into one block (steps, batch, H, W, C) and put on the devices
ahead of time by `pipeline.prefetch`.
"""

from __future__ import annotations

from typing import Iterable, Iterator, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from jax.sharding import Mesh

from vampjax import sharding
from vampjax.data import pipeline

BINARIZATION_STREAM = 0x62696E  # "bin": folded into key(seed), apart from state.rng_streams


def binarization_key(seed: int, step: jax.Array | int) -> jax.Array:
  """The key of the pixel draw of the batch at pipeline `step` (train step `step` + 1)."""
  root = jax.random.fold_in(jax.random.key(seed), BINARIZATION_STREAM)
  return jax.random.fold_in(root, step)


def binarize(grey: jax.Array, key: jax.Array) -> jax.Array:
  """Each pixel 1 with probability `grey` (float32 in [0, 1]), else 0."""
  return (jax.random.uniform(key, grey.shape) < grey).astype(jnp.float32)


def binarized_batch(images: jax.Array, indices: jax.Array, seed: int,
                    step: jax.Array | int) -> jax.Array:
  """The binarized training batch of pipeline `step`: uint8 `images` on the device, its
  sorted `indices` (pipeline.index_batches); float32 {0, 1}."""
  return binarize(pipeline.to_float(images[indices]), binarization_key(seed, step))


class TrainFeed(NamedTuple):
  """What a training run's calls take: `images` (the grey training images on the devices,
  for dynamic binarization; else None) and one device block per call."""

  images: jax.Array | None
  blocks: Iterator[jax.Array]


def train_feed(config: ml_collections.ConfigDict, train_images: np.ndarray, start_step: int,
               call_sizes: Iterable[int], mesh: Mesh) -> TrainFeed:
  """The blocks of the calls, `call_sizes` steps each, from pipeline step `start_step`:
  (size, batch) int32 indices, replicated, with dynamic binarization; otherwise
  (size, batch, H, W, C) float32 batches, split over the devices along the batch axis."""
  if config.data.dynamic_binarization:
    indices = pipeline.index_batches(len(train_images), config.batch_size, config.seed,
                                     start_step)
    return TrainFeed(sharding.put_replicated(train_images, mesh), pipeline.prefetch(
        pipeline.stacked(indices, call_sizes),
        transform=lambda block: sharding.put_replicated(block, mesh)))
  batches = pipeline.train_batches(train_images, config.batch_size, config.seed, start_step)
  return TrainFeed(None, pipeline.prefetch(
      pipeline.stacked(batches, call_sizes),
      transform=lambda block: sharding.put_batch(block, mesh, axis=1)))


def block_sharding(config: ml_collections.ConfigDict,
                   mesh: Mesh) -> jax.sharding.NamedSharding:
  """How `train_feed`'s blocks lie on the devices."""
  return (sharding.replicated(mesh) if config.data.dynamic_binarization
          else sharding.batch_sharded(mesh, axis=1))


def batch_of(config: ml_collections.ConfigDict, images: jax.Array | None, data: jax.Array,
             step: jax.Array) -> jax.Array:
  """Inside a call: the training batch of pipeline `step` from its slice of the block."""
  if images is None:
    return data
  return binarized_batch(images, data, config.seed, step)
