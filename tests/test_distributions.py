"""Gaussian log-density against scipy; the analytic KL against a Monte-Carlo estimate."""

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from vampjax.distributions import gaussian_log_prob, kl_to_standard_normal, sample_gaussian


def test_gaussian_log_prob_matches_scipy():
  rng = np.random.default_rng(0)
  z, mu, logvar = rng.normal(size=(3, 7)), rng.normal(size=(3, 7)), rng.normal(size=(3, 7))
  expected = stats.norm(mu, np.exp(0.5 * logvar)).logpdf(z).sum(-1)
  np.testing.assert_allclose(gaussian_log_prob(z, mu, logvar), expected, rtol=1e-5)


def test_analytic_kl_matches_monte_carlo():
  mu = jnp.array([[0.5, -1.0, 2.0], [0.0, 0.3, -0.7]])
  logvar = jnp.array([[0.2, -1.0, 0.5], [-2.0, 0.0, 1.0]])
  z = sample_gaussian(jax.random.key(0), mu, logvar, 400000)
  zeros = jnp.zeros_like(mu)
  monte_carlo = jnp.mean(gaussian_log_prob(z, mu, logvar) - gaussian_log_prob(z, zeros, zeros),
                         axis=0)
  np.testing.assert_allclose(kl_to_standard_normal(mu, logvar), monte_carlo, rtol=0.01)


def test_samples_have_the_requested_moments():
  mu, logvar = jnp.array([1.0, -2.0]), jnp.log(jnp.array([0.25, 4.0]))
  z = np.asarray(sample_gaussian(jax.random.key(1), mu, logvar, 100000))
  np.testing.assert_allclose(z.mean(0), mu, atol=0.02)
  np.testing.assert_allclose(z.std(0), [0.5, 2.0], rtol=0.01)
