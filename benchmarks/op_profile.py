"""Where a train step's (or the IS-NLL's) time goes, op by op, from a jax.profiler trace.

  python -m benchmarks.op_profile --config=celeba_vamp_conv --num_components=500 --top=15
  python -m benchmarks.op_profile --config=mnist_vamp --nll_samples=500

XLA:CPU traces every thunk it runs when `--xla_cpu_enable_xprof_traceme` is set, which this
script sets; the tracing slows the program by 15–40%, so read shares rather than absolute
times. The kernels XLA emits itself (fusions: elementwise passes, transposes, reductions,
copies) are traced for their whole run. Matmuls and convolutions run in Eigen's thread pool
and their events cover little more than the dispatch, so their time is, roughly, the wall
time less the traced ops. An op's time is the wall time during which it runs on any thread;
independent ops run concurrently on the two cores, so an op's time is not what removing it
would save (an in-process A/B of the whole step says that). Prints the wall time per call,
the traced ops' share, the top ops with the layer they come from (the HLO's op_name
metadata) and the time by kind of op; --out writes it as JSON.
"""

from __future__ import annotations

import collections
import glob
import json
import os
import re
import tempfile
import time
from typing import Any, Callable

from absl import app, flags
import jax

from benchmarks import measure
from vampjax import train, xla_cpu
from vampjax.metrics import likelihood, masked_eval

flags.DEFINE_string("config", "celeba_vamp_conv", "Config module under configs/.")
flags.DEFINE_integer("num_components", None, "Override K.")
flags.DEFINE_integer("calls", 5, "Profiled calls, after three warm-up calls.")
flags.DEFINE_integer("nll_samples", 0, "> 0: profile the IS-NLL of one batch with this S.")
flags.DEFINE_integer("top", 20, "Ops to list.")
flags.DEFINE_string("out", None, "Write the breakdown as JSON here.")
FLAGS = flags.FLAGS
TRACE_FLAG = "--xla_cpu_enable_xprof_traceme=true"
XLA_THREADS = "tf_XLA"  # the thread names of XLA:CPU's executor and Eigen pool
Interval = tuple[int, int]


def union_ns(intervals: list[Interval]) -> int:
  """The length of the union of [start, end) intervals: the wall time any of them covers."""
  total, end = 0, None
  for start, stop in sorted(intervals):
    if end is None or start > end:
      total, end = total + stop - start, stop
    elif stop > end:
      total, end = total + stop - end, stop
  return total


def op_intervals(trace_dir: str) -> dict[str, list[Interval]]:
  """HLO instruction name -> the intervals its thunk ran, over all XLA threads."""
  path = glob.glob(os.path.join(trace_dir, "**", "*.xplane.pb"), recursive=True)[0]
  intervals = collections.defaultdict(list)
  for plane in jax.profiler.ProfileData.from_file(path).planes:
    for line in plane.lines:
      if not line.name.startswith(XLA_THREADS):  # not Python's
        continue
      for event in line.events:
        if not event.name.startswith(("ThunkExecutor", "end: ")):
          intervals[event.name].append((event.start_ns, event.start_ns + event.duration_ns))
  return intervals


def op_layers(hlo_text: str) -> dict[str, str]:
  """HLO instruction name -> its op_name metadata (the JAX op and layer it came from). Ops
  XLA added (the transposes before a conv, the halves of a split reduction) carry none;
  they get their first operand's, marked "<-"."""
  instruction = re.compile(r"^\s*(?:ROOT )?%([\w.\-]+) = [^(]*\(([^)]*)\)")
  metadata = re.compile(r"op_name=\"([^\"]+)\"")
  layers, operands = {}, {}
  for line in hlo_text.splitlines():
    if m := instruction.match(line):
      operands[m.group(1)] = re.findall(r"%([\w.\-]+)", m.group(2))
      if meta := metadata.search(line):
        layers[m.group(1)] = meta.group(1)
  for name, args in operands.items():
    inherited = next((layers[a] for a in args if a in layers), None)
    if name not in layers and inherited:
      layers[name] = f"<- {inherited}"
  return layers


def shortened(op_name: str, width: int = 90) -> str:
  """The op_name without the jit(...) scopes, its end kept if still too long."""
  arrow, name = ("<- ", op_name[3:]) if op_name.startswith("<- ") else ("", op_name)
  name = re.sub(r"jit\(\w+\)/", "", name)
  return arrow + (name if len(name) <= width else "…" + name[-width:])


def profiled_program() -> tuple[str, Callable[..., Any], tuple]:
  """(what, compiled program, its arguments): the train step, or with --nll_samples the
  importance-sampled NLL of one batch."""
  config, model, state, batch = measure.study_step_inputs(FLAGS.config, FLAGS.num_components)
  rng = jax.random.key(1)
  if not FLAGS.nll_samples:
    what, fn, args = "train step", train.make_train_step(config), (state, batch, rng)
  else:
    prior = masked_eval.prior_components_fn(model)(state.params)
    what = f"IS-NLL of {len(batch)} images, S = {FLAGS.nll_samples}"
    fn = lambda p, x, key, c: likelihood.vae_log_likelihood(  # pylint: disable=g-long-lambda
        model, p, x, key, c, config, FLAGS.nll_samples, config.eval.is_chunk,
        include_constant=False)
    args = (state.params, batch, rng, prior)
  what = f"{FLAGS.config} (K = {config.num_components}), {what}"
  return what, jax.jit(fn).lower(*args).compile(), args


def main(_):
  xla_cpu.configure_process()  # as main.py runs, plus the thunk traces:
  os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {TRACE_FLAG}".strip()
  what, program, args = profiled_program()
  for _ in range(3):
    jax.block_until_ready(program(*args))
  with tempfile.TemporaryDirectory() as trace_dir:
    start = time.perf_counter()
    with jax.profiler.trace(trace_dir):
      for _ in range(FLAGS.calls):
        jax.block_until_ready(program(*args))
    wall_ms = (time.perf_counter() - start) / FLAGS.calls * 1e3
    intervals = op_intervals(trace_dir)
  per_call = lambda spans: union_ns(spans) / FLAGS.calls / 1e6  # pylint: disable=g-long-lambda
  layers = op_layers(program.as_text())
  ops = sorted(({"op": name, "ms": per_call(spans), "op_name": layers.get(name, "")}
                for name, spans in intervals.items()), key=lambda r: -r["ms"])
  by_kind = collections.defaultdict(list)  # fusion.12 and fusion.7 are one kind
  for name in intervals:
    by_kind[re.sub(r"\.\d+$", "", name)].append(name)
  kinds = sorted(({"kind": kind, "ops": len(names),
                   "ms": per_call([span for name in names for span in intervals[name]])}
                  for kind, names in by_kind.items()), key=lambda r: -r["ms"])
  traced_ms = per_call([span for spans in intervals.values() for span in spans])

  print(f"{what}: {wall_ms:.0f} ms per call while traced; XLA's own kernels "
        f"{traced_ms:.0f} ms ({100 * traced_ms / wall_ms:.0f}%), the rest "
        f"({wall_ms - traced_ms:.0f} ms) mostly Eigen's matmuls and convolutions")
  print(f"\ntop {FLAGS.top} ops:")
  for r in ops[:FLAGS.top]:
    print(f"{r['ms']:8.2f} ms  {r['op']:32s} {shortened(r['op_name'])}")
  print("\nby kind:")
  for r in kinds[:FLAGS.top]:
    print(f"{r['ms']:8.2f} ms  {r['kind']} ({r['ops']} ops)")
  if FLAGS.out:
    with open(FLAGS.out, "w") as f:
      json.dump({"program": what, "traced_call_ms": wall_ms, "xla_kernels_ms": traced_ms,
                 "ops": ops, "kinds": kinds}, f, indent=2)


if __name__ == "__main__":
  app.run(main)
