"""Any folder of JPEG/PNG/PGM images (e.g. CelebA's img_align_celeba), split by the official
CelebA partition file when there is one, otherwise by a stable hash of each file name."""

from __future__ import annotations

import hashlib
import os

import ml_collections
import numpy as np

from vampjax.data import images
from vampjax.data.dataset import DataError, Dataset

PARTITION_FILE = "list_eval_partition.txt"
TRAIN, VALIDATION, TEST = 0, 1, 2  # the partition file's codes


def list_images(folder: str) -> list[str]:
  """Relative paths (with '/') of every image file under `folder`, sorted."""
  found = []
  for root, dirs, files in os.walk(folder):
    dirs[:] = sorted(d for d in dirs if not d.startswith("."))
    for name in files:
      if name.lower().endswith(images.IMAGE_EXTENSIONS) and not name.startswith("."):
        found.append(os.path.relpath(os.path.join(root, name), folder).replace(os.sep, "/"))
  return sorted(found)


def find_partition_file(data_config: ml_collections.ConfigDict, folder: str) -> str | None:
  """data.partition_file if set (it must exist), else list_eval_partition.txt in the folder
  or next to it (CelebA's layout), else None."""
  given = data_config.get("partition_file", "")
  if given:
    if not os.path.isfile(given):
      raise DataError(f"data.partition_file={given} does not exist; give the path of "
                      f"CelebA's {PARTITION_FILE} or set it to '' for a hash split.")
    return given
  for candidate in (os.path.join(folder, PARTITION_FILE),
                    os.path.join(os.path.dirname(os.path.abspath(folder)), PARTITION_FILE)):
    if os.path.isfile(candidate):
      return candidate
  return None


def read_partition(path: str) -> dict[str, int]:
  """file name -> 0 (train), 1 (validation) or 2 (test), from lines like '000001.jpg 0'.

  Validation images and files the partition does not list are left out of both splits.
  """
  partition = {}
  with open(path) as f:
    for number, line in enumerate(f, 1):
      fields = line.split()
      if not fields:
        continue
      if len(fields) != 2 or fields[1] not in ("0", "1", "2"):
        raise DataError(f"{path} line {number} is {line.strip()!r}, not '<file> <0|1|2>'; "
                        "fix the partition file or set data.partition_file to another one.")
      partition[fields[0]] = int(fields[1])
  if not partition:
    raise DataError(f"partition file {path} is empty; fix it or remove it for a hash split.")
  return partition


def _fingerprint(folder: str, files: list[str]) -> str:
  """Changes when any file is added, removed or rewritten: the cache key's data part."""
  digest = hashlib.sha256()
  for name in files:
    stat = os.stat(os.path.join(folder, name))
    digest.update(f"{name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
  return digest.hexdigest()


def build(name: str, folder: str, files: list[str], test_mask: np.ndarray,
          data_config: ml_collections.ConfigDict, crop: int, split: str) -> Dataset:
  """Decodes `files` (relative to `folder`) into train and test arrays, through the cache."""
  size, channels = data_config.image_size, data_config.channels
  cache_dir = data_config.get("cache_dir", "")
  key = images.cache_key({"source": name, "folder": os.path.abspath(folder), "crop": crop,
                          "size": size, "channels": channels, "split": split,
                          "files": _fingerprint(folder, files) if cache_dir else ""})
  cached = images.load_cache(cache_dir, name, key)
  if cached is not None:
    return cached
  decoded, ok, problems = images.decode_all(
      files, lambda f: images.open_image(os.path.join(folder, f)), files, crop, size,
      channels, images.num_workers(data_config))
  images.check_skipped(folder, len(files), problems, data_config.get("max_bad_fraction", 0.01))
  train, test = decoded[ok & ~test_mask], decoded[ok & test_mask]
  if len(train) == 0 or len(test) == 0:
    raise DataError(f"{folder} gives {len(train)} train and {len(test)} test images; both "
                    "need at least one: add images or change data.test_fraction.")
  dataset = Dataset(name, train, test, len(problems))
  images.save_cache(cache_dir, dataset, key)
  return dataset


def load(data_config: ml_collections.ConfigDict) -> Dataset:
  folder = data_config.get("path", "")
  if not folder:
    raise DataError("data.name=image_folder needs a folder: set --config.data.path=/path/to/"
                    "images (JPEG/PNG/PGM, e.g. img_align_celeba).")
  if not os.path.isdir(folder):
    raise DataError(f"data.path={folder} is not an existing folder; check the path.")
  files = list_images(folder)
  if not files:
    raise DataError(f"data.path={folder} holds no JPEG/PNG/PGM images; point data.path at "
                    "the folder that contains them.")
  crop = images.crop_size(data_config, 0)
  partition_path = find_partition_file(data_config, folder)
  if partition_path is None:
    fraction = data_config.get("test_fraction", 0.1)
    if not 0.0 < fraction < 1.0:
      raise DataError(f"data.test_fraction={fraction} must lie strictly between 0 and 1.")
    return build("image_folder", folder, files, images.hash_split(files, fraction),
                 data_config, crop, f"hash:{fraction}")
  partition = read_partition(partition_path)
  codes = [partition.get(name, partition.get(os.path.basename(name))) for name in files]
  keep = [i for i, code in enumerate(codes) if code in (TRAIN, TEST)]
  if not keep:
    raise DataError(f"none of the {len(files)} images in {folder} is listed as train or "
                    f"test in {partition_path}; use the partition file of these images, or "
                    "move it away for a hash split.")
  files = [files[i] for i in keep]
  test_mask = np.array([codes[i] == TEST for i in keep], bool)
  split = "partition:" + _fingerprint(os.path.dirname(os.path.abspath(partition_path)),
                                       [os.path.basename(partition_path)])
  return build("image_folder", folder, files, test_mask, data_config, crop, split)
