"""Where the training loop's metrics go: one `write(step, split, metrics)` per record.

`MetricsWriter` appends JSON lines to `<workdir>/metrics.jsonl`, the file the figures read.
"""

from __future__ import annotations

import json
import os
from typing import Any

from vampjax import jsonio
from vampjax import workdir as workdir_lib


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
