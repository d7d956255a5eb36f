"""NaN/inf steps: a flag computed in the step, checked in bulk by the loop."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

Metrics = dict[str, jax.Array]
GUARDED_TERMS = ("loss", "reconstruction", "kl", "grad_norm")


class NonFiniteError(FloatingPointError):
  """A step produced NaN or inf; the message names the step and the terms."""


def all_finite(metrics: Metrics) -> jax.Array:
  """Whether the loss terms and the gradient norm of a step are all finite."""
  return jnp.all(jnp.isfinite(jnp.stack([metrics[t] for t in GUARDED_TERMS])))


class NonFiniteGuard:
  """Collects each step's `finite` flag without a device sync, and checks them in bulk
  before anything is logged or saved: training stops at the first bad step (naming it and
  its bad terms), or, with `skip`, counts the skipped steps."""

  def __init__(self, skip: bool, workdir: str):
    self.skip, self.workdir = skip, workdir
    self.pending: list[tuple[int, Metrics]] = []
    self.skipped = 0

  def add(self, first_step: int, metrics: Metrics) -> None:
    """`metrics` of the steps from `first_step` on, stacked along a leading axis."""
    self.pending.append((first_step, metrics))

  def check(self, last_good_checkpoint: int | None) -> None:
    flags = jax.device_get([m["finite"] for _, m in self.pending])
    bad = [(first + i, m, i) for (first, m), ok in zip(self.pending, flags)
           for i in np.flatnonzero(~ok)]
    self.pending = []
    if bad and not self.skip:
      step, metrics, i = bad[0]
      values = jax.device_get({t: metrics[t][i] for t in GUARDED_TERMS})
      terms = ", ".join(f"{'gradients' if t == 'grad_norm' else t}={float(values[t])}"
                        for t in GUARDED_TERMS if not np.isfinite(values[t]))
      kept = (f"the last good checkpoint (step {last_good_checkpoint}) is kept"
              if last_good_checkpoint is not None else "no checkpoint was written")
      raise NonFiniteError(
          f"step {step}: non-finite {terms}; training stopped and {kept} in {self.workdir}. "
          "Lower learning_rate, or set skip_nonfinite_steps=True to skip such steps.")
    self.skipped += len(bad)
