"""Loss terms against direct formulas, the KL estimator over Terms, the β schedule (the
likelihoods: test_likelihoods.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vampjax import objective, priors
from vampjax.models import build_model
from vampjax import terms as terms_lib
from vampjax.distributions import gaussian_log_prob, kl_to_standard_normal, sample_gaussian


def _kl(mu, logvar, z, prior_mu, prior_logvar):
  """The Monte-Carlo KL of Terms whose samples z (L, N, D) come from N(mu, exp(logvar))."""
  log_pz = jax.vmap(priors.log_prob, in_axes=(0, None, None))(z, prior_mu, prior_logvar)
  log_qz_x = gaussian_log_prob(z, mu, logvar)
  return terms_lib.kl_estimate(terms_lib.Terms(jnp.zeros_like(log_qz_x), log_qz_x, log_pz))


def test_vamp_kl_estimate_with_one_component_at_the_posterior_is_zero():
  """q(z|x) equal to the prior's only component: log q − log p = 0 for every sample."""
  mu, logvar = jnp.array([[0.3, -0.2]]), jnp.array([[-0.5, 0.4]])
  z = sample_gaussian(jax.random.key(0), mu, logvar, 5)
  kl = _kl(mu, logvar, z, mu, logvar)
  np.testing.assert_allclose(kl, 0.0, atol=1e-5)


def test_vamp_kl_monte_carlo_converges_to_the_analytic_kl_for_a_standard_prior():
  mu, logvar = jnp.array([[0.5, -1.0, 2.0]]), jnp.array([[0.2, -1.0, 0.5]])
  zeros = jnp.zeros((1, 3))
  z = sample_gaussian(jax.random.key(0), mu, logvar, 200000)
  mc = _kl(mu, logvar, z, zeros, zeros)
  np.testing.assert_allclose(mc, kl_to_standard_normal(mu, logvar), rtol=0.01)


def test_vamp_kl_single_sample_is_log_q_minus_log_p_of_the_decoded_z():
  rng = np.random.default_rng(1)
  mu, logvar, z = (jnp.asarray(rng.normal(size=(3, 4)), jnp.float32) for _ in range(3))
  prior_mu, prior_logvar = jnp.asarray(rng.normal(size=(5, 4))), jnp.zeros((5, 4))
  expected = gaussian_log_prob(z, mu, logvar) - priors.log_prob(z, prior_mu, prior_logvar)
  np.testing.assert_allclose(_kl(mu, logvar, z[None], prior_mu, prior_logvar), expected,
                             rtol=1e-5)


@pytest.mark.parametrize("architecture,prior,analytic,shape", [
    ("conv", "vamp", False, (3, 5, 8)), ("conv", "standard", True, (1, 5, 8)),
    ("hvae_mlp", "standard", False, (3, 5, 16)), ("hvae_conv", "vamp", False, (3, 5, 16))])
def test_sample_noise_shape_follows_the_kl_estimator(tiny, architecture, prior, analytic, shape):
  """The model says whether its KL is analytic and its noise shape; the objective asks it."""
  config = tiny(kl_samples=3, prior=prior, architecture=architecture)
  model = build_model(config)
  assert (model.prior_kind, model.kl_is_analytic) == (prior, analytic)
  assert model.prior_is_learned == (prior == "vamp")
  assert objective.sample_noise(jax.random.key(0), model, config, 5).shape == shape
  terms = model.apply(model.init(jax.random.key(0), jnp.zeros((5, 32, 32, 1)),
                                 jnp.zeros(shape)), jnp.zeros((5, 32, 32, 1)), jnp.zeros(shape))
  assert (terms.kl is not None) == analytic  # the closed form comes exactly when analytic


def test_beta_schedules(tiny):
  constant = objective.beta_schedule(tiny(beta=0.5))
  assert [float(constant(s)) for s in (0, 10, 10000)] == [0.5, 0.5, 0.5]
  warmup = objective.beta_schedule(tiny(beta=2.0, kl_warmup_steps=100))
  np.testing.assert_allclose([float(warmup(s)) for s in (0, 25, 50, 100, 1000)],
                             [0.0, 0.5, 1.0, 2.0, 2.0], rtol=1e-6)


def test_loss_terms_add_up():
  rng = np.random.default_rng(2)
  mu, logvar = jnp.asarray(rng.normal(size=(2, 3))), jnp.asarray(rng.normal(size=(2, 3)))
  log_px_z = jnp.asarray(rng.normal(size=(4, 2)))  # L = 4 samples
  analytic = kl_to_standard_normal(mu, logvar)
  model_terms = terms_lib.Terms(log_px_z, jnp.zeros((4, 2)), jnp.zeros((4, 2)), analytic)
  terms = objective.loss_terms(model_terms, 0.25)
  np.testing.assert_allclose(terms["kl"], analytic, rtol=1e-6)  # the closed form wins
  np.testing.assert_allclose(terms["reconstruction"], -np.mean(log_px_z, axis=0), rtol=1e-6)
  np.testing.assert_allclose(terms["loss"], terms["reconstruction"] + 0.25 * terms["kl"],
                             rtol=1e-6)
  np.testing.assert_allclose(terms["elbo"], -(terms["reconstruction"] + terms["kl"]), rtol=1e-6)
