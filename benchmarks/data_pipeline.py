"""Images/s of the data pipeline: MNIST, and a generated folder of CelebA-sized JPEGs
preprocessed to 64×64 (decode with 1 and with all threads, then from the .npy cache);
load times are the best of 3.

  python -m benchmarks.data_pipeline [--num_images=2000] [--batch_size=64]

Batches/s are measured for `train_batches` (index, uint8 -> float32) behind `prefetch`,
i.e. what the training loop waits for; the model step is not included.
"""

from __future__ import annotations

import argparse
import itertools
import os
import tempfile
import time

import numpy as np
from PIL import Image

from configs import default
from vampjax import data
from vampjax.data import pipeline


def batch_rate(images: np.ndarray, batch_size: int, steps: int) -> float:
  """Training images/s delivered by the prefetched host pipeline."""
  batches = pipeline.prefetch(pipeline.train_batches(images, batch_size, seed=0))
  next(batches)
  start = time.perf_counter()
  for _ in itertools.islice(batches, steps):
    pass
  return steps * batch_size / (time.perf_counter() - start)


def make_folder(folder: str, count: int) -> None:
  """CelebA-like 178×218 JPEGs of smooth random colour fields (realistic JPEG sizes)."""
  rng = np.random.default_rng(0)
  for i in range(count):
    small = rng.integers(0, 256, (14, 12, 3), dtype=np.uint8)
    image = Image.fromarray(small).resize((178, 218), Image.Resampling.BICUBIC)
    image.save(os.path.join(folder, f"{i:06d}.jpg"), quality=90)


def timed_load(config, repeats: int = 3) -> tuple[data.Dataset, float]:
  """The dataset and the best of `repeats` load times (the machine is noisy)."""
  best = float("inf")
  for _ in range(repeats):
    start = time.perf_counter()
    dataset = data.get_dataset(config)
    best = min(best, time.perf_counter() - start)
  return dataset, best


def main(argv: list[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--num_images", type=int, default=2000)
  parser.add_argument("--batch_size", type=int, default=64)
  parser.add_argument("--steps", type=int, default=300)
  args = parser.parse_args(argv)

  config = default.get_config()
  mnist, seconds = timed_load(config)
  count = len(mnist.train) + len(mnist.test)
  print(f"mnist: load {count} images in {seconds:.2f} s ({count / seconds:,.0f} images/s); "
        f"batches {batch_rate(mnist.train, args.batch_size, args.steps):,.0f} images/s")

  with tempfile.TemporaryDirectory() as tmp:
    folder = os.path.join(tmp, "images")
    os.makedirs(folder)
    make_folder(folder, args.num_images)
    config.data.name, config.data.path = "image_folder", folder
    config.data.image_size, config.data.channels, config.data.crop_size = 64, 3, 140
    for workers in (1, os.cpu_count() or 1):
      config.data.num_workers = workers
      folder_data, seconds = timed_load(config)
      print(f"image_folder 178×218 JPEG -> 64×64×3, {workers} thread(s): decode "
            f"{args.num_images} images in {seconds:.2f} s ({args.num_images / seconds:,.0f} "
            "images/s)")
    config.data.cache_dir = os.path.join(tmp, "cache")
    timed_load(config, repeats=1)  # writes the cache
    folder_data, seconds = timed_load(config)
    print(f"image_folder from the .npy cache: {args.num_images / seconds:,.0f} images/s; "
          f"batches {batch_rate(folder_data.train, args.batch_size, args.steps):,.0f} images/s")


if __name__ == "__main__":
  main()
