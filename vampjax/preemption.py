"""Stopping a training cleanly on SIGTERM (a preempted or cancelled job) or SIGINT (Ctrl-C).

The first signal only sets a flag: the loop finishes the step in flight, saves a
checkpoint of that step, waits for it, and raises `Preempted`; main.py prints its one
line and exits with 128 + the signal's number (143 for SIGTERM, 130 for SIGINT), as a
shell reports a process killed by that signal. A second signal aborts at once with the
same status, whatever the main thread is doing (a slow step, a save), unless it is the same
signal within DEBOUNCE_SECONDS of the first: that is one request delivered twice, as
`timeout -s INT` does (to the process, then to its group). Python runs signal
handlers only between bytecodes of the main thread, and coalesces two signals that come
while it is blocked in XLA or orbax, so the signals are counted by a watcher thread that
reads the byte the interpreter writes for each of them (`signal.set_wakeup_fd`).

With several processes, each may get the signal at a different step (or only one gets
it), and all must stop at the same step to save the same checkpoint. So they agree at
steps all of them know in advance: at each agreement (one small all-gather) they exchange
their flags and their seconds per step since the last one; the slowest pace, the same on
every process, sets the next agreement `sync_seconds` later in steps (at least the next
step). A stop therefore waits about `sync_seconds` (plus one step) on fast steps, and no
extra step on slow ones, which agree at every step.
"""

from __future__ import annotations

import math
import os
import signal
import sys
import threading
import time

import jax
import numpy as np
from jax.experimental import multihost_utils

SIGNALS = (signal.SIGTERM, signal.SIGINT)
# A repeat of the first signal this soon is the same request. Duplicates come microseconds
# apart and the watcher reads them within a thread switch (5 ms, tens on a loaded machine);
# a person who reads "send it again to abort" and presses again takes longer than this.
DEBOUNCE_SECONDS = 0.3


class Preempted(Exception):
  """Training stopped on a signal after saving a checkpoint; exit with `exit_status`."""

  def __init__(self, step: int, signum: int):
    self.step, self.signum = step, signum
    self.exit_status = 128 + signum
    super().__init__(f"stopped at step {step} ({signal.Signals(signum).name}); checkpoint "
                     "saved; run the same command to resume")


class StopRequest:
  """A context in which SIGTERM and SIGINT ask the loop to stop instead of killing it.

  Handlers are installed only in the main thread (Python allows no other); elsewhere the
  signals keep their usual effect. The previous handlers are restored on exit.
  """

  def __init__(self, sync_seconds: float = 0.0):
    self.sync_seconds = sync_seconds
    self.signum = 0
    self._first: tuple[int, float] | None = None  # the watcher's first signal, and when
    self._previous: dict[int, object] = {}
    self._previous_wakeup_fd = -1
    self._pipe: tuple[int, int] | None = None
    self._watcher: threading.Thread | None = None
    self._next_sync, self._synced_step, self._synced_at = 0, 0, time.monotonic()

  def _handle(self, signum: int, frame) -> None:  # pylint: disable=unused-argument
    """The Python-level handler: only replaces the default action (the watcher acts)."""
    self.signum = self.signum or signum

  def _watch(self, read_fd: int) -> None:
    """Counts the signals as they come, even while the main thread is blocked."""
    while byte := os.read(read_fd, 1):
      signum = byte[0]
      if signum not in SIGNALS:
        continue
      now = time.monotonic()
      if self._first is not None:
        first, first_at = self._first
        if signum == first and now - first_at < DEBOUNCE_SECONDS:
          continue  # the first request, delivered twice
        print(f"\n{signal.Signals(signum).name} received again: aborting without a "
              "checkpoint.", file=sys.stderr, flush=True)
        os._exit(128 + signum)  # pylint: disable=protected-access
      self._first, self.signum = (signum, now), self.signum or signum
      print(f"\n{signal.Signals(signum).name} received: stopping after this step and saving "
            "a checkpoint (send it again to abort at once).", file=sys.stderr, flush=True)

  def __enter__(self) -> StopRequest:
    if threading.current_thread() is not threading.main_thread():
      return self
    read_fd, write_fd = self._pipe = os.pipe()
    os.set_blocking(write_fd, False)
    self._watcher = threading.Thread(target=self._watch, args=(read_fd,), daemon=True,
                                     name="vampjax-stop-request")
    self._watcher.start()
    self._previous = {sig: signal.signal(sig, self._handle) for sig in SIGNALS}
    self._previous_wakeup_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    return self

  def __exit__(self, *exc_info) -> None:
    if self._pipe is None:
      return
    signal.set_wakeup_fd(self._previous_wakeup_fd)
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)
    read_fd, write_fd = self._pipe
    os.close(write_fd)  # the watcher reads the end of the pipe and returns
    self._watcher.join()
    os.close(read_fd)
    self._previous, self._pipe, self._watcher = {}, None, None

  def stop_signal(self, step: int) -> int:
    """The signal to stop on after `step` (0: go on); the same on every process."""
    if jax.process_count() == 1:
      return self.signum
    if step < self._next_sync:
      return 0
    now = time.monotonic()
    pace = (now - self._synced_at) / max(1, step - self._synced_step)
    signum, slowest = np.max(multihost_utils.process_allgather(
        np.array([self.signum, pace], np.float32)), axis=0)
    self._next_sync = step + max(1, math.floor(self.sync_seconds / max(slowest, 1e-9)))
    self._synced_step, self._synced_at = step, now
    return int(signum)
