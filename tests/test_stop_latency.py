"""A stop on a slow step: SIGTERM to a real `python main.py` saves the step in flight and
exits within about a step plus the save, a signal delivered twice at once stops the same
way, and a second signal aborts at once. (Unbounded asynchronous dispatch queued every step
up to the next log line, here the last one.)"""

import os
import signal
import time

from benchmarks.stop_latency import Training
from tests.conftest import ROOT
from vampjax import checkpointing, preemption

SLOW = ["--config=configs/mnist_vamp.py", "--config.architecture=resnet",
        "--config.batch_size=32", "--config.latent_dim=16", "--config.num_components=16",
        "--config.num_train_steps=1000", "--config.log_every_steps=1000",
        "--config.eval_every_steps=0", "--config.checkpoint_every_steps=0",
        "--config.num_eval_examples=16"]
CACHE = {"VAMPJAX_COMPILATION_CACHE": os.path.join(ROOT, ".pytest_cache", "xla")}


def start(workdir):
  training = Training([*SLOW, f"--workdir={workdir}"], env=CACHE)
  training.wait_for_step(3)
  return training


def assert_stopped_after(training, shown, workdir, exit_status):
  """The run saved a checkpoint of the step it says it stopped at, a step or few after
  `shown`, and exited with `exit_status`; returns that step."""
  assert training.process.returncode == exit_status, training.stderr
  last = training.stderr.strip().splitlines()[-1]
  assert last.startswith("stopped at step "), training.stderr
  stopped = int(last.split()[3])
  assert shown < stopped <= shown + 3, (shown, stopped)
  assert checkpointing.manager(str(workdir)).latest_step() == stopped
  return stopped


def test_sigterm_on_a_slow_step_saves_the_next_steps_and_exits_within_a_few_steps(tmp_path):
  training = start(tmp_path)
  shown = training.completed[-1][0]
  exit_s = training.stop(signal.SIGTERM)
  step_s = training.step_seconds()
  stopped = assert_stopped_after(training, shown, tmp_path, 143)
  assert exit_s < 4 * step_s + 30, (exit_s, step_s)
  print(f"{step_s:.2f} s/step: SIGTERM after step {shown}, stopped at {stopped}, exited "
        f"{exit_s:.1f} s after the signal")


def test_a_signal_delivered_twice_at_once_stops_gracefully(tmp_path):
  """`timeout -s INT 60 python main.py` sends SIGINT to main.py, then to its process group:
  two deliveries microseconds apart, one request. Two os.kill in a row mostly merge in the
  kernel (the first still pending), so the second goes as soon as the first has arrived."""
  training = start(tmp_path)
  shown = training.completed[-1][0]
  os.kill(training.process.pid, signal.SIGINT)
  training.wait_for_text("SIGINT received: stopping")
  training.stop(signal.SIGINT)
  assert_stopped_after(training, shown, tmp_path, 130)
  assert "received again" not in training.stderr


def test_a_second_signal_aborts_at_once_even_while_the_step_runs(tmp_path):
  """Two signals just over the debounce apart, within a step: Python runs its handler once
  the step is over, once for both; the second must not be lost."""
  training = start(tmp_path)
  training.process.send_signal(signal.SIGTERM)
  time.sleep(preemption.DEBOUNCE_SECONDS + 0.1)
  exit_s = training.stop(signal.SIGTERM)
  assert training.process.returncode == 143, training.stderr
  assert "SIGTERM received again: aborting without a checkpoint." in training.stderr
  assert "stopped at step" not in training.stderr
  assert checkpointing.manager(str(tmp_path)).latest_step() is None
  assert exit_s < 5, exit_s
