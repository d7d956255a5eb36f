"""The VampPrior mixture density against scipy, its sampler, and the pseudo-input init."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special, stats

from vampjax import priors
from vampjax.distributions import gaussian_log_prob


def scipy_mixture_log_prob(z, mu_k, logvar_k):
  """(1/K) Σ_k N(z; μ_k, diag σ²_k) with scipy, in float64."""
  z, mu_k, logvar_k = (np.asarray(a, np.float64) for a in (z, mu_k, logvar_k))
  per_component = np.stack([
      stats.multivariate_normal(mu, np.diag(np.exp(lv))).logpdf(z)
      for mu, lv in zip(mu_k, logvar_k)], axis=-1)
  return special.logsumexp(per_component, axis=-1) - np.log(len(mu_k))


def test_log_prob_matches_scipy():
  rng = np.random.default_rng(0)
  z, mu_k = rng.normal(size=(6, 5)), rng.normal(size=(4, 5))
  logvar_k = rng.uniform(-2, 1, size=(4, 5))
  np.testing.assert_allclose(priors.log_prob(z, mu_k, logvar_k),
                             scipy_mixture_log_prob(z, mu_k, logvar_k), rtol=1e-5)


def direct_component_log_probs(z, mu_k, logvar_k):
  """The (N, K, D) broadcast of the Gaussian log-density: the form the matmul one replaces."""
  return gaussian_log_prob(z[:, None], mu_k[None], logvar_k[None])


@pytest.mark.parametrize("offset", [0.0, 50.0])
def test_component_log_probs_match_the_direct_form_near_the_means(offset):
  """The expansion z² − 2zμ + μ² cancels where z ≈ μ_k; with the tightest allowed variance
  (log σ² = −6) and components far from 0, values and gradients stay at float32 accuracy."""
  rng = np.random.default_rng(4)
  mu_k = (offset + rng.normal(size=(7, 40))).astype(np.float32)
  logvar_k = rng.uniform(-6, 2, size=(7, 40)).astype(np.float32)
  z = (mu_k[rng.integers(0, 7, 5)] + 0.01 * rng.normal(size=(5, 40))).astype(np.float32)
  reference = direct_component_log_probs(*(np.float64(a) for a in (z, mu_k, logvar_k)))
  np.testing.assert_allclose(priors.component_log_probs(z, mu_k, logvar_k), reference,
                             rtol=1e-5, atol=2e-3)
  loss = lambda f: lambda *a: jnp.sum(jnp.tanh(f(*a) / 100.0))
  fast = jax.grad(loss(priors.component_log_probs), argnums=(0, 1, 2))(z, mu_k, logvar_k)
  direct = jax.grad(loss(direct_component_log_probs), argnums=(0, 1, 2))(z, mu_k, logvar_k)
  for got, want in zip(fast, direct):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_log_prob_is_not_the_per_dimension_logsumexp():
  """The known bug (logsumexp per dimension, then sum) gives another number."""
  rng = np.random.default_rng(1)
  z, mu_k, logvar_k = rng.normal(size=(3, 4)), rng.normal(size=(5, 4)), np.zeros((5, 4))
  per_dim = stats.norm(mu_k[None], 1.0).logpdf(z[:, None])  # (N, K, D)
  wrong = np.sum(special.logsumexp(per_dim, axis=1) - np.log(5), axis=-1)
  right = priors.log_prob(z, mu_k, logvar_k)
  assert np.all(np.abs(np.asarray(right) - wrong) > 1e-3)


@pytest.mark.parametrize("logvar", [-6.0, 2.0, -30.0, 30.0])
def test_log_prob_finite_at_extreme_logvars(logvar):
  rng = np.random.default_rng(2)
  z = rng.normal(size=(4, 16)) * 10
  mu_k = rng.normal(size=(8, 16))
  logvar_k = np.full((8, 16), logvar)
  got = np.asarray(priors.log_prob(z, mu_k, logvar_k), np.float64)
  assert np.all(np.isfinite(got))
  if abs(logvar) <= 6:  # scipy's float64 density is the reference where it is accurate
    np.testing.assert_allclose(got, scipy_mixture_log_prob(z, mu_k, logvar_k), rtol=1e-4)


def test_log_prob_standard_normal_is_the_one_component_mixture():
  z = np.random.default_rng(3).normal(size=(5, 3))
  zeros = jnp.zeros((1, 3))
  np.testing.assert_allclose(priors.log_prob(z, zeros, zeros),
                             stats.norm.logpdf(z).sum(-1), rtol=1e-5)


def test_sample_is_a_true_mixture():
  """Every component is picked about equally often, with its own spread."""
  mu_k = jnp.array([[-20.0, 0.0], [0.0, 0.0], [20.0, 0.0]])
  logvar_k = jnp.log(jnp.array([[0.25, 0.25], [1.0, 1.0], [4.0, 4.0]]))
  z = np.asarray(priors.sample(jax.random.key(0), mu_k, logvar_k, 30000))
  component = np.argmin(np.abs(z[:, :1] - np.asarray(mu_k[:, 0])), axis=1)
  counts = np.bincount(component, minlength=3) / len(z)
  np.testing.assert_allclose(counts, 1 / 3, atol=0.015)
  for k, std in enumerate([0.5, 1.0, 2.0]):
    np.testing.assert_allclose(z[component == k, 1].std(), std, rtol=0.05)


def test_vamp_prior_random_init_in_pixel_range():
  module = priors.VampPrior(16, (8, 8, 1), init_mean=0.05, init_std=0.01)
  pixels, _ = module.init_with_output(jax.random.key(0))
  assert pixels.shape == (16, 8, 8, 1)
  assert 0.0 < float(pixels.min()) and float(pixels.max()) < 1.0
  np.testing.assert_allclose(float(pixels.mean()), 0.05, atol=0.005)


def test_data_init_uses_distinct_training_images_plus_small_noise():
  images = np.arange(10, dtype=np.uint8)[:, None, None, None] * 25 * np.ones((10, 4, 4, 1),
                                                                              np.uint8)
  stored = priors.to_stored(priors.data_init_pixels(jax.random.key(0), images, 6, 0.01), "logits")
  pixels = np.asarray(priors.from_stored(stored, "logits"))
  assert pixels.shape == (6, 4, 4, 1) and pixels.min() > 0 and pixels.max() < 1
  nearest = np.round(pixels.mean(axis=(1, 2, 3)) * 255 / 25).astype(int)
  assert len(set(nearest.tolist())) == 6
  np.testing.assert_allclose(pixels, images[nearest] / 255.0, atol=0.05)
  with pytest.raises(ValueError, match="num_components=11"):
    priors.data_init_pixels(jax.random.key(0), images, 11, 0.01)
