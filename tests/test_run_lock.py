"""One training per workdir: a second one is refused while the first lives, a lock left by a
dead run is taken over, and the lock goes with its run."""

import os
import signal
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from vampjax import run_lock
from vampjax.run_lock import LOCK_FILE, RunLock
from vampjax.workdir import WorkdirError

HOLD = ("import sys, time; from vampjax.run_lock import RunLock; lock = RunLock(sys.argv[1]);"
        "lock.acquire(); print('locked', flush=True); time.sleep(600)")


def holder(workdir):
  process = subprocess.Popen([sys.executable, "-c", HOLD, workdir], cwd=ROOT,
                             stdout=subprocess.PIPE, text=True)
  assert process.stdout.readline().strip() == "locked"
  return process


def test_lock_held_by_a_live_process_is_refused_then_taken_over_after_its_death(
    tmp_path, capsys):
  assert run_lock.holder(str(tmp_path)) is None  # no lock file
  process = holder(str(tmp_path))
  try:
    assert run_lock.holder(str(tmp_path)).startswith(f"pid {process.pid} on ")
    with pytest.raises(WorkdirError, match=rf"in use by another training \(pid {process.pid} "):
      RunLock(str(tmp_path)).acquire()
  finally:
    process.send_signal(signal.SIGKILL)
    process.wait()
  assert os.path.exists(tmp_path / LOCK_FILE) and run_lock.holder(str(tmp_path)) is None
  with RunLock(str(tmp_path)):
    assert f"pid {process.pid} on" in capsys.readouterr().err  # reported, then taken over
    with open(tmp_path / LOCK_FILE) as f:
      assert f.read().startswith(f"pid {os.getpid()} on")
  assert not os.path.exists(tmp_path / LOCK_FILE)


def test_lock_is_released_for_the_next_run(tmp_path, capsys):
  for _ in range(2):
    with RunLock(str(tmp_path)):
      with pytest.raises(WorkdirError):
        RunLock(str(tmp_path)).acquire()  # another open file description: refused too
  assert capsys.readouterr().err == ""  # nothing was left behind to take over
