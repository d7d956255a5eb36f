"""Decoding and preprocessing of image files, shared by every image source.

Decoding runs in a thread pool (Pillow releases the GIL while it decodes and resizes), a
file that cannot be used is skipped and counted rather than stopping a 200k-image run,
and the preprocessed arrays can be cached as `.npy` so later runs skip decoding.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import io
import json
import os
from typing import Callable, Sequence

from absl import logging
import numpy as np
from PIL import Image

from vampjax import jsonio
from vampjax.data.dataset import DataError, Dataset

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".pgm", ".ppm", ".pnm")
CACHE_VERSION = 1  # bump when preprocessing changes, so old caches are not reused
_CHUNK = 64  # images per thread-pool task


class SkipImage(Exception):
  """One input file cannot be used; it is left out and counted."""


def check_config(data_config) -> None:
  """Stops at once on settings no source can honour."""
  if data_config.channels not in (1, 3):
    raise DataError(f"data.channels={data_config.channels} is not supported; use 1 or 3.")
  if data_config.image_size <= 0:
    raise DataError(f"data.image_size={data_config.image_size} must be positive (e.g. 32, 64).")


def crop_size(data_config, source_default: int) -> int:
  """data.crop_size, where -1 means the source's own default (140 for CelebA)."""
  size = data_config.get("crop_size", -1)
  return source_default if size < 0 else size


def _to_channels(image: Image.Image, channels: int) -> Image.Image:
  """L or RGB; 16-bit and float images are scaled to 8 bits first."""
  if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
    image = Image.fromarray((np.asarray(image, np.float32) / 257.0).round().clip(0, 255)
                            .astype(np.uint8))
  elif image.mode == "F":
    image = Image.fromarray((np.asarray(image) * 255.0).round().clip(0, 255).astype(np.uint8))
  target = "L" if channels == 1 else "RGB"
  return image if image.mode == target else image.convert(target)


def preprocess(image: Image.Image, crop: int, size: int, channels: int) -> np.ndarray:
  """Centre crop to crop×crop (0: none), channel conversion, bilinear resize to size×size.

  The crop offsets round like torchvision's CenterCrop, the usual CelebA 64×64 recipe.
  """
  try:
    image.load()
  except (OSError, SyntaxError, ValueError) as error:
    raise SkipImage(f"unreadable ({error})") from None
  width, height = image.size
  if crop:
    if width < crop or height < crop:
      raise SkipImage(f"{width}×{height} is smaller than the {crop}×{crop} crop")
    left, top = int(round((width - crop) / 2.0)), int(round((height - crop) / 2.0))
    image = image.crop((left, top, left + crop, top + crop))
  try:
    image = _to_channels(image, channels)
  except (OSError, ValueError) as error:
    raise SkipImage(f"mode {image.mode} cannot be converted to {channels} channels "
                    f"({error})") from None
  if image.size != (size, size):
    image = image.resize((size, size), Image.Resampling.BILINEAR)
  array = np.asarray(image, np.uint8)
  return array[..., None] if array.ndim == 2 else array


def open_image(source: str | bytes) -> Image.Image:
  """A lazily decoded image from a path or encoded bytes."""
  try:
    return Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
  except (OSError, SyntaxError, ValueError) as error:
    raise SkipImage(f"unreadable ({error})") from None


def num_workers(data_config) -> int:
  workers = data_config.get("num_workers", 0)
  return workers if workers > 0 else (os.cpu_count() or 1)


def decode_all(items: Sequence, read: Callable[[object], Image.Image], names: Sequence[str],
               crop: int, size: int, channels: int, workers: int
               ) -> tuple[np.ndarray, np.ndarray, list[tuple[str, str]]]:
  """Decodes and preprocesses `items` in parallel.

  Returns the images (uint8, N×size×size×channels, in input order), a boolean mask of
  the items that worked, and (name, reason) for each skipped one.
  """
  out = np.zeros((len(items), size, size, channels), np.uint8)
  ok = np.zeros(len(items), bool)
  problems: list[tuple[str, str]] = []

  def work(start: int) -> list[tuple[str, str]]:
    bad = []
    for i in range(start, min(start + _CHUNK, len(items))):
      try:
        with read(items[i]) as image:
          out[i] = preprocess(image, crop, size, channels)
        ok[i] = True
      except SkipImage as reason:
        bad.append((names[i], str(reason)))
    return bad

  starts = range(0, len(items), _CHUNK)
  if workers <= 1 or len(items) <= _CHUNK:
    for start in starts:
      problems += work(start)
  else:
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
      for bad in pool.map(work, starts):
        problems += bad
  return out, ok, problems


def check_skipped(where: str, total: int, problems: list[tuple[str, str]],
                  max_bad_fraction: float) -> None:
  """Warns with a count of skipped files; stops when more than the allowed share failed."""
  if not problems:
    return
  examples = "; ".join(f"{name}: {reason}" for name, reason in problems[:3])
  if len(problems) > max_bad_fraction * total:
    raise DataError(f"{len(problems)} of {total} images in {where} cannot be used (e.g. "
                    f"{examples}); fix or remove them, change data.crop_size, or raise "
                    f"data.max_bad_fraction (now {max_bad_fraction}).")
  logging.warning("Skipped %d of %d images in %s (e.g. %s).", len(problems), total, where,
                  examples)


def hash_fraction(name: str) -> float:
  """A stable number in [0, 1) for a file name: the same on every machine and run."""
  return int.from_bytes(hashlib.md5(name.encode()).digest()[:8], "big") / 2.0**64


def hash_split(names: Sequence[str], test_fraction: float) -> np.ndarray:
  """Boolean test mask: a file's side depends only on its own name, so adding files
  never moves another file between train and test."""
  return np.array([hash_fraction(name) < test_fraction for name in names], bool)


def hash_split_exact(names: Sequence[str], num_test: int) -> np.ndarray:
  """Boolean test mask with exactly `num_test` files: those with the smallest hashes."""
  order = np.argsort([hash_fraction(name) for name in names], kind="stable")
  mask = np.zeros(len(names), bool)
  mask[order[:num_test]] = True
  return mask


# The cache: <cache_dir>/<name>-<key>-{train,test}.npy plus a .json written last, so an
# interrupted write is never mistaken for a complete cache.


def cache_key(description: dict) -> str:
  text = json.dumps({"version": CACHE_VERSION, **description}, sort_keys=True)
  return hashlib.sha256(text.encode()).hexdigest()[:16]


def _cache_paths(cache_dir: str, name: str, key: str) -> dict[str, str]:
  stem = os.path.join(cache_dir, f"{name}-{key}")
  return {"train": stem + "-train.npy", "test": stem + "-test.npy", "meta": stem + ".json"}


def load_cache(cache_dir: str, name: str, key: str) -> Dataset | None:
  """The cached dataset, memory-mapped, or None when there is no complete valid cache."""
  if not cache_dir:
    return None
  paths = _cache_paths(cache_dir, name, key)
  if not os.path.exists(paths["meta"]):
    return None
  try:
    meta = jsonio.read_json(paths["meta"])
    train = np.load(paths["train"], mmap_mode="r")
    test = np.load(paths["test"], mmap_mode="r")
    if list(train.shape) != meta["train_shape"] or list(test.shape) != meta["test_shape"]:
      raise ValueError("shapes differ from the metadata")
  except (OSError, ValueError, KeyError) as error:
    logging.warning("Ignoring the broken cache %s (%s); decoding again.", paths["meta"], error)
    return None
  return Dataset(name, train, test, meta.get("skipped", 0))


def save_cache(cache_dir: str, dataset: Dataset, key: str) -> None:
  """Writes the arrays atomically (temporary file, then rename); failures only warn."""
  if not cache_dir:
    return
  paths = _cache_paths(cache_dir, dataset.name, key)
  try:
    os.makedirs(cache_dir, exist_ok=True)
    for split in ("train", "test"):
      tmp = paths[split] + f".tmp{os.getpid()}.npy"
      np.save(tmp, getattr(dataset, split))
      os.replace(tmp, paths[split])
    meta = {"train_shape": list(dataset.train.shape), "test_shape": list(dataset.test.shape),
            "skipped": dataset.skipped}
    jsonio.write_json_atomic(paths["meta"], meta, indent=None)
  except OSError as error:
    logging.warning("Could not write the data cache in %s (%s); continuing without it.",
                    cache_dir, error)
