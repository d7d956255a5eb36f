"""Steps per second of the training loop's calls at several `steps_per_call`, side by side.

  python -m benchmarks.steps_per_call [--configs=paper.vae_vamp,paper.hvae_vamp]
      [--steps_per_call=1,10,100] [--steps=200] [--rounds=3]

Each measurement runs `--steps` train steps as the loop does: `train.make_multi_step`
jitted, its blocks from `on_device.train_feed` (batch indices made and prefetched on the
host, binarized on the device for the paper's MNIST), the metrics left on the device. The
settings are timed in interleaved rounds (benchmarks/measure.py) after one compiled call
each, on synthetic grey images (the cost does not depend on them). Writes JSON and markdown
to benchmarks/results/steps_per_call_<backend>.{json,md}.
"""

from __future__ import annotations

import importlib
import os
import time
from typing import Any, Callable

from absl import app, flags
import jax
import numpy as np

from benchmarks.measure import interleaved, write_report
from vampjax import sharding, train, xla_cpu
from vampjax.data import on_device
from vampjax.models import build_model
from vampjax.state import create_train_state

flags.DEFINE_list("configs", ["paper.vae_vamp", "paper.hvae_vamp"], "Modules under configs/.")
flags.DEFINE_list("steps_per_call", ["1", "10", "100"], "The settings to compare.")
flags.DEFINE_integer("steps", 200, "Train steps per measurement (a multiple of each setting).")
flags.DEFINE_integer("rounds", 3, "Interleaved rounds; the median is reported.")
flags.DEFINE_string("out", None, "JSON path (default benchmarks/results/steps_per_call_"
                    "<backend>.json); markdown beside it.")
FLAGS = flags.FLAGS

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
NUM_IMAGES = 2000  # synthetic training images: 20 batches of 100 an epoch


def _runner(name: str, steps_per_call: int, batch_size: int | None = None
            ) -> Callable[[int], float]:
  """run(steps) -> seconds for `steps` train steps of configs/<name> at `steps_per_call`."""
  config = importlib.import_module(f"configs.{name}").get_config()
  config.steps_per_call, config.pseudo_init = steps_per_call, "random"
  config.batch_size = batch_size or config.batch_size
  size, channels = config.data.image_size, config.data.channels
  images = np.random.default_rng(0).integers(0, 256, (NUM_IMAGES, size, size, channels),
                                             dtype=np.uint8)
  mesh = sharding.make_mesh()
  multi_step = jax.jit(train.make_multi_step(config), donate_argnums=0)
  state = sharding.put_replicated(
      create_train_state(config, build_model(config), jax.random.key(0), images), mesh)
  done = 0

  def run(steps: int) -> float:
    nonlocal state, done
    calls = steps // steps_per_call
    feed = on_device.train_feed(config, images, done, [steps_per_call] * calls, mesh)
    start = time.perf_counter()
    for i in range(calls):
      state, metrics = multi_step(state, next(feed.blocks), done + 1 + i * steps_per_call,
                                  feed.images)
    jax.block_until_ready((state, metrics))
    done += calls * steps_per_call
    return time.perf_counter() - start

  run(steps_per_call)  # compile and warm up
  return run


def measure(configs: list[str], settings: list[int], steps: int, rounds: int,
            batch_size: int | None = None) -> dict[str, Any]:
  """Median steps/s of each (config, steps_per_call), timed in interleaved rounds."""
  runners = {(c, n): _runner(c, n, batch_size) for c in configs for n in settings}
  seconds: dict[tuple[str, int], list[float]] = {key: [] for key in runners}
  for key in interleaved(list(runners), rounds):
    seconds[key].append(runners[key](steps))
  rows = []
  for (config, n), times in seconds.items():
    base = np.median(seconds[(config, settings[0])])
    rows.append({"config": config, "steps_per_call": n, "seconds": times,
                 "steps_per_s": steps / float(np.median(times)),
                 "speedup": float(base / np.median(times))})
  return {"backend": jax.default_backend(), "device": str(jax.devices()[0]),
          "jax": jax.__version__, "steps": steps, "rounds": rounds,
          "load_average_1min_at_end": os.getloadavg()[0], "rows": rows}


def to_markdown(report: dict[str, Any]) -> str:
  lines = [f"steps_per_call on {report['device']} (JAX {report['jax']}): median of "
           f"{report['rounds']} interleaved rounds of {report['steps']} steps; load average "
           f"{report['load_average_1min_at_end']:.1f} at the end", "",
           "| config | steps_per_call | steps/s | vs the first setting |", "|---|---|---|---|"]
  lines += [f"| {r['config']} | {r['steps_per_call']} | {r['steps_per_s']:.1f} | "
            f"{r['speedup']:.2f}× |" for r in report["rows"]]
  return "\n".join(lines) + "\n"


def main(_):
  xla_cpu.configure_process()  # as main.py runs
  settings = [int(n) for n in FLAGS.steps_per_call]
  report = measure(FLAGS.configs, settings, FLAGS.steps, FLAGS.rounds)
  out = FLAGS.out or os.path.join(RESULTS, f"steps_per_call_{report['backend']}.json")
  write_report(out, report, to_markdown)
  print(to_markdown(report))


if __name__ == "__main__":
  app.run(main)
