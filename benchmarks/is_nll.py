"""Times the importance-sampled NLL of one batch, variant against variant.

  python -m benchmarks.is_nll [--configs=paper.vae_vamp,paper.hvae_vamp] [--samples=1000]
      [--rounds=5] [--variants=map50,map25,...] [--out=benchmarks/results/is_nll.json]

One measurement is the IS estimate of log p(x) (`vampjax.metrics.likelihood`) of one batch
of `batch_size` synthetic binary images with S = --samples (the cost is linear in S; the
paper's S = 5000 costs 5000/S times as much), on fresh parameters (the cost does not depend
on training). The variants, each compiled before the rounds, are timed in interleaved
rounds (benchmarks/measure.py). A variant's name is its form and its chunk of samples:

  map<c>      the library's estimate: the S/c chunks in a `lax.map` in one jitted program;
  loop<c>     the same chunks as a Python loop over one jitted chunk program;
  bce<c>      map, with the Bernoulli log-density as l·x − max(l, 0) − log1p(e^−|l|)
              (TensorFlow's form; optax's two log-sigmoids share their exp after XLA's CSE);
  logsig<c>   map, the same with log σ(|l|) for −log1p(e^−|l|): XLA:CPU's sigmoid is a
              fast rational function, and σ(|l|) ≥ ½ loses nothing to underflow;
  priordot<c> map, with the VampPrior's logsumexp over the K components summed by a
              matrix product with a vector of ones instead of XLA:CPU's tree reduction.

Every variant's estimate is compared with the first's: the same chunk size draws the same
samples (so they agree to float32 rounding); another chunk size draws other samples (they
agree to the Monte-Carlo error). Writes JSON and markdown (--out).
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import time
from typing import Any, Callable, Iterator

from absl import app, flags
import jax
import jax.numpy as jnp
import numpy as np
import optax

from benchmarks import measure
from vampjax import priors, xla_cpu
from vampjax.metrics import likelihood, masked_eval

flags.DEFINE_list("configs", ["paper.vae_vamp", "paper.hvae_vamp"], "Modules under configs/.")
flags.DEFINE_list("variants", ["map50", "map5", "map10", "map25", "map100", "map250",
                               "map500", "loop50", "bce50", "logsig50", "priordot50",
                               "logsig10"],
                  "Variants (see the docstring); the first is the reference.")
flags.DEFINE_integer("samples", 1000, "S importance samples per measurement.")
flags.DEFINE_integer("rounds", 5, "Interleaved rounds; the median and the range are reported.")
flags.DEFINE_string("out", None, "Write the results as JSON here, markdown beside it.")
FLAGS = flags.FLAGS

Estimate = Callable[[], jax.Array]  # () -> log p(x) of the batch, (N,)


def bernoulli_one_log(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Binary cross-entropy from logits with one exp and one log per element (TensorFlow's
  `sigmoid_cross_entropy_with_logits`)."""
  return jnp.maximum(logits, 0.0) - logits * labels + jnp.log1p(jnp.exp(-jnp.abs(logits)))


def bernoulli_log_sigmoid(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Binary cross-entropy from logits with one sigmoid and one log per element."""
  return (jnp.maximum(logits, 0.0) - logits * labels
          - jnp.log(jax.nn.sigmoid(jnp.abs(logits))))


def mixture_log_prob_by_dot(z: jax.Array, mu_k: jax.Array, logvar_k: jax.Array,
                            mask: jax.Array | None = None) -> jax.Array:
  """`priors.log_prob` (unsharded: no mask) with the sum over components as a matmul."""
  assert mask is None, "the benchmark runs on one device"
  log_density = priors.component_log_probs(z, mu_k, logvar_k)  # (N, K)
  top = jax.lax.stop_gradient(jnp.max(log_density, axis=-1))
  total = jnp.exp(log_density - top[:, None]) @ jnp.ones(log_density.shape[-1])
  return jnp.log(total) + top - math.log(mu_k.shape[0])


@contextlib.contextmanager
def patched(form: str) -> Iterator[list[int]]:
  """While tracing: the variant's replacement of a library function (none for map, loop);
  yields a list that grows by one each time the replacement is traced."""
  module, name, replacement = {
      "bce": (optax, "sigmoid_binary_cross_entropy", bernoulli_one_log),
      "logsig": (optax, "sigmoid_binary_cross_entropy", bernoulli_log_sigmoid),
      "priordot": (priors, "log_prob", mixture_log_prob_by_dot)}.get(form, (None, None, None))
  traced: list[int] = []
  if module is None:
    yield traced
    return

  def counted(*args, **kwargs):
    traced.append(1)
    return replacement(*args, **kwargs)

  saved = getattr(module, name)
  setattr(module, name, counted)
  try:
    yield traced
  finally:
    setattr(module, name, saved)


def variant(name: str, model, params, x: jax.Array, rng: jax.Array, prior,
            num_samples: int) -> tuple[Estimate, float, int]:
  """(the variant's estimate, compiled, as a call; its compile seconds; how many times its
  replacement of a library function was traced)."""
  form, chunk = re.fullmatch(r"([a-z]+)(\d+)", name).groups()
  chunk = likelihood._chunk(num_samples, int(chunk))  # pylint: disable=protected-access
  start = time.perf_counter()
  with patched(form) as traced:
    if form != "loop":
      program = likelihood._jitted_estimate.__wrapped__(  # pylint: disable=protected-access
          model, model.noise_dim, num_samples, chunk, 0.0).lower(params, x, rng, prior).compile()
      estimate = lambda: program(params, x, rng, prior)
    else:
      keys = likelihood.chunk_keys(rng, num_samples, chunk)
      one_chunk = jax.jit(chunk_program(model, x, chunk)).lower(params, keys[0], prior).compile()
      estimate = lambda: (jax.nn.logsumexp(jnp.stack([one_chunk(params, key, prior)
                                                      for key in keys]), axis=0)
                          - math.log(num_samples))
  jax.block_until_ready(estimate())  # warm-up
  return estimate, time.perf_counter() - start, len(traced)


def chunk_program(model, x: jax.Array, chunk: int) -> Callable[..., jax.Array]:
  """(params, key, prior) -> the logsumexp of one chunk's log-weights of x, (N,)."""
  return lambda p, key, c: likelihood.chunk_logsumexp(  # pylint: disable=g-long-lambda
      key, lambda noise: model.apply({"params": p}, x, noise, c),
      (x.shape[0], model.noise_dim), chunk)


def chunk_gflop(model, params, x: jax.Array, rng: jax.Array, prior, chunk: int) -> float:
  """XLA's GFLOP count of one chunk of `chunk` samples (its encoder pass included)."""
  return measure.model_flops(chunk_program(model, x, chunk), params, rng, prior) / 1e9


def measure_config(name: str, names: list[str], num_samples: int, rounds: int,
                   peak: float) -> dict[str, Any]:
  """Every variant of configs/<name>, timed in interleaved rounds."""
  config, model, state, _ = measure.study_step_inputs(name)
  size, channels = config.data.image_size, config.data.channels
  x = jnp.asarray(np.random.default_rng(0).uniform(size=(config.batch_size, size, size,
                                                         channels)) < 0.2, jnp.float32)
  rng = jax.random.key(1)
  prior = masked_eval.prior_components_fn(model)(state.params)
  built = {v: variant(v, model, state.params, x, rng, prior, num_samples) for v in names}
  seconds: dict[str, list[float]] = {v: [] for v in names}
  for v in measure.interleaved(names, rounds):
    seconds[v].append(measure.timed(built[v][0])[1])
  reference = np.asarray(built[names[0]][0](), np.float64)
  one, two = (chunk_gflop(model, state.params, x, rng, prior, c) for c in (1, 2))
  gflop = (one - (two - one)) + (two - one) * num_samples  # the encoder once, S samples
  rows = []
  for v in names:
    out = np.asarray(built[v][0](), np.float64)
    median = float(np.median(seconds[v]))
    paired = np.asarray(seconds[names[0]]) / np.asarray(seconds[v])  # round by round
    rows.append({"variant": v, "seconds": seconds[v], "median_s": median,
                 "min_s": min(seconds[v]), "max_s": max(seconds[v]),
                 "vs_first": float(np.median(seconds[names[0]]) / median),
                 "paired_vs_first": float(np.median(paired)),
                 "rounds_faster_than_first": int(np.sum(paired > 1.0)),
                 "compile_s": built[v][1], "replacement_traced": built[v][2],
                 "gflop_per_s": gflop / median,
                 "fraction_of_peak": gflop / median / peak,
                 "max_abs_diff_nats": float(np.max(np.abs(out - reference))),
                 "mean_log_px": float(np.mean(out))})
    print(f"{name} {v}: {median:.2f} s ({min(seconds[v]):.2f}–{max(seconds[v]):.2f}), "
          f"{rows[-1]['vs_first']:.2f}× the first, |Δ| ≤ {rows[-1]['max_abs_diff_nats']:.2g} "
          f"nats", flush=True)
  return {"config": name, "batch_size": config.batch_size, "gflop_per_call": gflop,
          "rows": rows}


def to_markdown(report: dict[str, Any]) -> str:
  lines = [f"IS-NLL of one batch, S = {report['samples']} (the paper's 5000 costs "
           f"{5000 / report['samples']:g}× as much), on {report['cpu']} ({report['device']}, "
           f"JAX {report['jax']}): median and range of {report['rounds']} interleaved rounds, "
           f"under load (1-min load average {report['load_average_1min_at_end']:.1f} at the "
           f"end); float32 matmul peak under the same load {report['matmul_peak_gflops']:.0f} "
           "GFLOP/s; GFLOP/s is XLA's FLOP count (matmuls and elementwise ops) per second.", "",
           f"`{report['command']}`", "",
           "vs the first: the ratio of the medians; paired: the median of the rounds' "
           "ratios, and in how many rounds the variant was the faster.", "",
           "| config | variant | s per batch | range | vs the first | paired | GFLOP/s (of peak) "
           "| max \\|Δ log p(x)\\| vs the first (nats) |", "|---|---|---|---|---|---|---|---|"]
  for result in report["results"]:
    lines += [f"| {result['config']} | {r['variant']} | {r['median_s']:.2f} | "
              f"{r['min_s']:.2f}–{r['max_s']:.2f} | {r['vs_first']:.2f}× | "
              f"{r['paired_vs_first']:.2f}× ({r['rounds_faster_than_first']}/"
              f"{len(r['seconds'])}) | "
              f"{r['gflop_per_s']:.0f} ({100 * r['fraction_of_peak']:.0f}%) | "
              f"{r['max_abs_diff_nats']:.2g} |" for r in result["rows"]]
  return "\n".join(lines) + "\n"


def main(_):
  xla_cpu.configure_process()  # as main.py runs
  peak = max(measure.matmul_peak_gflops().values())
  results = [measure_config(name, FLAGS.variants, FLAGS.samples, FLAGS.rounds, peak)
             for name in FLAGS.configs]
  report = {"device": str(jax.devices()[0]), "cpu": measure.cpu_name(), "jax": jax.__version__,
            "command": measure.command_line(), "samples": FLAGS.samples,
            "rounds": FLAGS.rounds, "matmul_peak_gflops": peak,
            "load_average_1min_at_end": os.getloadavg()[0], "results": results}
  print(to_markdown(report))
  if FLAGS.out:
    measure.write_report(FLAGS.out, report, to_markdown)


if __name__ == "__main__":
  app.run(main)
