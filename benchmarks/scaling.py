"""Per-device cost of the VampPrior with n = 1, 2, 4, 8 data-parallel devices.

  python -m benchmarks.scaling            # celeba_vamp_conv sizes: K=1000, B=64, 64×64×3
  python -m benchmarks.scaling --small    # K=256, B=32: a couple of minutes on 2 cores
  python -m benchmarks.scaling --small --out=scaling.json
  python -m benchmarks.scaling --tiny --devices=1,2 --repeats=1   # K=4, B=4: a smoke test

One subprocess per n with XLA_FLAGS=--xla_force_host_platform_device_count=n. For each n:

* FLOPs per device, from XLA's cost analysis of the compiled, SPMD-partitioned programs:
  `prior_components` alone (the pseudo-inputs encoded) and the whole train step.
* Time per device. Simulated CPU devices share the machine's cores, so the wall time of the
  n-device program cannot fall with n. What one device of n computes is timed instead: the
  same programs on one device for its shard, ⌈K/n⌉ pseudo-inputs and B/n images (the
  all-gather of the (μ_k, log σ²_k) is not in it; nor is the KL against all K components,
  which costs B/n·K·D flops, far below the encoder's). The n-device wall time is also shown.
* The prior's part of the step (forward and backward through the pseudo-inputs): the step
  minus the same step with the standard prior. Sharded, it falls as 1/n with the rest of
  the step, so its share stays put; were every device to encode all K pseudo-inputs (no
  sharding), the share would grow towards 100% with n. Both shares are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from benchmarks import measure

SIZES = {"full": {"num_components": 1000, "batch_size": 64},
         "small": {"num_components": 256, "batch_size": 32},
         "tiny": {"num_components": 4, "batch_size": 4}}


def _config(num_components: int, batch_size: int, prior: str = "vamp"):
  from configs import celeba_vamp_conv  # pylint: disable=g-import-not-at-top
  config = celeba_vamp_conv.get_config()
  config.num_components, config.batch_size, config.prior = num_components, batch_size, prior
  config.decoder_bias_init = "zero"  # the cost does not depend on the init
  return config


def _flops(compiled) -> float:
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  return float(cost["flops"])


def _programs(config, mesh):
  """(prior_components, train step, state, batch, rng), jitted with the mesh's shardings
  (or for one device when mesh is None)."""
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from vampjax import sharding, train  # pylint: disable=g-import-not-at-top
  from vampjax.state import create_train_state  # pylint: disable=g-import-not-at-top
  from vampjax.models import build_model  # pylint: disable=g-import-not-at-top

  model = build_model(config, mesh)
  state = create_train_state(config, build_model(config), jax.random.key(0))
  size, channels = config.data.image_size, config.data.channels
  batch = np.random.default_rng(0).uniform(
      size=(config.batch_size, size, size, channels)).astype(np.float32)
  prior = lambda p: model.apply({"params": p}, method="prior_components")
  step = train.make_train_step(config, model)
  if mesh is None:
    return jax.jit(prior), jax.jit(step), state, batch, jax.random.key(1)
  repl, split = sharding.replicated(mesh), sharding.batch_sharded(mesh)
  state = sharding.put_replicated(state.replace(apply_fn=model.apply), mesh)
  return (jax.jit(prior, in_shardings=repl),
          jax.jit(step, in_shardings=(repl, split, repl), out_shardings=(repl, repl)),
          state, sharding.put_batch(batch, mesh), jax.random.key(1))


def worker(n: int, size: str, repeats: int) -> dict:
  """Runs in a process with n simulated devices."""
  import jax  # pylint: disable=g-import-not-at-top
  from vampjax import sharding  # pylint: disable=g-import-not-at-top

  assert jax.device_count() == n, (jax.device_count(), n)
  k, b = SIZES[size]["num_components"], SIZES[size]["batch_size"]
  result = {"n": n, "K": k, "B": b}
  # The n-device programs: per-device FLOPs, and the wall time of all n together.
  mesh = sharding.make_mesh() if n > 1 else None
  vamp = _programs(_config(k, b), mesh)
  prior, step, state, batch, rng = vamp
  result["prior_flops"] = _flops(prior.lower(state.params).compile())
  result["step_flops"] = _flops(step.lower(state, batch, rng).compile())
  result["prior_wall_s"] = measure.median_seconds(lambda: prior(state.params), repeats)
  result["step_wall_s"] = measure.median_seconds(lambda: step(state, batch, rng)[1]["loss"],
                                                 repeats)
  standard = _programs(_config(k, b, "standard"), mesh)
  _, step, state, batch, rng = standard
  result["standard_step_flops"] = _flops(step.lower(state, batch, rng).compile())
  # One device's share, on one device: ⌈K/n⌉ pseudo-inputs and B/n images (with n = 1, the
  # programs above: they are timed again rather than compiled again).
  with jax.default_device(jax.devices()[0]):
    if n > 1:
      vamp = _programs(_config(-(-k // n), b // n), None)
      standard = _programs(_config(k, b // n, "standard"), None)
    prior, step, state, batch, rng = vamp
    result["prior_device_s"] = measure.median_seconds(lambda: prior(state.params), repeats)
    result["step_device_s"] = measure.median_seconds(
        lambda: step(state, batch, rng)[1]["loss"], repeats)
    _, step, state, batch, rng = standard
    result["standard_step_device_s"] = measure.median_seconds(
        lambda: step(state, batch, rng)[1]["loss"], repeats)
  return result


def table(rows: list[dict]) -> str:
  """One line per n. 'prior in step' = vamp step − standard-prior step (FLOPs or time)."""
  one = rows[0]  # n = 1: the cost every device would pay without sharding
  prior_1_flops = one["step_flops"] - one["standard_step_flops"]
  prior_1_s = one["step_device_s"] - one["standard_step_device_s"]
  lines = ["| n | prior_components GFLOP/dev | step GFLOP/dev | prior in step GFLOP/dev | "
           "prior share | share if unsharded | prior_components ms/dev | step ms/dev | "
           "prior in step ms/dev | prior share (time) | share if unsharded (time) | "
           "n-device step wall ms |", "|" + "---|" * 12]
  for r in rows:
    prior_flops = r["step_flops"] - r["standard_step_flops"]
    prior_s = r["step_device_s"] - r["standard_step_device_s"]
    unsharded = prior_1_flops / (r["standard_step_flops"] + prior_1_flops)
    unsharded_s = prior_1_s / (r["standard_step_device_s"] + prior_1_s)
    lines.append(
        f"| {r['n']} | {r['prior_flops'] / 1e9:.2f} | {r['step_flops'] / 1e9:.2f} | "
        f"{prior_flops / 1e9:.2f} | {prior_flops / r['step_flops']:.0%} | {unsharded:.0%} | "
        f"{r['prior_device_s'] * 1e3:.0f} | {r['step_device_s'] * 1e3:.0f} | "
        f"{prior_s * 1e3:.0f} | {prior_s / r['step_device_s']:.0%} | {unsharded_s:.0%} | "
        f"{r['step_wall_s'] * 1e3:.0f} |")
  return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--small", action="store_true", help="K=256, B=32 instead of K=1000, B=64")
  parser.add_argument("--tiny", action="store_true", help="K=4, B=4: a smoke test in seconds")
  parser.add_argument("--devices", default="1,2,4,8", help="comma-separated n")
  parser.add_argument("--repeats", type=int, default=3, help="timed runs (median) per program")
  parser.add_argument("--out", help="write the rows as JSON here")
  parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  size = "tiny" if args.tiny else "small" if args.small else "full"
  if args.worker:
    from vampjax import xla_cpu  # pylint: disable=g-import-not-at-top
    xla_cpu.configure_process()  # as main.py runs, before JAX starts in this process
    print(json.dumps(worker(args.worker, size, args.repeats)))
    return
  rows = []
  for n in map(int, args.devices.split(",")):
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={n}")
    argv = measure.module_command("scaling", f"--worker={n}", f"--repeats={args.repeats}")
    start = time.perf_counter()
    done = subprocess.run(argv + ([f"--{size}"] if size != "full" else []), env=env, check=True,
                          capture_output=True, text=True, cwd=measure.ROOT)
    rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(f"n={n}: {time.perf_counter() - start:.0f} s", file=sys.stderr)
  k, b = SIZES[size]["num_components"], SIZES[size]["batch_size"]
  print(f"celeba_vamp_conv sizes (64×64×3, latent 256), K={k}, B={b}, float32, "
        f"{os.cpu_count()} CPU cores")
  print(table(rows))
  if args.out:
    with open(args.out, "w") as f:
      json.dump({"size": size, "cpu_count": os.cpu_count(), "rows": rows}, f, indent=1)


if __name__ == "__main__":
  main()
