"""Active units on a synthetic encoder whose active dimensions are known."""

import numpy as np

from vampjax.metrics import active_units


def synthetic_posterior_means(num_examples=500, latent_dim=10, active=(0, 3, 4, 8), seed=0):
  """E_q[z|x] of an encoder that uses only `active` units: the others are (nearly) constant."""
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(num_examples, 5))
  mu = np.full((num_examples, latent_dim), 0.3) + 1e-3 * rng.normal(size=(num_examples, latent_dim))
  for i, d in enumerate(active):
    mu[:, d] = x[:, i % 5] * (0.5 + i)  # variance ≥ 0.25, far above 0.01
  return mu


def test_counts_exactly_the_active_dimensions():
  count, variances = active_units.active_units(synthetic_posterior_means(), threshold=0.01)
  assert count == 4
  assert variances.shape == (10,)
  assert set(np.flatnonzero(variances > 0.01)) == {0, 3, 4, 8}


def test_threshold_is_strict_and_configurable():
  variances = np.array([0.5, 0.01, 0.02, 0.0])
  assert active_units.count_active(variances, 0.01) == 2
  assert active_units.count_active(variances, 0.1) == 1


def test_variance_is_over_examples():
  mu = np.array([[0.0, 1.0], [2.0, 1.0]], np.float32)
  np.testing.assert_allclose(active_units.posterior_mean_variance(mu), [1.0, 0.0])
