"""Active units (Burda, Grosse & Salakhutdinov, 2016).

Latent unit d is active when A_d = Cov_x(E_{q(z|x)}[z_d]) exceeds a threshold (0.01):
a unit whose posterior mean does not move with x carries no information about x.
"""

from __future__ import annotations

import numpy as np


def posterior_mean_variance(mu: np.ndarray) -> np.ndarray:
  """A_d, the variance over examples of each unit's posterior mean: (N, D) -> (D,).

  Accumulated in float64 so that 10⁴–10⁵ examples lose no precision.
  """
  return np.var(np.asarray(mu, np.float64), axis=0)


def count_active(variances: np.ndarray, threshold: float = 0.01) -> int:
  """The number of units whose variance A_d is above `threshold`."""
  return int(np.sum(np.asarray(variances) > threshold))


def active_units(mu: np.ndarray, threshold: float = 0.01) -> tuple[int, np.ndarray]:
  """(count, per-unit variances) from the posterior means of every test example."""
  variances = posterior_mean_variance(mu)
  return count_active(variances, threshold), variances
