"""Data sources, chosen by `config.data.name`, all returning a `Dataset` of uint8 images.

A source is a function `load(config.data) -> Dataset`; `pipeline.py` turns the arrays
into batches. New sources register themselves in `SOURCES`.
"""

from __future__ import annotations

from typing import Callable

import ml_collections

from vampjax.data.dataset import Dataset, DataError
from vampjax.data import mnist

SOURCES: dict[str, Callable[[ml_collections.ConfigDict], Dataset]] = {
    "mnist": mnist.load,
}


def get_dataset(config: ml_collections.ConfigDict) -> Dataset:
  """The train and test images that `config.data` names."""
  name = config.data.name
  if name not in SOURCES:
    raise DataError(f"data.name={name!r} is not a known source; use one of {sorted(SOURCES)}.")
  return SOURCES[name](config.data)


__all__ = ["Dataset", "DataError", "SOURCES", "get_dataset"]
