"""Fashion-MNIST from its IDX files (Debian's `dataset-fashion-mnist` installs them): as they
are (`fashion_mnist`) or with the VampPrior paper's binarized protocol (`fashion_mnist_binary`)."""

from __future__ import annotations

import os

import ml_collections
import numpy as np

from vampjax.data import idx, mnist, mnist_binary
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


def read_splits(data_config: ml_collections.ConfigDict) -> tuple[np.ndarray, np.ndarray]:
  """The official 60 000 training and 10 000 test images, uint8 N×28×28, in their order."""
  if data_config.channels != 1:
    raise DataError(f"data.channels={data_config.channels}, but Fashion-MNIST is grayscale; "
                    "set 1.")
  folder = data_config.get("path", "") or DEFAULT_PATH
  if not os.path.isdir(folder):
    raise DataError(f"Fashion-MNIST folder {folder} does not exist; apt-get install "
                    "dataset-fashion-mnist, or set data.path to the folder of its IDX files.")
  train, test = (read_images(find(folder, FILES[split])) for split in ("train", "test"))
  return train, test


def load(data_config: ml_collections.ConfigDict) -> Dataset:
  train, test = read_splits(data_config)
  return Dataset("fashion_mnist", mnist.pad_to(train, data_config.image_size, "Fashion-MNIST"),
                 mnist.pad_to(test, data_config.image_size, "Fashion-MNIST"))


def load_binary(data_config: ml_collections.ConfigDict) -> Dataset:
  """Dynamically binarized Fashion-MNIST with mnist_binary's protocol (the VampPrior paper's):
  train 50 000 grey images binarized at every step, validation (the last 10 000 training
  images) and test binarized once with a fixed seed."""
  train, test = read_splits(data_config)
  return mnist_binary.paper_protocol("fashion_mnist_binary", train, test,
                                     data_config.image_size, "Fashion-MNIST")
