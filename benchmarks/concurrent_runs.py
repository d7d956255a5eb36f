"""Several trainings at once on a small CPU: their steps per second when each process may use
every core (XLA's thread pool spans them all) against each pinned to one core with
`taskset` (a pool of one thread), in alternating rounds.

  python -m benchmarks.concurrent_runs --configs=paper.vae_vamp,paper.hvae_standard,\
paper.vae_vamp,paper.hvae_standard --seconds=90 --rounds=2

Run it on an otherwise idle machine. The processes of a round start together, compile and
warm up until a shared start time, then count train steps until a shared end time; process
i is pinned to core i mod (cores).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from absl import app, flags
import jax
import numpy as np

from benchmarks import measure
from vampjax import train, xla_cpu

flags.DEFINE_list("configs", ["paper.vae_vamp", "paper.hvae_standard"] * 2,
                  "One process per entry (config modules under configs/).")
flags.DEFINE_integer("seconds", 90, "Timed window of each round.")
flags.DEFINE_integer("warmup", 60, "Seconds for every process to compile and warm up.")
flags.DEFINE_integer("rounds", 2, "Rounds of each setting, alternating.")
flags.DEFINE_string("worker", None, "Internal: run one process of CONFIG,START,STOP.")
flags.DEFINE_string("out", None, "Write the results as JSON here.")
FLAGS = flags.FLAGS
SETTINGS = ("every core", "one core each")


def worker(name: str, start: float, stop: float) -> None:
  """Trains `name`'s step on a synthetic batch; prints the steps done in [start, stop)."""
  config, _, state, batch = measure.study_step_inputs(name)
  step = jax.jit(train.make_train_step(config), donate_argnums=0)
  rng, i, counted = jax.random.key(1), 0, 0
  while time.time() < stop:
    state, metrics = step(state, batch, jax.random.fold_in(rng, i))
    jax.block_until_ready(metrics)
    i += 1
    counted += time.time() >= start
  print(json.dumps({"config": name, "steps": counted, "seconds": stop - start}))


def one_round(pinned: bool) -> list[dict]:
  start = time.time() + FLAGS.warmup
  stop = start + FLAGS.seconds
  cores = os.cpu_count() or 1
  procs = [subprocess.Popen(
      (["taskset", "-c", str(i % cores)] if pinned else [])
      + [sys.executable, "-m", "benchmarks.concurrent_runs", f"--worker={name},{start},{stop}"],
      stdout=subprocess.PIPE, text=True) for i, name in enumerate(FLAGS.configs)]
  return [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]


def main(argv: list[str]) -> None:
  del argv
  if FLAGS.worker:
    name, start, stop = FLAGS.worker.split(",")
    worker(name, float(start), float(stop))
    return
  rates: dict[str, dict[str, list[float]]] = {s: {} for s in SETTINGS}
  for r in range(FLAGS.rounds):
    for setting in SETTINGS:
      for result in one_round(pinned=setting == SETTINGS[1]):
        rates[setting].setdefault(result["config"], []).append(
            result["steps"] / result["seconds"])
      print(f"round {r + 1}, {setting}: " + ", ".join(
          f"{c} {np.median(v):.2f}" for c, v in rates[setting].items()), flush=True)
  for name in rates[SETTINGS[0]]:
    free, pinned = rates[SETTINGS[0]][name], rates[SETTINGS[1]][name]
    print(f"{name}: {np.median(free):.2f} steps/s per process on every core, "
          f"{np.median(pinned):.2f} pinned ({np.median(pinned) / np.median(free):.3f}×); "
          f"ranges {min(free):.2f}–{max(free):.2f} and {min(pinned):.2f}–{max(pinned):.2f}")
  if FLAGS.out:
    with open(FLAGS.out, "w") as f:
      json.dump({"configs": FLAGS.configs, "seconds": FLAGS.seconds, "rates": rates}, f,
                indent=1)


if __name__ == "__main__":
  xla_cpu.configure_process()  # as main.py runs
  app.run(main)
