"""How long `python main.py` takes to exit after SIGTERM, against its step time.

Starts a training, waits until its progress bar shows `--after` completed steps, sends
SIGTERM, and reports the step time (from the bar's completed steps) and the seconds from
the signal to the exit (the step in flight, the checkpoint's save, the exit):

  python -m benchmarks.stop_latency --after=20 -- --config=configs/mnist_vamp.py
  python -m benchmarks.stop_latency --after=3 -- --config=configs/celeba_vamp_resnet.py

and what bounding the steps in flight costs (the loop's bound, step_dispatch.STEPS_AHEAD,
against unbounded asynchronous dispatch), in training steps per second, interleaved A/B
rounds in this process:

  python -m benchmarks.stop_latency --ab=configs/paper/vae_vamp.py

tests/test_stop_latency.py uses `Training` to check the bound on a slow step.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BAR = re.compile(r"train:.*?(\d+)/(\d+) \[")


class Training:
  """`python main.py ARGS` whose progress bar (stderr) is followed as it draws."""

  def __init__(self, args: list[str], env: dict[str, str] | None = None):
    self.process = subprocess.Popen([sys.executable, "main.py", *args], cwd=ROOT,
                                     env={**os.environ, **(env or {})}, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    self.stderr, self.stdout = "", ""
    self.completed: list[tuple[int, float]] = []  # (step, time it was first shown)
    self.stopped_at = 0.0  # when main.py's last line "stopped at step ..." came
    self._readers = [threading.Thread(target=self._read, args=(stream,), daemon=True)
                     for stream in ("stdout", "stderr")]
    for reader in self._readers:
      reader.start()

  def _read(self, stream: str) -> None:
    pipe = getattr(self.process, stream)
    while chunk := pipe.read(1) if stream == "stderr" else pipe.read():
      setattr(self, stream, getattr(self, stream) + chunk)
      if stream == "stderr" and chunk == "\n" and "\nstopped at step" in self.stderr[-200:]:
        self.stopped_at = self.stopped_at or time.perf_counter()
      if stream == "stderr" and chunk == "]":  # the end of a drawn bar
        shown = BAR.findall(self.stderr[-200:])
        if shown and (not self.completed or int(shown[-1][0]) > self.completed[-1][0]):
          self.completed.append((int(shown[-1][0]), time.perf_counter()))

  def wait_for_step(self, step: int, timeout: float = 600) -> None:
    deadline = time.perf_counter() + timeout
    while (not self.completed or self.completed[-1][0] < step) and self.process.poll() is None:
      if time.perf_counter() > deadline:
        raise TimeoutError(f"step {step} not reached in {timeout} s:\n{self.stderr[-2000:]}")
      time.sleep(0.01)

  def wait_for_text(self, text: str, timeout: float = 60) -> None:
    """Until `text` shows on stderr (or the process has ended)."""
    deadline = time.perf_counter() + timeout
    while text not in self.stderr and self.process.poll() is None:
      if time.perf_counter() > deadline:
        raise TimeoutError(f"{text!r} not shown in {timeout} s:\n{self.stderr[-2000:]}")
      time.sleep(0.001)

  def step_seconds(self) -> float:
    """Seconds per completed step over the bar's updates after the first shown step."""
    (first, t0), (last, t1) = self.completed[0], self.completed[-1]
    return (t1 - t0) / max(1, last - first)

  def stop(self, signum: int = signal.SIGTERM, timeout: float = 600) -> float:
    """Sends `signum`; returns the seconds until the process has exited."""
    self.sent = time.perf_counter()
    self.signalled_after = self.completed[-1][0] if self.completed else 0
    self.process.send_signal(signum)
    self.process.wait(timeout=timeout)
    for reader in self._readers:
      reader.join()
    return time.perf_counter() - self.sent


def steps_per_second(config_file: str, steps_ahead: int, steps: int, workdir: str) -> float:
  """The median steps/s of the logged intervals after the first (which holds the compile)."""
  from vampjax import step_dispatch, train  # pylint: disable=import-outside-toplevel
  config = importlib.import_module(config_file.removesuffix(".py").replace("/", ".")).get_config()
  config.update_from_flattened_dict({"num_train_steps": steps, "log_every_steps": steps // 6,
                                     "eval_every_steps": 0, "num_eval_examples": 100,
                                     "checkpoint_every_steps": 0})
  step_dispatch.STEPS_AHEAD, step_dispatch.SLOW_STEP_SECONDS = (
      steps_ahead, (1.0 if steps_ahead == 1 else 1e9))
  train.train_and_evaluate(config, workdir)
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    rates = [r["images_per_sec"] for r in map(json.loads, f) if r["split"] == "train"]
  return float(np.median(rates[1:])) / config.batch_size


def ab(config_file: str, rounds: int, steps: int) -> None:
  rates: dict[str, list[float]] = {"bounded": [], "unbounded": []}
  with tempfile.TemporaryDirectory() as root:
    for r in range(rounds):
      for name in (("bounded", "unbounded") if r % 2 == 0 else ("unbounded", "bounded")):
        ahead = 1 if name == "bounded" else 10**9
        rates[name].append(steps_per_second(config_file, ahead, steps,
                                            os.path.join(root, f"{name}_{r}")))
        print(f"round {r} {name}: {rates[name][-1]:.1f} steps/s", flush=True)
  for name, values in rates.items():
    print(f"{config_file} {name}: median {np.median(values):.1f} steps/s over {rounds} rounds "
          f"({', '.join(f'{v:.1f}' for v in values)})")


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--after", type=int, default=20, help="completed steps before SIGTERM")
  parser.add_argument("--ab", help="a config file: steps/s bounded against unbounded instead")
  parser.add_argument("--rounds", type=int, default=4, help="--ab: interleaved rounds")
  parser.add_argument("--steps", type=int, default=600, help="--ab: steps per run")
  parser.add_argument("main_args", nargs="*", help="main.py's flags (after --)")
  args = parser.parse_args()
  if args.ab:
    ab(args.ab, args.rounds, args.steps)
    return
  with tempfile.TemporaryDirectory() as workdir:
    training = Training([*args.main_args, f"--workdir={workdir}"])
    training.wait_for_step(args.after)
    step_s = training.step_seconds()
    exit_s = training.stop()
    saved_s = training.stopped_at - training.sent
    print(f"{' '.join(args.main_args)}: {step_s:.2f} s/step; SIGTERM after step "
          f"{training.signalled_after}: checkpoint saved {saved_s:.1f} s and process exited "
          f"{exit_s:.1f} s after it (status {training.process.returncode}); "
          f"{training.stderr.strip().splitlines()[-1]}")


if __name__ == "__main__":
  main()
