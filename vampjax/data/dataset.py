"""The container every data source returns."""

from __future__ import annotations

import dataclasses

import numpy as np


class DataError(Exception):
  """Bad or missing data; the message names the problem and the fix."""


@dataclasses.dataclass(frozen=True)
class Dataset:
  """Train and test images, uint8 (N, H, W, C), already cropped, resized and padded.

  `skipped` counts input files left out with a warning (unreadable, too small, ...), so
  callers and tests can see that the data is not the whole folder. `validation` holds the
  images early stopping watches, for sources that define such a split (else None).
  """

  name: str
  train: np.ndarray
  test: np.ndarray
  skipped: int = 0
  validation: np.ndarray | None = None

  @property
  def image_shape(self) -> tuple[int, int, int]:
    return tuple(self.train.shape[1:])
