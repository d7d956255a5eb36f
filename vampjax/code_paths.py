"""Which backend's code paths to take: a few choices follow the backend, and can be forced.

On XLA:CPU, fast_convs sums kernel gradients over cache-sized batch chunks and grad_accum
unrolls its micro-batch scan; other backends take one kernel gradient and a rolled scan.
`VAMPJAX_CODE_PATHS=gpu` (or `tpu`, `cpu`) takes that backend's paths on any machine, so the
tests run an accelerator's paths on the CPU too. (The XLA:CPU process settings of xla_cpu
are forced by their own variables: XLA_FLAGS, GLIBC_TUNABLES.)
"""

from __future__ import annotations

import os

import jax

CODE_PATHS_ENV = "VAMPJAX_CODE_PATHS"
BACKENDS = ("cpu", "gpu", "tpu")


def backend() -> str:
  """The backend whose paths to trace: $VAMPJAX_CODE_PATHS if set, else JAX's default."""
  forced = os.environ.get(CODE_PATHS_ENV, "")
  if forced and forced not in BACKENDS:
    raise ValueError(f"{CODE_PATHS_ENV}={forced!r}; use one of {BACKENDS}, or unset it.")
  return forced or jax.default_backend()


def cpu_paths() -> bool:
  """Whether to take XLA:CPU's paths."""
  return backend() == "cpu"
