"""Data sources, chosen by `config.data.name`, all returning a `Dataset` of uint8 images.

A source is a function `load(config.data) -> Dataset`; `pipeline.py` turns the arrays
into batches. New sources register themselves in `SOURCES`.
"""

from __future__ import annotations

from typing import Callable

import ml_collections

from vampjax.data.dataset import Dataset, DataError
from vampjax.data import (celeba, celeba_sample, fashion_mnist, image_folder, images, mnist,
                          mnist_binary)

SOURCES: dict[str, Callable[[ml_collections.ConfigDict], Dataset]] = {
    "mnist": mnist.load,
    "mnist_binary": mnist_binary.load,
    "fashion_mnist": fashion_mnist.load,
    "fashion_mnist_binary": fashion_mnist.load_binary,
    "celeba_sample": celeba_sample.load,
    "celeba": celeba.load,
    "image_folder": image_folder.load,
}


def get_dataset(config: ml_collections.ConfigDict) -> Dataset:
  """The train and test images that `config.data` names, checked against its shape."""
  name = config.data.name
  if name not in SOURCES:
    raise DataError(f"data.name={name!r} is not a known source; use one of {sorted(SOURCES)}.")
  images.check_config(config.data)
  dataset = SOURCES[name](config.data)
  want = (config.data.image_size, config.data.image_size, config.data.channels)
  if dataset.image_shape != want or dataset.train.dtype != "uint8":
    raise DataError(f"data.name={name} gave {dataset.train.dtype} images of shape "
                    f"{dataset.image_shape}, not uint8 {want}; check data.image_size and "
                    "data.channels (or clear data.cache_dir).")
  return dataset


__all__ = ["Dataset", "DataError", "SOURCES", "get_dataset"]
