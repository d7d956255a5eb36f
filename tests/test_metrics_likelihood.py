"""Importance-sampled log-likelihood: exact on a linear-Gaussian model, ≥ ELBO on a VAE."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.scipy.stats import multivariate_normal

from conftest import tiny_config
from vampjax.distributions import gaussian_log_prob
from vampjax.metrics import likelihood
from vampjax.terms import Terms
from vampjax.state import create_train_state
from vampjax.models import build_model

LATENT, OBSERVED, SIGMA = 3, 5, 0.7


@pytest.fixture(scope="module")
def linear_gaussian():
  """z ~ N(0, I), x | z ~ N(Wz + b, σ²I): p(x) = N(b, WWᵀ + σ²I), posterior Gaussian too."""
  k_w, k_b, k_x = jax.random.split(jax.random.key(0), 3)
  w = jax.random.normal(k_w, (OBSERVED, LATENT))
  b = jax.random.normal(k_b, (OBSERVED,))
  x = jax.random.normal(k_x, (4, OBSERVED)) * 2.0
  exact = multivariate_normal.logpdf(x, b, w @ w.T + SIGMA ** 2 * jnp.eye(OBSERVED))
  post_cov = jnp.linalg.inv(jnp.eye(LATENT) + w.T @ w / SIGMA ** 2)
  post_mean = (x - b) @ w @ post_cov / SIGMA ** 2  # (N, D)

  def log_joint(z):
    log_lik = jnp.sum(jax.scipy.stats.norm.logpdf(x, z @ w.T + b, SIGMA), axis=-1)
    return log_lik + gaussian_log_prob(z, 0.0, jnp.zeros(LATENT))

  return x, exact, post_mean, post_cov, log_joint


def _terms_fn(sample, log_q, log_joint):
  """The linear-Gaussian model as a model of vampjax: noise (S, N, D) -> Terms, with
  z = sample(noise) ~ q(z|x)."""

  def terms_fn(noise):
    z = sample(noise)
    return Terms(log_px_z=log_joint(z), log_qz_x=log_q(z), log_pz=jnp.zeros(z.shape[:-1]))

  return terms_fn


def test_exact_posterior_gives_the_marginal_for_any_s(linear_gaussian):
  x, exact, post_mean, post_cov, log_joint = linear_gaussian
  chol = jnp.linalg.cholesky(post_cov)
  terms_fn = _terms_fn(lambda noise: post_mean + noise @ chol.T,
                       lambda z: multivariate_normal.logpdf(z, post_mean, post_cov), log_joint)
  estimate = likelihood.importance_log_likelihood(jax.random.key(1), terms_fn, post_mean.shape,
                                                  num_samples=3, chunk_size=3)
  np.testing.assert_allclose(estimate, exact, atol=1e-4)


def test_approximate_posterior_converges_to_the_marginal(linear_gaussian):
  x, exact, post_mean, post_cov, log_joint = linear_gaussian
  logvar = jnp.broadcast_to(jnp.log(1.5 * jnp.diag(post_cov)), post_mean.shape)  # too wide
  shift = post_mean + 0.2                                                         # off-centre
  terms_fn = _terms_fn(lambda noise: shift + jnp.exp(0.5 * logvar) * noise,
                       lambda z: gaussian_log_prob(z, shift, logvar), log_joint)
  estimate = lambda s, chunk, key=jax.random.key(2): likelihood.importance_log_likelihood(
      key, terms_fn, shift.shape, s, chunk)
  one = np.mean([estimate(1, 1, jax.random.key(i)) for i in range(50)], 0)
  assert np.all(one < exact - 0.05)  # the ELBO is loose for this q
  np.testing.assert_allclose(estimate(4000, 500), exact, atol=0.05)
  np.testing.assert_allclose(estimate(4000, 64), exact, atol=0.05)  # chunk: gcd(4000, 64) = 32


def _tiny_vae(**overrides):
  """A tiny VAE at init, made deliberately hard to fit with q: its decoder is 20× more
  sensitive to z and its encoder's posteriors e³ times wider, so q(z|x) is far wider than
  p(z|x), the ELBO is loose by tens of nats and importance sampling converges slowly."""
  config = tiny_config(pseudo_init="random", decoder_bias_init="zero", **overrides)
  model = build_model(config)
  params = create_train_state(config, model, jax.random.key(0)).params
  dense, logvar = params["decoder"]["Dense_0"], params["encoder"]["logvar"]
  params = {**params,
            "decoder": {**params["decoder"], "Dense_0": {**dense, "kernel": 20 * dense["kernel"]}},
            "encoder": {**params["encoder"], "logvar": {**logvar, "bias": logvar["bias"] + 3}}}
  x = jax.random.uniform(jax.random.key(3), (8, *model.image_shape)) ** 4  # dark, MNIST-like
  components = model.apply({"params": params}, method="prior_components")
  return config, model, params, x, components


def test_vae_estimate_is_below_neg_elbo_and_tightens_with_s():
  config, model, params, x, components = _tiny_vae(likelihood="bernoulli", prior="standard")

  def nll(s, repeats):  # (N,): the mean of `repeats` independent S-sample estimates of −log p(x)
    one = lambda r: -likelihood.vae_log_likelihood(model, params, x, r, components, config, s, 16)
    return np.mean(jax.jit(jax.vmap(one))(jax.random.split(jax.random.key(s), repeats)), 0)

  neg_elbo = nll(1, 64)  # E[log p̂_1] is the ELBO
  nll_16, nll_256 = nll(16, 4), nll(256, 1)
  assert np.all(nll_16 < neg_elbo) and np.all(nll_256 < neg_elbo)
  assert np.mean(nll_256) < np.mean(nll_16) - 1.0 < np.mean(neg_elbo) - 5.0


def test_gaussian_constant_is_reported_separately():
  config, model, params, x, components = _tiny_vae(likelihood="gaussian_study")
  args = (model, params, x, jax.random.key(5), components, config, 8, 8)
  with_constant = likelihood.vae_log_likelihood(*args, include_constant=True)
  as_trained = likelihood.vae_log_likelihood(*args, include_constant=False)
  np.testing.assert_allclose(as_trained - with_constant, 32 * 32 * 0.5 * np.log(2 * np.pi),
                             rtol=1e-5)
  np.testing.assert_allclose(likelihood.bits_per_dim(1024 * np.log(2.0), 1024), 1.0)
