"""The train step under glibc malloc settings: does the allocator make steps slow or erratic?

  python -m benchmarks.malloc_settings --configs=celeba_vamp_resnet:500,celeba_vae_conv \
      --rounds=3 --steps=16 --out=benchmarks/results/malloc_settings_cpu.json

XLA:CPU keeps its buffers in glibc's malloc, and `main.py` restarts itself with malloc's
huge pages (`vampjax.xla_cpu`). Each round runs benchmarks/train_step.py once per setting
below, each in a fresh process under its GLIBC_TUNABLES (the order alternating between
rounds), and keeps every step's time: the median says how fast, the mean and the maximum
what the slow steps cost.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import tempfile
from typing import Any

from absl import app, flags
import numpy as np

from benchmarks import measure

SETTINGS = {
    # What main.py runs with (vampjax.xla_cpu.restart_with_huge_pages adds it).
    "huge pages (default)": "glibc.malloc.hugetlb=1",
    "4 KiB pages": "glibc.malloc.hugetlb=0",
    # Every buffer from one heap that is never returned to the kernel.
    "huge pages, one arena, no mmap, no trim": (
        "glibc.malloc.hugetlb=1:glibc.malloc.arena_max=1:glibc.malloc.mmap_max=0:"
        "glibc.malloc.trim_threshold=17179869184"),
}

flags.DEFINE_list("configs", ["celeba_vamp_resnet:500", "celeba_vae_conv", "mnist_vamp"],
                  "Config modules under configs/, each `name` or `name:K`.")
flags.DEFINE_integer("rounds", 3, "Rounds; each runs every setting once.")
flags.DEFINE_integer("steps", 16, "Timed steps per process, after two warm-up steps.")
flags.DEFINE_string("out", None, "Write the results as JSON here (and markdown beside it).")
FLAGS = flags.FLAGS


def step_times(spec: str, tunables: str) -> list[float]:
  """Every timed step's seconds of benchmarks/train_step.py on `spec` under `tunables`."""
  name, _, k = spec.partition(":")
  with tempfile.TemporaryDirectory() as tmp:
    out = os.path.join(tmp, "step.json")
    argv = measure.module_command("train_step", f"--configs={name}", f"--steps={FLAGS.steps}",
                                  f"--out={out}", *([f"--num_components={k}"] if k else []),
                                  *(["--tiny"] if measure.tiny() else []))
    subprocess.run(argv, env={**os.environ, "GLIBC_TUNABLES": tunables}, check=True,
                   stdout=subprocess.DEVNULL, cwd=measure.ROOT)
    with open(out) as f:
      return json.load(f)["results"][0]["step_s"]


def summary(times: list[list[float]]) -> dict[str, Any]:
  every = [t for segment in times for t in segment]
  return {"median": float(np.median(every)), "mean": float(np.mean(every)),
          "max": max(every), "round_medians": [float(np.median(t)) for t in times],
          "step_s": times}


def benchmark(spec: str) -> dict[str, Any]:
  times = {name: [] for name in SETTINGS}
  for name in measure.interleaved(list(SETTINGS), FLAGS.rounds):
    times[name].append(step_times(spec, SETTINGS[name]))
  return {"config": spec, "settings": {name: {"GLIBC_TUNABLES": SETTINGS[name],
                                              **summary(t)} for name, t in times.items()}}


def markdown(report: dict[str, Any]) -> str:
  lines = [f"Measured {report['date']} on {report['cores']} cores of {report['cpu']}, "
           f"{report['rounds']} rounds of {report['steps_per_round']} steps per setting, "
           f"each in a fresh process: `{report['command']}`", "",
           "| config | malloc setting | step median | mean | slowest | round medians |",
           "|---|---|---|---|---|---|"]
  for r in report["results"]:
    for name, s in r["settings"].items():
      rounds = " / ".join(f"{t:.3f}" for t in s["round_medians"])
      lines.append(f"| {r['config']} | {name} | **{s['median']:.3f} s** | {s['mean']:.3f} s "
                   f"| {s['max']:.3f} s | {rounds} |")
  return "\n".join(lines) + "\n"


def main(_):
  results = []
  for spec in FLAGS.configs:
    results.append(benchmark(spec))
    for name, s in results[-1]["settings"].items():
      print(f"{spec:24s} {name:42s} median {s['median']:.3f} s  mean {s['mean']:.3f} s  "
            f"max {s['max']:.3f} s", flush=True)
    if FLAGS.out:  # after every config: a run cut short keeps what it measured
      write(FLAGS.out, results)


def write(path: str, results: list[dict[str, Any]]) -> None:
  """The results as JSON at `path`, with when, where and how, and as markdown beside it."""
  report = {"date": datetime.date.today().isoformat(), "cpu": measure.cpu_name(),
            "cores": os.cpu_count(), "command": measure.command_line(),
            "rounds": FLAGS.rounds, "steps_per_round": FLAGS.steps, "results": results}
  measure.write_report(path, report, markdown)


if __name__ == "__main__":
  app.run(main)
