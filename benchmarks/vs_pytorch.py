"""vampjax's jitted train step against the same step in PyTorch, timed side by side.

  pip install torch==2.13.0   # optional: only this benchmark uses PyTorch (the CPU build)
  python -m benchmarks.vs_pytorch --out=benchmarks/results/vs_pytorch_cpu.json
  python -m benchmarks.vs_pytorch --check   # same weights: do the losses agree?
  python -m benchmarks.vs_pytorch --processes   # each framework in a fresh process

Machines of one kind differ by about 2× and a shared machine drifts within minutes, so
absolute times from different runs do not compare. Here each round times `--steps` steps
of vampjax, PyTorch eager and PyTorch under torch.compile back to back (the order
reversed every other round) in one process, with the same number of threads, and the
ratio PyTorch / vampjax is taken within the round: its median and spread over the rounds
are the figure; the absolute times are context. With `--processes` each framework's
segment runs instead in a fresh process of its own (started, compiled and warmed up, then
its `--steps` steps timed one by one), so neither framework's threads, allocator or caches
are left over from the other's; the processes of a round follow one another, in the same
alternating order. The PyTorch model (benchmarks/torch_vae.py)
has the same networks, batch, K, latent size, likelihood and Adam. A config is
`name` or `name:K` (K overrides num_components).
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
import time
from typing import Any, Callable

from absl import app, flags
import jax
import jax.numpy as jnp
import numpy as np
import optax

from benchmarks import measure
from benchmarks import torch_layout
from vampjax import objective, train, xla_cpu
from vampjax.models import build_model
from vampjax.networks import CHANNELS, DOWNSAMPLING

try:
  import torch
  from benchmarks import torch_vae
except ImportError:
  torch = None

INSTALL = "pip install torch==2.13.0"
CONFIGS = ["mnist_vamp", "celeba_vae_conv", "celeba_vamp_conv:500", "celeba_vamp_conv:1000",
           "celeba_vamp_resnet:500", "paper.vae_vamp", "paper.hvae_vamp", "paper.convhvae_vamp"]
flags.DEFINE_list("configs", CONFIGS, "Config modules under configs/, each `name` or `name:K`.")
flags.DEFINE_integer("rounds", 5, "Interleaved rounds.")
flags.DEFINE_integer("steps", 5, "Steps of each framework per round, after warm-up.")
flags.DEFINE_integer("threads", None, "PyTorch's threads; default: one per core, as XLA:CPU.")
flags.DEFINE_float("pause", 0.0, "Seconds idle before each timed segment.")
flags.DEFINE_bool("compile", True, "Also time PyTorch's step under torch.compile.")
flags.DEFINE_bool("processes", False, "Time each framework in a fresh process of its own.")
flags.DEFINE_enum("worker", None, ["vampjax", "torch_eager", "torch_compile"],
                  "Internal (--processes): time this framework's steps, print them as JSON.")
flags.DEFINE_bool("check", False, "Only compare one loss and gradient norm on copied weights.")
flags.DEFINE_float("tolerance", 1e-4, "--check: the largest relative difference accepted.")
flags.DEFINE_string("out", None, "Write the results as JSON here.")
FLAGS = flags.FLAGS
Step = Callable[[int], None]
TERMS = ("loss", "reconstruction", "kl")


def study_inputs(spec: str) -> tuple[Any, Any, Any, jax.Array]:
  """measure.study_step_inputs of `name` or `name:K`."""
  name, _, k = spec.partition(":")
  return measure.study_step_inputs(name, int(k) if k else None)


def study_config(spec: str) -> Any:
  """measure.study_config of `name` or `name:K`."""
  name, _, k = spec.partition(":")
  return measure.study_config(name, int(k) if k else None)


def map_shape(config) -> tuple[int, int, int] | None:
  """The feature map between the encoder's convs and its dense heads; None for the paper's
  gated models, whose PyTorch twins flatten in vampjax's order."""
  if config.architecture not in ("conv", "resnet"):
    return None
  side = config.data.image_size // DOWNSAMPLING
  return side, side, CHANNELS[-1]


def torch_model(config, params: Any) -> "torch_vae.VAE":
  """The PyTorch model of `config` holding a copy of vampjax's `params`."""
  model = torch_vae.build(config)
  weights = torch_layout.state_dict(jax.device_get(params), map_shape(config))
  model.load_state_dict({name: torch.from_numpy(np.array(value))
                         for name, value in weights.items()})
  return model


def torch_grad_norm(parameters) -> float:
  """The L2 norm of these parameters' gradients; fixed ones (no gradient, zeros in JAX)
  count 0."""
  grads = [p.grad for p in parameters if p.grad is not None]
  if not grads:
    return 0.0
  return float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g)
                                                     for g in grads])))


def compare(config, model, params: Any, batch: jax.Array, rng: jax.Array
            ) -> dict[str, dict[str, float]]:
  """The loss terms (batch means, β = 1), the gradient norm and, under a VampPrior, the
  pseudo-inputs' gradient norm of vampjax and of PyTorch on the same weights, batch and
  noise: {term: {vampjax, torch, relative_difference}}."""
  noise = objective.sample_noise(rng, model, config, batch.shape[0])

  def loss_fn(p):
    terms = objective.loss_terms(model.apply({"params": p}, batch, noise), 1.0)
    means = {name: jnp.mean(terms[name]) for name in TERMS}
    return means["loss"], means

  grads, ours = jax.jit(jax.grad(loss_fn, has_aux=True))(params)
  ours["grad_norm"] = optax.tree.norm(grads)
  torch_net = torch_model(config, params)
  x = torch.from_numpy(torch_layout.images(np.asarray(batch)).copy())
  loss, terms = torch_net(x, torch.from_numpy(np.array(noise)), 1.0)
  loss.backward()
  theirs = {name: float(terms[name].detach().mean()) for name in TERMS}
  theirs["grad_norm"] = torch_grad_norm(torch_net.parameters())
  if "vamp_prior" in grads:  # the pseudo-inputs' own: a small part of the whole norm
    ours["pseudo_grad_norm"] = optax.tree.norm(grads["vamp_prior"])
    theirs["pseudo_grad_norm"] = torch_grad_norm(torch_net.vamp_prior.parameters())
  return {name: {"vampjax": float(ours[name]), "torch": theirs[name],
                 "relative_difference": abs(float(ours[name]) - theirs[name])
                 / max(abs(theirs[name]), 1e-12)} for name in theirs}


def vampjax_step(config, state: Any, batch: jax.Array) -> tuple[Step, float]:
  """run(n): n jitted train steps, waiting for the last (as main.py's loop, which does not
  wait in between); and the compile time."""
  start = time.perf_counter()
  compiled = jax.jit(train.make_train_step(config), donate_argnums=0).lower(
      state, batch, jax.random.key(1)).compile()
  compile_s = time.perf_counter() - start
  keys = list(jax.random.split(jax.random.key(1), 1000))
  holder = {"state": state, "step": 0}

  def run(n):
    for _ in range(n):
      holder["state"], metrics = compiled(holder["state"], batch,
                                          keys[holder["step"] % len(keys)])
      holder["step"] += 1
    jax.block_until_ready(metrics)

  return run, compile_s


def torch_step(config, batch: jax.Array, compile_loss: bool) -> tuple[Step, float]:
  """run(n): n PyTorch steps, waiting for the last (on the GPU where there is one); and the
  time of the first step (with torch.compile: the compile)."""
  device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
  model = torch_vae.build(config).to(device)
  step = torch_vae.make_step(model, config, compile_loss)
  x = torch.from_numpy(torch_layout.images(np.asarray(batch)).copy()).to(device)
  start = time.perf_counter()
  step(x, config.beta).item()
  first_s = time.perf_counter() - start

  def run(n):
    for _ in range(n):
      loss = step(x, config.beta)
    loss.item()  # waits for the device

  return run, first_s


def seconds_per_step(run: Step, steps: int) -> float:
  """Seconds per step of `steps` steps, after `--pause` seconds idle. A segment timed right
  after PyTorch's can share the cores with its spinning OpenMP threads (with 3 steps,
  mnist_vamp's ratio alternated 1.0 / 0.5 with the round order); a 1 s pause instead slowed
  vampjax's segments by 1.5–2.4× while PyTorch's stayed (benchmarks/results/
  vs_pytorch_cpu_pause1s.json). Longer segments (--steps) dilute both."""
  time.sleep(FLAGS.pause)
  start = time.perf_counter()
  run(steps)
  return (time.perf_counter() - start) / steps


def ratio_summary(numerator: list[float], denominator: list[float]) -> dict[str, Any]:
  ratios = [a / b for a, b in zip(numerator, denominator)]
  return {"median": float(np.median(ratios)), "min": min(ratios), "max": max(ratios),
          "per_round": ratios}


def framework_step(name: str, config, state: Any, batch: jax.Array) -> tuple[Step, float]:
  """run(n) and the first call's seconds of one framework's step."""
  if name == "vampjax":
    return vampjax_step(config, state, batch)
  return torch_step(config, batch, compile_loss=name == "torch_compile")


def frameworks() -> list[str]:
  return ["vampjax", "torch_eager"] + (["torch_compile"] if FLAGS.compile else [])


def in_one_process(config, state: Any, batch: jax.Array
                   ) -> tuple[dict[str, list[float]], dict[str, float], dict[str, str]]:
  """Every framework's step built in this process, then timed in interleaved rounds:
  (seconds per step of each round, first-call seconds, errors) by framework."""
  runs, first, errors = {}, {}, {}
  for name in frameworks():
    try:
      runs[name], first[name] = framework_step(name, config, state, batch)
    except Exception as e:  # pylint: disable=broad-except
      if name != "torch_compile":  # the one that may not work on a model
        raise
      errors[name] = f"{type(e).__name__}: {e}"[:500]
  for run in runs.values():
    run(2)  # warm-up
  times = {name: [] for name in runs}
  for name in measure.interleaved(list(runs), FLAGS.rounds):
    times[name].append(seconds_per_step(runs[name], FLAGS.steps))
  return times, first, errors


def worker(spec: str) -> dict[str, Any]:
  """--worker: this process's framework on `spec`, warmed up, then `--steps` steps timed
  one by one."""
  xla_cpu.use_compilation_cache()  # later rounds' processes skip the compile
  config, _, state, batch = study_inputs(spec)
  run, first_s = framework_step(FLAGS.worker, config, state, batch)
  run(2)
  return {"first_call_s": first_s,
          "step_s": [seconds_per_step(run, 1) for _ in range(FLAGS.steps)]}


def in_own_processes(spec: str) -> tuple[dict[str, list[list[float]]], dict[str, float],
                                         dict[str, str]]:
  """As in_one_process, each framework's segment in a fresh process (--worker), but with
  every step's seconds of each round."""
  steps, first, errors = {}, {}, {}
  for name in measure.interleaved(frameworks(), FLAGS.rounds):
    if name in errors:
      continue
    argv = measure.module_command(
        "vs_pytorch", f"--worker={name}", f"--configs={spec}", f"--steps={FLAGS.steps}",
        f"--pause={FLAGS.pause}", f"--threads={FLAGS.threads or os.cpu_count()}",
        *(["--tiny"] if measure.tiny() else []))
    done = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=measure.ROOT)
    if done.returncode:
      if name != "torch_compile":  # the one that may not work on a model
        raise RuntimeError(done.stderr[-2000:])
      errors[name] = done.stderr.strip().splitlines()[-1][:500]
      continue
    r = json.loads(done.stdout.strip().splitlines()[-1])
    first.setdefault(name, r["first_call_s"])
    steps.setdefault(name, []).append(r["step_s"])
  return steps, first, errors


def benchmark(spec: str) -> dict[str, Any]:
  """Interleaved rounds of every framework's step on one config."""
  steps = None
  if FLAGS.processes:
    config = study_config(spec)
    steps, first, errors = in_own_processes(spec)
    times = {name: [float(np.median(s)) for s in rounds] for name, rounds in steps.items()}
  else:
    config, _, state, batch = study_inputs(spec)
    times, first, errors = in_one_process(config, state, batch)
  model = build_model(config)
  result = {"config": spec, "batch_size": config.batch_size,
            "image": [config.data.image_size] * 2 + [config.data.channels],
            "architecture": config.architecture, "prior": model.prior_kind,
            "num_components": model.num_components,
            "latent_dim": config.latent_dim, "likelihood": config.likelihood,
            "first_call_s": first, "errors": errors,
            "step_s": {name: {"median": float(np.median(t)), "per_round": t}
                       for name, t in times.items()}}
  if steps:
    result["every_step_s"] = steps
  result["ratio"] = {name.removeprefix("torch_"): ratio_summary(times[name], times["vampjax"])
                     for name in times if name != "vampjax"}
  return result


def machine() -> dict[str, Any]:
  return {"cpu": measure.cpu_name(), "cores": os.cpu_count(),
          "python": platform.python_version(), "jax": jax.__version__,
          "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
          "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""),
          "GLIBC_TUNABLES": os.environ.get("GLIBC_TUNABLES", ""),
          "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", ""),
          "load_average_1min": os.getloadavg()[0]}


def check() -> bool:
  ok = True
  for spec in FLAGS.configs:
    config, model, state, batch = study_inputs(spec)
    for name, r in compare(config, model, state.params, batch, jax.random.key(2)).items():
      ok &= r["relative_difference"] <= FLAGS.tolerance
      print(f"{spec:24s} {name:16s} vampjax {r['vampjax']:12.6g}  torch {r['torch']:12.6g}  "
            f"relative difference {r['relative_difference']:.1e}", flush=True)
  return ok


def main(_):
  if torch is None:
    print(f"PyTorch is not installed; this optional benchmark needs it: {INSTALL}")
    return
  torch.set_num_threads(FLAGS.threads or os.cpu_count())
  if FLAGS.worker:
    print(json.dumps(worker(FLAGS.configs[0])))
    return
  if FLAGS.check:
    if not check():
      print(f"The losses differ by more than --tolerance={FLAGS.tolerance}.")
      sys.exit(1)
    return
  results = []
  for spec in FLAGS.configs:
    r = benchmark(spec)
    results.append(r)
    medians = "  ".join(f"{name} {s['median']:.3f} s" for name, s in r["step_s"].items())
    ratios = "  ".join(f"{name} {q['median']:.2f}× ({q['min']:.2f}–{q['max']:.2f})"
                       for name, q in r["ratio"].items())
    print(f"{spec:24s} {medians}  PyTorch/vampjax: {ratios}  {r['errors'] or ''}", flush=True)
    if FLAGS.out:  # after every config: a long run cut short keeps what it measured
      write(FLAGS.out, results)


def write(path: str, results: list[dict[str, Any]],
          to_markdown: Callable[[dict[str, Any]], str] | None = None) -> None:
  """The results as JSON at `path` with when, where and how they were measured, and as
  markdown beside it (`.md`, by `to_markdown`, default this script's table)."""
  report = {"date": datetime.date.today().isoformat(), "machine": machine(),
            "command": measure.command_line(),
            "rounds": FLAGS.rounds, "steps_per_round": FLAGS.steps,
            "processes": FLAGS.processes,
            "note": "ratio = PyTorch time / vampjax time within each round; "
                    "absolute times are noisy (a shared 2-core machine)",
            "results": results}
  measure.write_report(path, report, to_markdown or markdown)


def header(report: dict[str, Any]) -> str:
  """The markdown line saying when, where and how `report` was measured."""
  m = report["machine"]
  processes = (" (each framework's steps in a fresh process, the round's figure their "
               "median)" if report.get("processes") else "")
  return (f"Measured {report['date']} on {m['cores']} cores of {m['cpu']}, JAX {m['jax']}, "
          f"PyTorch {m['torch']} ({m['torch_threads']} threads), {report['rounds']} "
          f"interleaved rounds of {report['steps_per_round']} steps"
          f"{processes}, load average "
          f"{m.get('load_average_1min', float('nan')):.1f} when written: "
          f"`{report['command']}`")


def markdown(report: dict[str, Any]) -> str:
  """The ratios (median and range over rounds) per config, with when, where and how."""
  lines = [header(report), "",
           "| config | K | PyTorch eager / vampjax | torch.compile / vampjax "
           "| step medians (context): vampjax / eager / compile |", "|---|---|---|---|---|"]
  for r in report["results"]:
    cells = []
    for name in ("eager", "compile"):
      q = r["ratio"].get(name)
      cells.append("—" if q is None else
                   f"**{q['median']:.2f}×** ({q['min']:.2f}–{q['max']:.2f})")
    steps = " / ".join(f"{r['step_s'][name]['median']:.3f}" for name in
                       ("vampjax", "torch_eager", "torch_compile") if name in r["step_s"])
    k = r["num_components"] or "—"
    lines.append(f"| {r['config']} | {k} | {cells[0]} | {cells[1]} | {steps} s |")
  return "\n".join(lines) + "\n"


if __name__ == "__main__":
  xla_cpu.configure_process()  # as main.py runs
  app.run(main)
