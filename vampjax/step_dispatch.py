"""How the training loop dispatches its steps: which steps each jitted call takes
(`call_chunks`), and how many calls may run ahead of the last one known complete
(`InFlight`, bounded by STEPS_AHEAD while calls are faster than SLOW_STEP_SECONDS)."""

from __future__ import annotations

import collections
import time
from typing import Any, Iterable, Iterator

import jax
from tqdm import tqdm

STEPS_AHEAD = 1  # calls dispatched beyond the last one known complete, while calls are fast
SLOW_STEP_SECONDS = 1.0  # from this call time on, none: a stop waits for one call at most


def call_chunks(start: int, last: int, periods: Iterable[int]) -> Iterator[tuple[int, int]]:
  """(first, last) train step of each call from step start + 1 to `last`: a call ends at
  every multiple of each positive period (steps_per_call, and the periods of logging,
  evaluation, checkpoints, validation...) and at `last`, so that all of them fall on a
  call's last step. Calls end at the same steps whatever the start, so a resumed run
  makes the same calls as an uninterrupted one."""
  periods = [p for p in periods if p > 0]
  step = start
  while step < last:
    end = min([last] + [(step // p + 1) * p for p in periods])
    yield step + 1, end
    step = end


class InFlight:
  """The calls dispatched but not yet known complete; the progress bar counts the others.

  JAX dispatches asynchronously: unbounded, the loop would queue every call up to its next
  log line, and a stop (and the bar) would wait for all of them. While calls are fast, one
  runs ahead, which keeps an accelerator busy while the host dispatches the next; once a
  call takes SLOW_STEP_SECONDS or more, none does, so that a stop waits for one call only.
  """

  def __init__(self, bar: tqdm):
    self.bar, self.pending = bar, collections.deque()
    self.call_seconds, self.done_at = float("inf"), time.perf_counter()

  def add(self, metrics: Any, steps: int) -> None:
    """Takes the metrics (arrays) of a call of `steps` steps just dispatched; waits for the
    calls over the bound."""
    self.pending.append((metrics, steps))
    ahead = STEPS_AHEAD if self.call_seconds < SLOW_STEP_SECONDS else 0
    while len(self.pending) > ahead:
      metrics, steps = self.pending.popleft()
      jax.block_until_ready(metrics)
      self._done(1, steps)

  def all_done(self) -> None:
    """The newest call is known complete (its results were read), so every call is."""
    self._done(len(self.pending), sum(steps for _, steps in self.pending))
    self.pending.clear()

  def _done(self, calls: int, steps: int) -> None:
    now = time.perf_counter()
    if calls:
      self.call_seconds = (now - self.done_at) / calls
      self.bar.update(steps)
    self.done_at = now
