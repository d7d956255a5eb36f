"""Wall time of `python main.py` for one training step (import + data + init + compile + step),
with an empty and then a warm persistent compilation cache.

  python benchmarks/time_to_first_step.py --config=configs/mnist_vamp.py

The run also saves a checkpoint and evaluates 100 test images, so the figure is an upper
bound on the time to the first step.
"""

import os
import subprocess
import sys
import tempfile
import time

from absl import app, flags

flags.DEFINE_string("config", "configs/mnist_vamp.py", "Config file.")
flags.DEFINE_integer("repeats", 2, "Runs with the warm cache.")
FLAGS = flags.FLAGS
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_once(cache: str) -> float:
  with tempfile.TemporaryDirectory() as workdir:
    command = [sys.executable, "main.py", f"--config={FLAGS.config}", f"--workdir={workdir}",
               "--config.num_train_steps=1", "--config.num_eval_examples=100"]
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True,
                   env={**os.environ, "VAMPJAX_COMPILATION_CACHE": cache})
    return time.perf_counter() - start


def main(_):
  with tempfile.TemporaryDirectory() as cache:
    cold = run_once(cache)
    warm = [run_once(cache) for _ in range(FLAGS.repeats)]
  print(f"{FLAGS.config}: one step via main.py, cold cache {cold:.1f} s, "
        f"warm cache {min(warm):.1f} s (best of {len(warm)})")


if __name__ == "__main__":
  app.run(main)
