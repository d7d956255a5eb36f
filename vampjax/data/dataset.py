"""The container every data source returns."""

from __future__ import annotations

import dataclasses

import numpy as np


class DataError(Exception):
  """Bad or missing data; the message names the problem and the fix."""


@dataclasses.dataclass(frozen=True)
class Dataset:
  """Train and test images, uint8 (N, H, W, C), already cropped, resized and padded."""

  name: str
  train: np.ndarray
  test: np.ndarray

  @property
  def image_shape(self) -> tuple[int, int, int]:
    return tuple(self.train.shape[1:])
