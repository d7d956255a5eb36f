"""Times the jitted train step of study configs at their real sizes on synthetic batches.

  python -m benchmarks.train_step --configs=mnist_vamp,celeba_vamp_conv --steps=20

Prints one line per config and writes JSON (--out): compile time, median and spread of the
step time after warm-up, images/s, the step's FLOPs, achieved GFLOP/s and its fraction of a
float32 matmul peak measured in the same run, peak memory (how FLOPs and the peak are
counted: benchmarks/measure.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import time

from absl import app, flags
import jax
import numpy as np

from benchmarks import measure
from vampjax import train, xla_cpu

flags.DEFINE_list("configs", ["mnist_vamp", "celeba_vae_conv", "celeba_vamp_conv"],
                  "Config modules under configs/.")
flags.DEFINE_integer("steps", 20, "Timed steps after two warm-up steps.")
flags.DEFINE_integer("num_components", None, "Override K.")
flags.DEFINE_integer("grad_accum_steps", None, "Override the micro-batches per step.")
flags.DEFINE_enum("dtype", None, ["float32", "bfloat16"], "Override the compute dtype.")
flags.DEFINE_bool("reference_convs", False,
                  "Time the step with the plain lax convs instead of vampjax.fast_convs' "
                  "forms (tuned on XLA:CPU): are they worth it on this backend?")
flags.DEFINE_string("out", None, "Write the results as JSON here.")
FLAGS = flags.FLAGS


def benchmark(name: str, steps: int) -> dict:
  config, model, state, batch = measure.study_step_inputs(name, FLAGS.num_components,
                                                      FLAGS.grad_accum_steps, FLAGS.dtype)
  size, channels = config.data.image_size, config.data.channels
  step_fn = jax.jit(train.make_train_step(config), donate_argnums=0)
  rng = jax.random.key(1)
  start = time.perf_counter()
  with measure.reference_convs() if FLAGS.reference_convs else contextlib.nullcontext():
    compiled = step_fn.lower(state, batch, rng).compile()
  compile_s = time.perf_counter() - start
  # XLA's cost analysis counts a loop's body once, so where the micro-batches' scan is not
  # unrolled (off CPU) it would count one micro-batch. The model's FLOPs are the same in
  # one batch (the pseudo-inputs are encoded once per step either way): count those.
  single_batch = config.copy_and_resolve_references()
  single_batch.grad_accum_steps = 1
  executed_flops = float(compiled.cost_analysis()["flops"])
  flops = measure.model_flops(train.make_train_step(single_batch), state, batch, rng)
  for _ in range(2):
    state, metrics = compiled(state, batch, rng)
  jax.block_until_ready(metrics)
  times = []
  for i in range(steps):
    start = time.perf_counter()
    state, metrics = compiled(state, batch, jax.random.fold_in(rng, i))
    jax.block_until_ready(metrics)
    times.append(time.perf_counter() - start)
  median = float(np.median(times))
  return {"config": name, "batch_size": config.batch_size, "image": [size, size, channels],
          "prior": model.prior_kind, "num_components": model.num_components,
          "architecture": config.architecture, "grad_accum_steps": config.grad_accum_steps,
          "convs": "reference" if FLAGS.reference_convs else "fast_convs", "dtype": config.dtype,
          "compile_s": compile_s, "step_s": times,
          **measure.spread(times, "step"),
          "images_per_s": config.batch_size / median, "gflop_per_step": flops / 1e9,
          "executed_gflop_per_step": executed_flops / 1e9,
          "gflop_per_s": flops / median / 1e9, "peak_rss_mb": measure.peak_rss_mb()}


def main(_):
  xla_cpu.configure_process()  # as main.py runs
  peaks = measure.matmul_peak_gflops()
  peak = max(peaks.values())
  print(f"{jax.device_count()} {jax.default_backend()} device(s); float32 matmul peak: "
        f"numpy {peaks['numpy']:.0f}, XLA {peaks['xla']:.0f} GFLOP/s (peak {peak:.0f})")
  results = []
  for name in FLAGS.configs:
    r = benchmark(name, FLAGS.steps)
    r["fraction_of_peak"] = r["gflop_per_s"] / peak
    results.append(r)
    print(f"{name:28s} compile {r['compile_s']:5.1f} s  step {r['step_median_s']:.3f} s "
          f"(p10 {r['step_p10_s']:.3f}, p90 {r['step_p90_s']:.3f})  "
          f"{r['images_per_s']:6.0f} img/s  {r['gflop_per_step']:6.1f} GFLOP  "
          f"{r['gflop_per_s']:5.1f} GFLOP/s ({100 * r['fraction_of_peak']:.0f}% of peak)  "
          f"peak RSS {r['peak_rss_mb']:.0f} MB",
          flush=True)
  if FLAGS.out:
    with open(FLAGS.out, "w") as f:
      json.dump({"matmul_peak_gflops": peak, "matmul_gflops": peaks,
                 "device": str(jax.devices()[0]),
                 "GLIBC_TUNABLES": os.environ.get("GLIBC_TUNABLES", ""),
                 "results": results}, f, indent=2)


if __name__ == "__main__":
  app.run(main)
