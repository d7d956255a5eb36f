"""What the benchmarks share: the study's step inputs, timing with spread, the matmul peak,
the model's FLOPs, memory.

The FLOPs are the model's: XLA:CPU's count for a program built with plain `lax` convs
(vampjax.fast_convs' reference forms), which counts only the kernel taps that meet the
image. The fast forms also work on zero padding and would inflate the rate. The peak is the
faster of numpy's and XLA's float32 matmul (2048² on CPU, 8192² on an accelerator, where
XLA:GPU runs it as TF32); numpy's OpenBLAS uses AVX2 kernels on this machine and reaches
about half of what XLA's does.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import platform
import resource
import sys
import time
from typing import Any, Callable, Iterator

from absl import flags
import jax
import numpy as np

from vampjax import fast_convs
from vampjax.state import create_train_state
from vampjax.models import build_model
from vampjax.vae import VAE


flags.DEFINE_bool("tiny", False, "Tiny sizes (4 images, K = 4): a smoke test of the script in "
                  "seconds (tests/test_benchmarks.py); its numbers mean nothing.")
TINY = {"batch_size": 4, "num_components": 4, "eval.is_chunk": 4}
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the repository


def module_command(name: str, *args: str) -> list[str]:
  """The command that runs benchmarks/<name>.py as a module, `python -m benchmarks.<name>`,
  with `args`; run it with cwd=ROOT."""
  return [sys.executable, "-m", f"benchmarks.{name}", *args]


def tiny() -> bool:
  """Whether this benchmark runs with --tiny."""
  return flags.FLAGS.is_parsed() and flags.FLAGS.tiny


def command_line() -> str:
  """How this benchmark was run, `python -m benchmarks.<name> <flags>`, for its report."""
  module = os.path.splitext(os.path.basename(sys.argv[0]))[0]
  return " ".join(["python", "-m", f"benchmarks.{module}", *sys.argv[1:]])


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
  """(fn(), seconds), waiting for the result."""
  start = time.perf_counter()
  result = jax.block_until_ready(fn())
  return result, time.perf_counter() - start


def median_seconds(fn: Callable[[], Any], repeats: int) -> float:
  """Median seconds of `repeats` calls of fn, after one untimed call (compile, warm-up)."""
  timed(fn)
  return float(np.median([timed(fn)[1] for _ in range(repeats)]))


def interleaved(names: list[str], rounds: int) -> Iterator[str]:
  """`names` once per round, the order reversed every other round (so that no one is
  always timed first, or always right after the same other)."""
  for i in range(rounds):
    yield from (names if i % 2 == 0 else reversed(names))


def write_report(path: str, report: dict[str, Any],
                 to_markdown: Callable[[dict[str, Any]], str]) -> None:
  """`report` as JSON at `path` and as markdown (`to_markdown`) beside it, `.md`."""
  with open(path, "w") as f:
    json.dump(report, f, indent=2)
  with open(os.path.splitext(path)[0] + ".md", "w") as f:
    f.write(to_markdown(report))


def spread(seconds: list[float], prefix: str) -> dict[str, float]:
  """Median, 10th and 90th percentile of repeated timings."""
  return {f"{prefix}_median_s": float(np.median(seconds)),
          f"{prefix}_p10_s": float(np.percentile(seconds, 10)),
          f"{prefix}_p90_s": float(np.percentile(seconds, 90))}


def matmul_peak_gflops(n: int | None = None, repeats: int = 5) -> dict[str, float]:
  """Float32 matmul rates of numpy and of XLA on this machine: practical peaks. n: 2048 on
  CPU; 8192 on an accelerator, where a 2048² product is too short to time."""
  n = n or (256 if tiny() else 2048 if jax.default_backend() == "cpu" else 8192)
  a = np.random.default_rng(0).standard_normal((n, n), np.float32)
  xla_matmul, a_device = jax.jit(lambda x: x @ x), jax.numpy.asarray(a)
  rates = {}
  for name, fn in (("numpy", lambda: a @ a), ("xla", lambda: xla_matmul(a_device))):
    timed(fn)
    rates[name] = 2 * n ** 3 / min(timed(fn)[1] for _ in range(repeats)) / 1e9
  return rates


@contextlib.contextmanager
def reference_convs():
  """Builds models with the plain `lax` convs (for counting the model's FLOPs)."""
  names = ("strided_conv", "conv_transpose", "same_conv")
  saved = {name: getattr(fast_convs, name) for name in names}
  for name in names:
    setattr(fast_convs, name, getattr(fast_convs, f"{name}_reference"))
  try:
    yield
  finally:
    for name, fn in saved.items():
      setattr(fast_convs, name, fn)


def model_flops(fn: Callable[..., Any], *args) -> float:
  """The model's FLOPs of fn(*args): fn (not yet jitted) traced with the plain convs and
  compiled for the CPU, whatever the default backend: XLA:GPU's cost analysis leaves out
  the convolutions it hands to cuDNN (it counted 0.4 of mnist_vamp's 20 GFLOP a step)."""
  cpu_args = jax.device_put(args, jax.devices("cpu")[0])
  with reference_convs():
    return float(jax.jit(fn).lower(*cpu_args).compile().cost_analysis()["flops"])


def cpu_name() -> str:
  """The CPU's model name (platform.processor() is empty on Linux)."""
  with open("/proc/cpuinfo") as f:
    models = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
  return models[0] if models else platform.processor()


def peak_rss_mb() -> float:
  """The process's high-water mark so far (on CPU, host memory holds the device buffers)."""
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def study_config(name: str, num_components: int | None = None,
                 grad_accum_steps: int | None = None, dtype: str | None = None) -> Any:
  """configs/<name>.py at its real sizes, K, the micro-batches and the compute dtype
  overridden where given, initialised without data (the cost does not depend on it); with
  --tiny, at the sizes of `TINY`."""
  config = importlib.import_module(f"configs.{name}").get_config()
  if dtype:
    config.dtype = dtype
  if num_components:
    config.num_components = num_components
  if grad_accum_steps:
    config.grad_accum_steps = grad_accum_steps
  config.pseudo_init = "random"  # shapes and cost are the same as with the data inits
  config.decoder_bias_init = "zero"
  if tiny():
    config.update_from_flattened_dict(TINY)
  return config


def study_step_inputs(name: str, num_components: int | None = None,
                      grad_accum_steps: int | None = None,
                      dtype: str | None = None) -> tuple[Any, VAE, Any, jax.Array]:
  """(config, model, fresh train state, uniform-noise batch) of `study_config`."""
  config = study_config(name, num_components, grad_accum_steps, dtype)
  size, channels = config.data.image_size, config.data.channels
  batch = np.random.default_rng(0).uniform(size=(config.batch_size, size, size, channels))
  model = build_model(config)
  state = create_train_state(config, model, jax.random.key(0))
  return config, model, state, jax.numpy.asarray(batch, jax.numpy.float32)
