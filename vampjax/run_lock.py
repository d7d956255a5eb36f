"""One training per workdir: `<workdir>/.lock`, held for the whole run.

The lock is an exclusive `fcntl.flock` on the file, which the kernel drops when its
process dies however it dies (SIGKILL included), so a lock can never outlive its run; the
file names the holder (pid, host, start time) for the message a second training prints.
A file left behind by a run that died is found unlocked: it is reported and taken over.
With several processes, process 0 takes the lock and all processes agree on the outcome.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import sys
import time

import jax
import numpy as np
from jax.experimental import multihost_utils

from vampjax.workdir import WorkdirError

LOCK_FILE = ".lock"


class RunLock:
  """An exclusive lock on `<workdir>/.lock`; a context manager that releases it on exit."""

  def __init__(self, workdir: str):
    self.path = os.path.join(workdir, LOCK_FILE)
    self._fd: int | None = None

  def acquire(self) -> RunLock:
    """Takes the lock, or raises WorkdirError naming the run that holds it."""
    os.makedirs(os.path.dirname(self.path), exist_ok=True)
    while True:
      fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
      try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
      except BlockingIOError:
        holder = os.read(fd, 1024).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise WorkdirError(  # pylint: disable=raise-missing-from
            f"{os.path.dirname(self.path)} is in use by another training ({holder}); wait "
            "for it to end, or use another --workdir.")
      try:
        same_file = os.fstat(fd).st_ino == os.stat(self.path).st_ino
      except FileNotFoundError:
        same_file = False
      if same_file:
        break
      os.close(fd)  # the holder released and removed the file meanwhile: lock the new one
    left = os.read(fd, 1024).decode(errors="replace").strip()
    if left:
      print(f"{self.path} was left by a run that ended without releasing it ({left}); "
            "taking it over.", file=sys.stderr)
    os.ftruncate(fd, 0)
    os.pwrite(fd, (f"pid {os.getpid()} on {socket.gethostname()}, since "
                   f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n").encode(), 0)
    os.fsync(fd)
    self._fd = fd
    return self

  def release(self) -> None:
    if self._fd is None:
      return
    os.remove(self.path)  # before unlocking: a waiting opener then sees another inode
    os.close(self._fd)
    self._fd = None

  def __enter__(self) -> RunLock:
    return self.acquire() if self._fd is None else self

  def __exit__(self, *exc_info) -> None:
    self.release()


def holder(workdir: str) -> str | None:
  """Who trains in `workdir` now (pid, host, start), or None when no run holds its lock.

  Tests the lock with a shared, non-blocking flock released at once: a training starting in
  those microseconds would be refused with the usual message."""
  path = os.path.join(workdir, LOCK_FILE)
  try:
    fd = os.open(path, os.O_RDONLY)
  except FileNotFoundError:
    return None
  try:
    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
  except BlockingIOError:
    return os.read(fd, 1024).decode(errors="replace").strip() or "another process"
  else:
    fcntl.flock(fd, fcntl.LOCK_UN)
    return None  # a file left by a run that died
  finally:
    os.close(fd)


def lock_run(workdir: str) -> contextlib.AbstractContextManager:
  """Process 0's lock on `workdir`, taken (a no-op context on other processes); every
  process raises WorkdirError when the workdir is in use, so none waits in a collective."""
  lock, error = None, None
  if jax.process_index() == 0:
    try:
      lock = RunLock(workdir).acquire()
    except WorkdirError as e:
      error = e
  if jax.process_count() > 1:
    refused = multihost_utils.broadcast_one_to_all(np.int32(error is not None))
    if refused and error is None and lock is None:
      error = WorkdirError(f"{workdir} is in use by another training (process 0 found "
                           "its lock); wait for it to end, or use another --workdir.")
  if error is not None:
    raise error
  return lock or contextlib.nullcontext()
