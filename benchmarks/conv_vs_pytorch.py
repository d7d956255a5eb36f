"""Each conv layer of a config's train step, forward and backward, in XLA:CPU and in PyTorch,
timed side by side: is a step that is not faster than PyTorch's bound by the conv kernels?

  pip install torch==2.13.0   # optional, as for benchmarks/vs_pytorch.py
  python -m benchmarks.conv_vs_pytorch --configs=celeba_vamp_resnet:500,celeba_vae_conv

The layers are recorded from the model itself (every Conv3x3, Conv2xDown and
ConvTranspose2x call of one train-step forward pass, with its batch: the encoder sees the
batch plus the K pseudo-inputs). Each is timed as its forward and its vector-Jacobian
product (the input and the kernel gradient): vampjax's conv forms as the step uses them
(vampjax.fast_convs), PyTorch's F.conv2d / F.conv_transpose2d with autograd, NCHW, one
thread per core. A round times every layer in one framework, then in the other (the
order reversed every other round), then the whole train steps of both
(benchmarks/vs_pytorch.py's), so that the summed conv time can be set beside the step time
of the same rounds.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable

from absl import app, flags
from flax import linen as nn
import jax
import numpy as np

from benchmarks import vs_pytorch
from vampjax import fast_convs, objective, xla_cpu
from vampjax.models import build_model

try:
  import torch
  import torch.nn.functional as F
except ImportError:
  torch = None

FLAGS = flags.FLAGS

# Each layer kind: vampjax's conv, and PyTorch's (NCHW input, OIHW or IOHW kernel).
JAX_CONVS = {"Conv3x3": fast_convs.same_conv, "Conv2xDown": fast_convs.strided_conv,
             "ConvTranspose2x": fast_convs.conv_transpose}


def torch_conv(kind: str) -> Callable:
  if kind == "Conv3x3":
    return lambda x, w: F.conv2d(x, w, padding=1)
  if kind == "Conv2xDown":
    return lambda x, w: F.conv2d(x, w, stride=2, padding=1)
  return lambda x, w: F.conv_transpose2d(x, w, stride=2, padding=1)


def conv_layers(config, state: Any, batch: jax.Array) -> list[dict[str, Any]]:
  """Every conv layer of one forward pass: kind, input shape (NHWC) and kernel shape."""
  layers = []

  def record(next_fun, args, kwargs, context):
    module = context.module
    if type(module).__name__ in JAX_CONVS and context.method_name == "__call__":
      u = args[0]
      params = module.variables["params"]
      layers.append({"kind": type(module).__name__, "input": list(u.shape),
                     "kernel": list(params["kernel"].shape), "name": "/".join(module.path)})
    return next_fun(*args, **kwargs)

  noise = objective.sample_noise(jax.random.key(0), build_model(config), config, batch.shape[0])
  with nn.intercept_methods(record):
    jax.eval_shape(lambda p: state.apply_fn({"params": p}, batch, noise), state.params)
  return layers


def jax_layer(layer: dict[str, Any]) -> Callable[[], Any]:
  conv = JAX_CONVS[layer["kind"]]
  rng = np.random.default_rng(0)
  u = jax.numpy.asarray(rng.standard_normal(layer["input"]), jax.numpy.float32)
  kernel = jax.numpy.asarray(rng.standard_normal(layer["kernel"]), jax.numpy.float32)
  g = jax.numpy.asarray(rng.standard_normal(jax.eval_shape(conv, u, kernel).shape),
                        jax.numpy.float32)

  @jax.jit
  def forward_backward(u, kernel, g):
    y, vjp = jax.vjp(conv, u, kernel)
    return y, vjp(g)

  return lambda: jax.block_until_ready(forward_backward(u, kernel, g))


def torch_layer(layer: dict[str, Any]) -> Callable[[], Any]:
  conv = torch_conv(layer["kind"])
  n, h, w, c = layer["input"]
  kh, kw, k2, k3 = layer["kernel"]
  gen = torch.Generator().manual_seed(0)
  x = torch.randn(n, c, h, w, generator=gen, requires_grad=True)
  # vampjax's kernels are HWIO, the transposed conv's that of the conv it transposes; so
  # PyTorch's Conv2d (OIHW) and ConvTranspose2d (its input's channels first) are both
  # (k3, k2, kh, kw).
  weight = torch.randn(k3, k2, kh, kw, generator=gen, requires_grad=True)
  g = torch.randn_like(conv(x, weight))

  def run():
    x.grad = weight.grad = None
    conv(x, weight).backward(g)

  return run


def seconds(fn: Callable[[], Any], repeats: int) -> float:
  start = time.perf_counter()
  for _ in range(repeats):
    fn()
  return (time.perf_counter() - start) / repeats


def benchmark(spec: str) -> dict[str, Any]:
  config, _, state, batch = vs_pytorch.study_inputs(spec)
  layers = conv_layers(config, state, batch)
  runs = [{"jax": jax_layer(layer), "torch": torch_layer(layer)} for layer in layers]
  steps = {"jax": vs_pytorch.vampjax_step(config, state, batch)[0],
           "torch": vs_pytorch.torch_step(config, batch, False)[0]}
  for run in runs:
    run["jax"](), run["torch"]()  # compile, warm up
  for step in steps.values():
    step(1)
  per_layer = [{"jax": [], "torch": []} for _ in layers]
  step_s = {"jax": [], "torch": []}
  for i in range(FLAGS.rounds):
    order = ("jax", "torch") if i % 2 == 0 else ("torch", "jax")
    for name in order:  # one framework's layers, then the other's: PyTorch's OpenMP
      for run, times in zip(runs, per_layer):  # threads spin on after its last call
        times[name].append(seconds(run[name], FLAGS.steps))
    for name in order:
      step_s[name].append(vs_pytorch.seconds_per_step(steps[name], FLAGS.steps))
  conv_s = {name: [sum(t[name][i] for t in per_layer) for i in range(FLAGS.rounds)]
            for name in ("jax", "torch")}
  for layer, times in zip(layers, per_layer):
    layer["ms"] = {name: 1e3 * float(np.median(t)) for name, t in times.items()}
    layer["torch_over_jax"] = vs_pytorch.ratio_summary(times["torch"], times["jax"])
  return {"config": spec, "layers": layers,
          "convs_s": {name: float(np.median(t)) for name, t in conv_s.items()},
          "convs_torch_over_jax": vs_pytorch.ratio_summary(conv_s["torch"], conv_s["jax"]),
          "step_s": {name: float(np.median(t)) for name, t in step_s.items()},
          "step_torch_over_jax": vs_pytorch.ratio_summary(step_s["torch"], step_s["jax"])}


def config_section(result: dict[str, Any]) -> list[str]:
  """One config's markdown: its whole steps and summed convs, then a table of its layers."""
  conv, step = result["convs_torch_over_jax"], result["step_torch_over_jax"]
  lines = [f"### {result['config']}", "",
           f"Whole train step: vampjax {result['step_s']['jax']:.3f} s, PyTorch eager "
           f"{result['step_s']['torch']:.3f} s (PyTorch / vampjax {step['median']:.2f}×, "
           f"{step['min']:.2f}–{step['max']:.2f}). Its convs, forward and backward, "
           f"summed: vampjax {result['convs_s']['jax']:.3f} s, PyTorch "
           f"{result['convs_s']['torch']:.3f} s ({conv['median']:.2f}×, "
           f"{conv['min']:.2f}–{conv['max']:.2f}).", "",
           "| layer | input (NHWC) | kernel | vampjax ms | PyTorch ms | PyTorch / vampjax |",
           "|---|---|---|---|---|---|"]
  for layer in result["layers"]:
    r = layer["torch_over_jax"]
    lines.append(f"| {layer['name']} | {'×'.join(map(str, layer['input']))} | "
                 f"{'×'.join(map(str, layer['kernel']))} | {layer['ms']['jax']:.1f} | "
                 f"{layer['ms']['torch']:.1f} | {r['median']:.2f}× "
                 f"({r['min']:.2f}–{r['max']:.2f}) |")
  return lines + [""]


def markdown(report: dict[str, Any]) -> str:
  """When, where and how, then each config's section."""
  lines = [vs_pytorch.header(report) + " (a round times each layer `--steps` times, then "
           "`--steps` whole train steps)", ""]
  for result in report["results"]:
    lines += config_section(result)
  return "\n".join(lines)


def main(_):
  if torch is None:
    print(f"PyTorch is not installed; this optional benchmark needs it: {vs_pytorch.INSTALL}")
    return
  torch.set_num_threads(FLAGS.threads or os.cpu_count())
  results = []
  for spec in FLAGS.configs:
    results.append(benchmark(spec))
    print("\n".join(config_section(results[-1])), flush=True)
    if FLAGS.out:  # after every config: a long run cut short keeps what it measured
      vs_pytorch.write(FLAGS.out, results, markdown)


if __name__ == "__main__":
  xla_cpu.configure_process()  # as main.py runs
  app.run(main)
