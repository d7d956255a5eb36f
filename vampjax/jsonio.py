"""Files written atomically (a temporary file, then a rename), and JSON read back.

A reader, or a run killed or interrupted mid-write, sees the old file or the new one,
never half of one.
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any, Iterator


@contextlib.contextmanager
def atomic_path(path: str) -> Iterator[str]:
  """A temporary path of this process to write `path` to: renamed to `path` once the block
  ends, removed if it raises (Ctrl-C included)."""
  tmp = f"{path}.tmp{os.getpid()}"
  try:
    yield tmp
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)


def write_text_atomic(path: str, text: str) -> str:
  """Writes `text` to `path` through a temporary file of this process; returns `path`."""
  with atomic_path(path) as tmp, open(tmp, "w") as f:
    f.write(text)
  return path


def write_json_atomic(path: str, value: Any, indent: int | None = 2) -> str:
  """`value` as JSON at `path`, creating its folder; returns `path`."""
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  return write_text_atomic(path, json.dumps(value, indent=indent))


def read_text(path: str) -> str | None:
  """The text in `path`, or None when there is no such file."""
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return f.read()


def read_json(path: str) -> Any | None:
  """The JSON value in `path`, or None when there is no such file."""
  text = read_text(path)
  return None if text is None else json.loads(text)
