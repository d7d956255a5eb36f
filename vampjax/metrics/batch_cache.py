"""Each batch's results of a long evaluation kept on disk, so an interrupted one resumes.

An IS-NLL at S = 5000 over 10 000 images takes most of an hour on a CPU; without this a
Ctrl-C or a session's end at 99% starts it over. The cache is valid for one key (a digest of
the weights, the images, the settings, the key of the randomness and the JAX version), so a
stale batch is never mixed in.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
from typing import Any

import jax
import numpy as np
from flax import traverse_util

from vampjax import jsonio

KEY_CHARS = 32  # of the sha256 hex digest, in each batch file's name


def digest(*parts: Any) -> str:
  """sha256 over the bytes of every array leaf and the text of every other leaf of `parts`,
  and the JAX version."""
  h = hashlib.sha256(jax.__version__.encode())
  for leaf in jax.tree_util.tree_leaves(parts):
    if isinstance(leaf, (np.ndarray, jax.Array)):
      array = np.asarray(jax.device_get(leaf))
      h.update(f"{array.dtype}{array.shape}".encode())
      h.update(np.ascontiguousarray(array).tobytes())
    else:
      h.update(repr(leaf).encode())
  return h.hexdigest()


class BatchCache:
  """Batch i's host results in `<directory>/batch_<key prefix>_<i>.npz`.

  The key is in every file's name, so a batch of another key (another evaluation writing the
  same directory, or a stale one) is never read; opening the cache removes those. One
  process only: with several, each would decide alone which batches to skip (evaluate
  caches nothing then).
  """

  def __init__(self, directory: str, key: str):
    self.directory, self.prefix = directory, f"batch_{key[:KEY_CHARS]}_"
    self.read: list[int] = []  # the batches `get` found, in the order asked
    for path in self.existing(directory):
      if not os.path.basename(path).startswith(self.prefix):
        os.remove(path)

  def _path(self, index: int) -> str:
    return os.path.join(self.directory, f"{self.prefix}{index:05d}.npz")

  @staticmethod
  def existing(directory: str) -> list[str]:
    """The batch files in `directory`, of any key."""
    return glob.glob(os.path.join(directory, "batch_*.npz"))

  def __len__(self) -> int:
    return len(glob.glob(os.path.join(self.directory, f"{self.prefix}*.npz")))

  def get(self, index: int) -> dict[str, Any] | None:
    """Batch `index`'s results (a nested dict of arrays), or None when it has not run."""
    path = self._path(index)
    if not os.path.exists(path):
      return None
    self.read.append(index)
    with np.load(path) as stored:
      return traverse_util.unflatten_dict({name: stored[name] for name in stored.files},
                                          sep="/")

  def put(self, index: int, results: dict[str, Any]) -> None:
    """Keeps batch `index`'s results (the directory is made by the first batch)."""
    os.makedirs(self.directory, exist_ok=True)
    flat = traverse_util.flatten_dict(results, sep="/")
    with jsonio.atomic_path(self._path(index)) as tmp, open(tmp, "wb") as f:
      np.savez(f, **{name: np.asarray(value) for name, value in flat.items()})


def remove(directory: str) -> None:
  """Removes a cache's directory: for the caller, once the evaluation's results are written."""
  shutil.rmtree(directory, ignore_errors=True)
