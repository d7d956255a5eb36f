"""Each likelihood against scipy, the learned scale's bounds, and its gradient in a step."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special, stats

from vampjax import likelihoods, train
from vampjax.models import build_model
from vampjax.state import abstract_train_state, create_train_state

SHAPE = (3, 4, 4, 1)


def _data(seed=0):
  rng = np.random.default_rng(seed)
  x = (rng.integers(0, 256, SHAPE) / 255.0).astype(np.float32)
  x[0, 0, 0, 0], x[0, 0, 1, 0] = 0.0, 1.0  # both end levels
  return x, rng.normal(size=SHAPE).astype(np.float32) * 2


@pytest.mark.parametrize("sigma", [0.02, 0.1, 0.5, 1.0, 3.0])
def test_gaussian_is_the_complete_normal_log_density(sigma):
  x, logits = _data()
  expected = stats.norm.logpdf(x, special.expit(logits), sigma).reshape(3, -1).sum(-1)
  got = likelihoods.log_prob(x, logits, jnp.log(sigma), "gaussian")
  np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_gaussian_with_one_scale_per_pixel():
  x, logits = _data(1)
  sigma = np.random.default_rng(2).uniform(0.05, 2.0, SHAPE[1:]).astype(np.float32)
  expected = stats.norm.logpdf(x, special.expit(logits), sigma).reshape(3, -1).sum(-1)
  got = likelihoods.log_prob(x, logits, jnp.log(sigma), "gaussian")
  np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_study_gaussian_is_half_squared_error_and_the_unit_gaussian_minus_its_constant():
  x, logits = _data(3)
  study = likelihoods.log_prob(x, logits, None, "gaussian_study")
  half_squared_error = 0.5 * ((x - special.expit(logits)) ** 2).reshape(3, -1).sum(-1)
  np.testing.assert_allclose(study, -half_squared_error, rtol=1e-5)
  constant = likelihoods.normalising_constant("gaussian_study", 16)
  np.testing.assert_allclose(study - constant,
                             likelihoods.log_prob(x, logits, jnp.float32(0.0), "gaussian"),
                             rtol=1e-5)
  assert all(likelihoods.normalising_constant(name, 16) == 0.0
             for name in likelihoods.LIKELIHOODS if name != "gaussian_study")


def test_bernoulli_is_bce_and_finite_at_0_and_1():
  x = np.array([0.0, 1.0, 1.0, 0.0], np.float32).reshape(1, 2, 2, 1)
  logits = np.array([-3.0, 2.0, 80.0, -80.0], np.float32).reshape(1, 2, 2, 1)
  p = special.expit(np.array([-3.0, 2.0]))
  expected = np.log(1 - p[0]) + np.log(p[1])  # the saturated pixels cost ~0
  np.testing.assert_allclose(likelihoods.log_prob(x, logits, None, "bernoulli"), [expected],
                             rtol=1e-5)
  with pytest.raises(ValueError, match="likelihood"):
    likelihoods.log_prob(x, logits, None, "laplace")


@pytest.mark.parametrize("scale", [0.02, 0.1, 1.0])
def test_discretized_logistic_is_the_logistic_mass_of_each_grey_level(scale):
  """Against scipy's logistic over each level's bin (end bins open; the tail on x's side of
  the mean, in float64), and the 256 masses of one pixel sum to 1."""
  x, logits = _data(4)
  mean, half = special.expit(logits).astype(np.float64), 0.5 / 255
  low = np.where(x < half, -np.inf, x - half)
  high = np.where(x > 1 - half, np.inf, x + half)
  logistic = stats.logistic(mean, scale)
  mass = np.where(x > mean, logistic.sf(low) - logistic.sf(high),
                  logistic.cdf(high) - logistic.cdf(low))
  expected = np.log(mass).reshape(3, -1).sum(-1)
  got = likelihoods.log_prob(x, logits, jnp.log(scale), "discretized_logistic")
  np.testing.assert_allclose(got, expected, rtol=2e-4)
  levels = (np.arange(256) / 255.0).astype(np.float32).reshape(256, 1, 1, 1)
  masses = np.exp(likelihoods.log_prob(levels, np.full_like(levels, 0.3), jnp.log(scale),
                                       "discretized_logistic"))
  np.testing.assert_allclose(masses.sum(), 1.0, rtol=1e-4)


def test_bounded_log_scale_stays_in_range_and_inverts():
  h = jnp.array([-1e30, -50.0, 0.0, 50.0, 1e30])
  sigma = np.exp(likelihoods.bounded_log_scale(h, 0.01, 1.0))
  assert np.all((sigma >= 0.01 * (1 - 1e-6)) & (sigma <= 1.0 * (1 + 1e-6)))
  for start in (0.0101, 0.3, 0.99):
    h0 = likelihoods.unbounded_log_scale(start, 0.01, 1.0)
    np.testing.assert_allclose(np.exp(likelihoods.bounded_log_scale(h0, 0.01, 1.0)), start,
                               rtol=1e-5)


def test_learned_scale_has_one_parameter_or_one_per_pixel(tiny):
  for mode, shape in (("learned_global", ()), ("learned_pixel", (32, 32, 1))):
    config = tiny(likelihood="gaussian", likelihood_scale_mode=mode)
    params = abstract_train_state(config, build_model(config)).params
    assert params["pixel_scale"]["log_scale_logit"].shape == shape
  assert "pixel_scale" not in abstract_train_state(tiny(), build_model(tiny())).params


def test_learned_scale_gets_a_gradient_and_the_step_stays_finite_near_its_bounds(tiny):
  """One σ per pixel, the top half of the image 0.1% above σ_min, the bottom half 1% below
  σ_max: every σ moves, each the way its pixels' errors ask, and every parameter stays finite."""
  low, high = 0.01, 1.0
  config = tiny(likelihood="gaussian", likelihood_scale_mode="learned_pixel",
                likelihood_scale_min=low, likelihood_scale_max=high, pseudo_init="random",
                decoder_bias_init="zero")
  state = create_train_state(config, build_model(config), jax.random.key(0))
  h = np.empty((32, 32, 1), np.float32)
  h[:16] = likelihoods.unbounded_log_scale(1.001 * low, low, high)
  h[16:] = likelihoods.unbounded_log_scale(0.99 * high, low, high)
  state = state.replace(params={**state.params, "pixel_scale": {"log_scale_logit": h}})
  # Pixels 0.5 away from the mean (≫ σ_min: σ should grow) in the top half, equal to the
  # mean (≪ σ_max: σ should shrink) in the bottom half; the decoder starts at x̂ ≈ 0.5.
  batch = np.full((8, 32, 32, 1), 0.5, np.float32)
  batch[:, :16] = np.random.default_rng(0).integers(0, 2, (8, 16, 32, 1))
  new, metrics = jax.jit(train.make_train_step(config))(state, batch, jax.random.key(1))
  assert bool(metrics["finite"])
  moved = np.asarray(new.params["pixel_scale"]["log_scale_logit"]) - h
  assert np.all(moved[:16] > 0) and np.all(moved[16:] < 0)
  for leaf in jax.tree.leaves(new.params):
    assert np.all(np.isfinite(np.asarray(leaf)))
