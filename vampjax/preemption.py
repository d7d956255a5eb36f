"""Stopping a training cleanly on SIGTERM (a preempted or cancelled job) or SIGINT (Ctrl-C).

The first signal only sets a flag: the loop finishes the step in flight, saves a
checkpoint of that step, waits for it, and raises `Preempted`; main.py prints its one
line and exits with 128 + the signal's number (143 for SIGTERM, 130 for SIGINT), as a
shell reports a process killed by that signal. A second signal aborts at once.

With several processes, each may get the signal at a different step (or only one gets
it): every `sync_every` steps they exchange their flags (one small all-gather) and all
stop at the same step, so that every process saves the same checkpoint.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

import jax
import numpy as np
from jax.experimental import multihost_utils

SIGNALS = (signal.SIGTERM, signal.SIGINT)


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

  def __init__(self, sync_every: int = 1):
    self.sync_every = sync_every
    self.signum = 0
    self._previous: dict[int, object] = {}

  def _handle(self, signum: int, frame) -> None:  # pylint: disable=unused-argument
    if self.signum:  # the second signal: abort now, as if no handler had been installed
      for sig in SIGNALS:
        signal.signal(sig, signal.SIG_DFL)
      os.kill(os.getpid(), signum)
      return
    self.signum = signum
    print(f"\n{signal.Signals(signum).name} received: stopping after this step and saving "
          "a checkpoint (send it again to abort at once).", file=sys.stderr, flush=True)

  def __enter__(self) -> StopRequest:
    if threading.current_thread() is threading.main_thread():
      self._previous = {sig: signal.signal(sig, self._handle) for sig in SIGNALS}
    return self

  def __exit__(self, *exc_info) -> None:
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)
    self._previous = {}

  def stop_signal(self, step: int) -> int:
    """The signal to stop on after `step` (0: go on); the same on every process."""
    if jax.process_count() == 1:
      return self.signum
    if step % self.sync_every:
      return 0
    return int(np.max(multihost_utils.process_allgather(np.int32(self.signum))))
