"""Rows run with several seeds, and the rule that decides a claim from their spread.

Each seed of a row is its own run: the row with `seed=<s>` among its overrides, so its
workdir name gains `_seed-<s>`; seed 0 (every config's own seed) adds nothing, so a row's
earlier one-seed run is its seed 0. A claim `left < right` between two rows is decided by
the difference of their mean test NLLs against twice the pooled standard deviation of the
seeds; with one seed on either side there is no spread, and the numbers alone decide.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

from experiments.tables import Row

SEED_KEY = "seed"


def seeded(row: Row, seed: int) -> Row:
  """The row trained with `seed` (seed 0: the row itself, its config's seed)."""
  if seed == 0:
    return row
  return dataclasses.replace(row, overrides={**row.overrides, SEED_KEY: seed})


def seed_of(row: Row) -> int:
  return row.overrides.get(SEED_KEY, 0)


@dataclasses.dataclass(frozen=True)
class Spread:
  """A row's test NLLs over its seeds."""
  values: tuple[float, ...]

  @property
  def n(self) -> int:
    return len(self.values)

  @property
  def mean(self) -> float:
    return sum(self.values) / self.n

  @property
  def sd(self) -> float | None:
    """The sample standard deviation (n − 1 in the denominator); None with one seed."""
    if self.n < 2:
      return None
    return math.sqrt(sum((v - self.mean) ** 2 for v in self.values) / (self.n - 1))

  def text(self, digits: int = 2) -> str:
    """'87.13 ± 0.05 (n = 3)', or '87.13 (n = 1)'."""
    sd = "" if self.sd is None else f" ± {self.sd:.{digits}f}"
    return f"{self.mean:.{digits}f}{sd} (n = {self.n})"


def pooled_sd(a: Spread, b: Spread) -> float | None:
  """√(((n_a − 1)s_a² + (n_b − 1)s_b²) / (n_a + n_b − 2)); None unless both have two seeds."""
  if a.sd is None or b.sd is None:
    return None
  return math.sqrt(((a.n - 1) * a.sd ** 2 + (b.n - 1) * b.sd ** 2) / (a.n + b.n - 2))


@dataclasses.dataclass(frozen=True)
class Decision:
  verdict: str                   # "holds" | "does not hold" | "undecided"
  gap: float                     # |mean left − mean right|
  pooled_sd: float | None        # None: a row has one seed, the numbers alone decided


def decide(relation: str, left: Spread, right: Spread) -> Decision:
  """`left relation right` ("<" or ">") on the means; "undecided" when the means are closer
  than twice the pooled standard deviation."""
  gap = abs(left.mean - right.mean)
  sd = pooled_sd(left, right)
  if sd is not None and gap < 2 * sd:
    return Decision("undecided", gap, sd)
  holds = left.mean < right.mean if relation == "<" else left.mean > right.mean
  return Decision("holds" if holds else "does not hold", gap, sd)


def one_seed_text(labeled: dict[str, Spread]) -> str:
  """Why a decision had no spread: the rows of `labeled` (label: spread) with one seed."""
  one = [label for label, spread in labeled.items() if spread.n < 2]
  return (f"{' and '.join(one)} {'has' if len(one) == 1 else 'have'} one seed: no spread, "
          "decided by the numbers alone")


def spreads(results: Sequence, metric: str = "is_nll_nats") -> dict[str, Spread]:
  """Row key -> the Spread of `metric` over the row's seeds (results without it left out)."""
  values: dict[str, list[float]] = {}
  for r in results:
    if r.metrics.get(metric) is not None:
      values.setdefault(r.row.key, []).append(r.metrics[metric])
  return {key: Spread(tuple(v)) for key, v in values.items()}
