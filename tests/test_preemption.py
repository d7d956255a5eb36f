"""The stop request: a first SIGTERM/SIGINT only sets a flag, a second one aborts at once
(unless it is the first one delivered twice at once), and the previous handlers come back afterwards. (The loop's stop, save and resume are
tested on real processes in tests/test_reliability.py.)"""

import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import ROOT
from vampjax import preemption


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_first_signal_sets_the_flag_and_handlers_are_restored(signum, capsys):
  before = signal.getsignal(signum)
  with preemption.StopRequest() as stop:
    assert stop.stop_signal(1) == 0
    os.kill(os.getpid(), signum)  # delivered before os.kill returns, in this main thread
    assert stop.stop_signal(2) == signum
  assert signal.getsignal(signum) is before
  assert f"{signal.Signals(signum).name} received: stopping after this step" in \
      capsys.readouterr().err


def test_preempted_names_step_signal_and_exit_status():
  stop = preemption.Preempted(7, signal.SIGTERM)
  assert str(stop) == ("stopped at step 7 (SIGTERM); checkpoint saved; run the same command "
                       "to resume")
  assert stop.exit_status == 143 and preemption.Preempted(7, signal.SIGINT).exit_status == 130


TWO_SIGNALS = ("import os, signal, time; from vampjax import preemption\n"
               "with preemption.StopRequest():\n"
               "  os.kill(os.getpid(), signal.{first})\n"
               "  print('first', flush=True)\n"
               "  time.sleep({gap})\n"
               "  os.kill(os.getpid(), signal.{second})\n"
               "  time.sleep(2)\n"
               "  print('not aborted', flush=True)\n")


def two_signals(first: str, second: str, gap: float) -> subprocess.CompletedProcess:
  """A process sent `first`, then `second` `gap` seconds later, each delivered on its own."""
  return subprocess.run([sys.executable, "-c", TWO_SIGNALS.format(first=first, second=second,
                                                                  gap=gap)],
                        cwd=ROOT, capture_output=True, text=True, timeout=30, check=False)


@pytest.mark.parametrize("first, gap", [("SIGINT", preemption.DEBOUNCE_SECONDS + 0.1),
                                        ("SIGTERM", 0.0)])
def test_second_signal_aborts_at_once_with_128_plus_its_number(first, gap):
  """A later SIGINT, or another signal at once: a second request, which aborts."""
  process = two_signals(first, "SIGINT", gap)
  assert process.returncode == 130 and process.stdout == "first\n", process
  assert "SIGINT received again: aborting without a checkpoint." in process.stderr


def test_the_same_signal_twice_at_once_is_one_request():
  """`timeout -s INT` signals the process, then its group: one stop, not an abort."""
  process = two_signals("SIGINT", "SIGINT", 0.0)
  assert process.returncode == 0 and process.stdout == "first\nnot aborted\n", process
  assert process.stderr.count("SIGINT received: stopping") == 1, process.stderr
  assert "received again" not in process.stderr


def test_processes_agree_at_steps_set_by_the_slowest_pace(monkeypatch):
  """Every agreement's all-gather (faked: this process and a slower one) sets the next one
  `sync_seconds` later at the slowest pace: every 10 steps at 0.5 s a step, every step at 30 s."""
  clock = [0.0]
  gathered = []
  monkeypatch.setattr(preemption.jax, "process_count", lambda: 2)
  monkeypatch.setattr(preemption.time, "monotonic", lambda: clock[0])

  def allgather(mine):  # the other process: twice as slow, and signalled from step 21
    other = np.array([signal.SIGTERM if len(gathered) >= 3 else 0, 2 * mine[1]], np.float32)
    gathered.append(int(clock[0] / 0.25))
    return np.stack([mine, other])

  monkeypatch.setattr(preemption.multihost_utils, "process_allgather", allgather)
  stop = preemption.StopRequest(sync_seconds=5.0)
  signals = {}
  for step in range(1, 40):
    clock[0] += 0.25  # this process: 0.25 s a step, the other 0.5 s
    signals[step] = stop.stop_signal(step)
    if signals[step]:
      break
  assert gathered == [1, 11, 21, 31]  # the first at once, then every 5 s / 0.5 s = 10 steps
  assert [s for s, v in signals.items() if v] == [31] and signals[31] == signal.SIGTERM
  gathered.clear()
  stop = preemption.StopRequest(sync_seconds=5.0)
  for step in range(1, 4):
    clock[0] += 30.0  # slow steps: an agreement at every one, so a stop waits no extra step
    stop.stop_signal(step)
  assert len(gathered) == 3
