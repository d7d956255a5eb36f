"""The stop request: a first SIGTERM/SIGINT only sets a flag, a second one aborts at once,
and the previous handlers come back afterwards. (The loop's stop, save and resume are
tested on real processes in tests/test_reliability.py.)"""

import os
import signal
import subprocess
import sys

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


SECOND_SIGNAL = ("import os, signal, time; from vampjax import preemption\n"
                 "with preemption.StopRequest():\n"
                 "  os.kill(os.getpid(), signal.SIGINT)\n"
                 "  print('first', flush=True)\n"
                 "  os.kill(os.getpid(), signal.SIGINT)\n"
                 "  time.sleep(60)\n"
                 "  print('not reached', flush=True)\n")


def test_second_signal_aborts_at_once_with_128_plus_its_number():
  process = subprocess.run([sys.executable, "-c", SECOND_SIGNAL], cwd=ROOT, capture_output=True,
                           text=True, timeout=30, check=False)
  assert process.returncode == 130 and process.stdout == "first\n", process
  assert "SIGINT received again: aborting without a checkpoint." in process.stderr
  assert process.stdout == "first\n"
