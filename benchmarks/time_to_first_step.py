"""Wall time of `python main.py` for one training step (import + data + init + compile + step),
with an empty and then a warm persistent compilation cache.

  python -m benchmarks.time_to_first_step --config=configs/mnist_vamp.py

The run also saves a checkpoint and evaluates 100 test images, so the figure is an upper
bound on the time to the first step. --tiny: the sizes of `measure.TINY` and 4 test images.
"""

import os
import subprocess
import sys
import tempfile
import time

from absl import app, flags

from benchmarks import measure

flags.DEFINE_string("config", "configs/mnist_vamp.py", "Config file.")
flags.DEFINE_integer("repeats", 2, "Runs with the warm cache.")
FLAGS = flags.FLAGS


def run_once(cache: str) -> float:
  with tempfile.TemporaryDirectory() as workdir:
    sizes = {**measure.TINY, "num_eval_examples": 4} if FLAGS.tiny else {"num_eval_examples": 100}
    command = [sys.executable, "main.py", f"--config={FLAGS.config}", f"--workdir={workdir}",
               "--config.num_train_steps=1",
               *[f"--config.{key}={value}" for key, value in sizes.items()]]
    start = time.perf_counter()
    subprocess.run(command, cwd=measure.ROOT, check=True, capture_output=True,
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
