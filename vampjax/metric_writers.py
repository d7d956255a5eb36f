"""Where the training loop's metrics go: one `write(step, split, metrics)` per record.

`MetricsWriter` appends JSON lines to `<workdir>/metrics.jsonl`, the file the figures read.
`TensorBoardWriter` writes TensorBoard event files in `<workdir>/tensorboard/` with
tensorboardX (no TensorFlow), images too (`vampjax.pictures` computes them):
`tensorboard --logdir runs/` shows every run.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import numpy as np

from vampjax import jsonio
from vampjax import workdir as workdir_lib
from vampjax.figures import image_grid, paired_rows


def _import_tensorboardx_without_torch() -> Any:
  """tensorboardX, kept from importing PyTorch when it is installed: its writer imports torch
  only to accept torch tensors, which vampjax never passes, and that import made every
  vampjax command start seconds later. A torch the process had already imported is left
  alone."""
  if "torch" in sys.modules:
    import tensorboardX  # pylint: disable=import-outside-toplevel
    return tensorboardX
  sys.modules["torch"] = None  # `import torch` raises ImportError while this is set
  try:
    import tensorboardX  # pylint: disable=import-outside-toplevel
  finally:
    del sys.modules["torch"]
  return tensorboardX


tensorboardX = _import_tensorboardx_without_torch()
TENSORBOARD_DIR = "tensorboard"


class MetricsWriter:
  """Appends one JSON object per logged step to `<workdir>/metrics.jsonl`."""

  def __init__(self, workdir: str, resume_step: int):
    self.path = os.path.join(workdir, workdir_lib.METRICS_FILE)
    self._drop_after(resume_step)

  def _drop_after(self, step: int) -> None:
    """On resume, forget lines logged after the checkpoint: those steps are run again."""
    if not os.path.exists(self.path):
      return
    with open(self.path) as f:
      kept = [line for line in f if line.strip() and json.loads(line)["step"] <= step]
    jsonio.write_text_atomic(self.path, "".join(kept))

  def write(self, step: int, split: str, metrics: dict[str, Any]) -> None:
    record = {"step": step, "split": split,
              **{name: float(value) for name, value in metrics.items()}}
    with open(self.path, "a") as f:
      f.write(json.dumps(record) + "\n")


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

  def write_pictures(self, step: int, samples: np.ndarray, originals: np.ndarray,
                     reconstructions: np.ndarray) -> None:
    """Prior samples, and test images above their reconstructions (`make_pictures`)."""
    self.write_images(step, "prior_samples", samples)
    self.write_images(step, "reconstructions", paired_rows(originals, reconstructions, 8), 8)

  def close(self) -> None:
    self._writer.close()

