"""Each batch's results of a long evaluation kept on disk, so an interrupted one resumes.

An IS-NLL at S = 5000 over 10 000 images takes most of an hour on a CPU; without this a
Ctrl-C or a session's end at 99% starts it over. The cache is valid for one key (a digest of
the weights, the images, the settings and the key of the randomness): a directory written
under another key is emptied first, so a stale batch is never mixed in.
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

KEY_FILENAME = "key.txt"


def digest(*parts: Any) -> str:
  """sha256 over the bytes of every array leaf and the text of every other leaf of `parts`."""
  h = hashlib.sha256()
  for leaf in jax.tree_util.tree_leaves(parts):
    if isinstance(leaf, (np.ndarray, jax.Array)):
      array = np.asarray(jax.device_get(leaf))
      h.update(f"{array.dtype}{array.shape}".encode())
      h.update(np.ascontiguousarray(array).tobytes())
    else:
      h.update(repr(leaf).encode())
  return h.hexdigest()


class BatchCache:
  """Batch i's host results in `<directory>/batch_<i>_p<process>.npz`, valid for `key`."""

  def __init__(self, directory: str, key: str):
    self.directory, self.key = directory, key
    if os.path.isdir(directory) and jsonio.read_text(self._key_path) != key:
      shutil.rmtree(directory)

  @property
  def _key_path(self) -> str:
    return os.path.join(self.directory, KEY_FILENAME)

  def _path(self, index: int) -> str:
    return os.path.join(self.directory, f"batch_{index:05d}_p{jax.process_index()}.npz")

  @staticmethod
  def existing(directory: str) -> list[str]:
    """This process's batch files in `directory`."""
    return glob.glob(os.path.join(directory, f"batch_*_p{jax.process_index()}.npz"))

  def __len__(self) -> int:
    return len(self.existing(self.directory))

  def get(self, index: int) -> dict[str, Any] | None:
    """Batch `index`'s results (a nested dict of arrays), or None when it has not run."""
    path = self._path(index)
    if not os.path.exists(path):
      return None
    with np.load(path) as stored:
      return traverse_util.unflatten_dict({name: stored[name] for name in stored.files},
                                          sep="/")

  def put(self, index: int, results: dict[str, Any]) -> None:
    """Keeps batch `index`'s results (the directory is made by the first batch)."""
    if not os.path.exists(self._key_path):
      os.makedirs(self.directory, exist_ok=True)
      jsonio.write_text_atomic(self._key_path, self.key)
    flat = traverse_util.flatten_dict(results, sep="/")
    with jsonio.atomic_path(self._path(index)) as tmp, open(tmp, "wb") as f:
      np.savez(f, **{name: np.asarray(value) for name, value in flat.items()})

  def clear(self) -> None:
    """Removes the directory: called once the evaluation's results are written."""
    shutil.rmtree(self.directory, ignore_errors=True)
