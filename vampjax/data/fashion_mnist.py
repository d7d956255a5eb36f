"""Fashion-MNIST from its IDX files (Debian's `dataset-fashion-mnist` installs them)."""

from __future__ import annotations

import os

import ml_collections
import numpy as np

from vampjax.data import idx, mnist
from vampjax.data.dataset import DataError, Dataset

DEFAULT_PATH = "/usr/share/datasets/fashion-mnist"
FILES = {"train": "train-images-idx3-ubyte", "test": "t10k-images-idx3-ubyte"}


def find(folder: str, stem: str) -> str:
  """`stem.gz` or `stem` in `folder`."""
  for name in (stem + ".gz", stem):
    if os.path.isfile(os.path.join(folder, name)):
      return os.path.join(folder, name)
  raise DataError(f"{os.path.join(folder, stem)}[.gz] is missing; install Fashion-MNIST "
                  "(apt-get install dataset-fashion-mnist) or set data.path to its folder.")


def read_images(path: str) -> np.ndarray:
  images = idx.read_idx(path)
  if images.ndim != 3 or images.dtype.kind != "u" or images.dtype.itemsize != 1:
    raise DataError(f"{path} holds {images.dtype} {images.shape}, not uint8 N×H×W images; "
                    "point data.path at the image files, not the label files.")
  return images


def load(data_config: ml_collections.ConfigDict) -> Dataset:
  if data_config.channels != 1:
    raise DataError(f"data.channels={data_config.channels}, but Fashion-MNIST is grayscale; "
                    "set 1.")
  folder = data_config.get("path", "") or DEFAULT_PATH
  if not os.path.isdir(folder):
    raise DataError(f"Fashion-MNIST folder {folder} does not exist; apt-get install "
                    "dataset-fashion-mnist, or set data.path to the folder of its IDX files.")
  train, test = (read_images(find(folder, FILES[split])) for split in ("train", "test"))
  return Dataset("fashion_mnist", mnist.pad_to(train, data_config.image_size, "Fashion-MNIST"),
                 mnist.pad_to(test, data_config.image_size, "Fashion-MNIST"))
