"""TensorBoard event files in `<workdir>/tensorboard/`, written with tensorboardX (no
TensorFlow): `tensorboard --logdir runs/` shows every run's curves and images."""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np
import tensorboardX

from vampjax.figures import image_grid

TENSORBOARD_DIR = "tensorboard"


class TensorBoardWriter:
  """Scalars as `<split>/<name>`, image grids as `images/<name>`, against the train step.

  On resume, events after the checkpoint's step are purged from view: those steps are
  run again, as in metrics.jsonl. Each session writes its own file, named in time order
  to the nanosecond (tensorboardX's own name has only the second, and a session started
  within the same second would overwrite the last one's file).
  """

  def __init__(self, workdir: str, resume_step: int):
    self._writer = tensorboardX.SummaryWriter(
        os.path.join(workdir, TENSORBOARD_DIR), purge_step=resume_step + 1,
        filename_suffix=f".{time.time_ns()}")

  def write(self, step: int, split: str, metrics: dict[str, Any]) -> None:
    for name, value in metrics.items():
      self._writer.add_scalar(f"{split}/{name}", float(value), step)

  def write_images(self, step: int, name: str, images: np.ndarray,
                   columns: int | None = None) -> None:
    """images: (N, H, W, C) in [0, 1], shown as one grid, as in the PNG figures."""
    grid = np.clip(image_grid(np.asarray(images, np.float32), columns), 0.0, 1.0)
    self._writer.add_image(f"images/{name}", np.round(grid * 255).astype(np.uint8), step,
                           dataformats="HWC")

  def flush(self) -> None:
    self._writer.flush()

  def close(self) -> None:
    self._writer.close()
