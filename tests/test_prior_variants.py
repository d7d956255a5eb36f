"""The prior's variants: pseudo-inputs stored as pixels, fixed pseudo-inputs (the paper's
"VampPrior data") and the MoG prior of free Gaussians."""

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy import stats

from tests.conftest import tiny_config
from tests.test_priors import scipy_mixture_log_prob
from vampjax import config_validation, priors, train
from vampjax.models import build_model
from vampjax.state import create_train_state


def test_pixel_pseudo_inputs_start_at_the_originals_init():
  module = priors.VampPrior(64, (8, 8, 1), 0.05, 0.01, parametrisation="pixels")
  pixels, variables = module.init_with_output(jax.random.key(0))
  stored = variables["params"]["pseudo_pixels"]
  np.testing.assert_array_equal(pixels, stored)  # in range: the clip leaves them alone
  np.testing.assert_allclose([float(stored.mean()), float(stored.std())], [0.05, 0.01],
                             rtol=0.05)


@pytest.mark.parametrize("push", [1.0, -1.0])
def test_pixel_pseudo_inputs_stay_in_range_and_keep_their_gradient(push):
  """Steps that push every pixel up (or down) take the stored values past the bound; the
  pseudo-inputs stay at it, the gradient is still the identity's, and reversing the push
  brings them back inside."""
  module = priors.VampPrior(4, (3, 3, 1), 0.5, 0.1, parametrisation="pixels")
  params = module.init(jax.random.key(0))["params"]
  loss = lambda p, sign: -sign * jnp.sum(module.apply({"params": p}))
  sgd = optax.sgd(0.3)
  opt_state = sgd.init(params)
  for _ in range(4):
    updates, opt_state = sgd.update(jax.grad(loss)(params, push), opt_state)
    params = optax.apply_updates(params, updates)
  stored = np.asarray(params["pseudo_pixels"])
  pixels = np.asarray(module.apply({"params": params}))
  assert np.all(push * (stored - 0.5) > 0.5)  # every stored pixel is past the bound
  np.testing.assert_array_equal(pixels, np.full_like(pixels, (1 + push) / 2))
  at_bound = {"pseudo_pixels": jnp.asarray(pixels)}  # exactly on the bound
  for p in (params, at_bound):
    np.testing.assert_array_equal(jax.grad(loss)(p, push)["pseudo_pixels"], -push)
  back = jax.tree.map(lambda v, g: v - 0.1 * g, at_bound, jax.grad(loss)(at_bound, -push))
  inside = np.asarray(module.apply({"params": back}))
  assert np.all((inside > 0) & (inside < 1))


@pytest.mark.parametrize("pseudo_param", ["logits", "pixels"])
@pytest.mark.parametrize("pseudo_init", ["random", "data"])
def test_both_parametrisations_start_from_both_inits(pseudo_param, pseudo_init):
  config = tiny_config(pseudo_param=pseudo_param, pseudo_init=pseudo_init)
  images = np.random.default_rng(0).integers(0, 256, (20, 32, 32, 1), dtype=np.uint8)
  model = build_model(config)
  state = create_train_state(config, model, jax.random.key(0), images)
  (name,) = state.params["vamp_prior"]
  assert name == f"pseudo_{pseudo_param}"
  pseudo = np.asarray(model.apply({"params": state.params}, method="pseudo_inputs"))
  assert pseudo.shape == (8, 32, 32, 1) and pseudo.min() >= 0 and pseudo.max() <= 1
  if pseudo_init == "data":  # each is a training image plus the init's small noise
    distance = np.abs(pseudo[:, None] - images[None] / 255.0).mean(axis=(2, 3, 4))
    assert np.all(distance.min(axis=1) < 0.02)
  else:
    np.testing.assert_allclose(pseudo.mean(), config.pseudo_init_mean, atol=0.002)


def test_fixed_pseudo_inputs_get_no_update_while_the_encoder_does():
  """train_pseudo_inputs=False with pseudo_init='data' and no noise: after a train step the
  pseudo-inputs are still the K training images, bit for bit."""
  config = tiny_config(pseudo_init="data", pseudo_param="pixels", train_pseudo_inputs=False,
                       pseudo_init_std=0.0)
  rng = np.random.default_rng(0)
  images = rng.uniform(size=(30, 32, 32, 1)).astype(np.float32)
  model = build_model(config)
  state = create_train_state(config, model, jax.random.key(0), images)
  before = np.asarray(model.apply({"params": state.params}, method="pseudo_inputs"))
  matches = (before[:, None] == images[None]).all(axis=(2, 3, 4))
  assert np.all(matches.sum(axis=1) == 1) and len(set(matches.argmax(axis=1))) == 8
  step = jax.jit(train.make_train_step(config))
  new, _ = step(state, images[:8], jax.random.key(1))
  after = np.asarray(model.apply({"params": new.params}, method="pseudo_inputs"))
  np.testing.assert_array_equal(after, before)
  for old, moved in zip(jax.tree.leaves(state.params["encoder"]),
                        jax.tree.leaves(new.params["encoder"])):
    assert np.any(np.asarray(old) != np.asarray(moved))


def test_trained_pseudo_inputs_do_move():
  """The control of the test above: the same step with train_pseudo_inputs=True moves them."""
  config = tiny_config(pseudo_init="data", pseudo_param="pixels", pseudo_init_std=0.0)
  images = np.random.default_rng(0).uniform(size=(30, 32, 32, 1)).astype(np.float32)
  model = build_model(config)
  state = create_train_state(config, model, jax.random.key(0), images)
  new, _ = jax.jit(train.make_train_step(config))(state, images[:8], jax.random.key(1))
  assert np.any(np.asarray(new.params["vamp_prior"]["pseudo_pixels"])
                != np.asarray(state.params["vamp_prior"]["pseudo_pixels"]))


def mog_model(k=3, d=2):
  config = tiny_config(prior="mog", num_components=k, latent_dim=d, pseudo_init="random")
  model = build_model(config)
  state = create_train_state(config, model, jax.random.key(0),
                             np.zeros((10, 32, 32, 1), np.uint8))
  return config, model, state


def test_mog_components_are_free_parameters_starting_near_the_standard_normal():
  config, model, state = mog_model(k=50, d=4)
  assert set(state.params["mog_prior"]) == {"means", "logvars"}
  assert "vamp_prior" not in state.params
  prior = model.apply({"params": state.params}, method="prior_components")
  assert prior.mu.shape == (50, 4) and prior.mask is None
  np.testing.assert_allclose(prior.logvar, 0.0, atol=1e-6)
  np.testing.assert_allclose(np.std(prior.mu), priors.MOG_INIT_STD, rtol=0.15)


def test_mog_log_prob_and_samples_against_scipy():
  """A tiny MoG with moved parameters: the model's log p(z) is scipy's mixture density, and
  its samples have the mixture's mean and variance and pass a KS test on each axis."""
  config, model, state = mog_model()
  rng = np.random.default_rng(1)
  mu = np.array([[-3.0, 0.0], [0.0, 2.0], [4.0, -1.0]], np.float32)
  raw = rng.uniform(-1, 1, size=(3, 2)).astype(np.float32)
  params = {**state.params, "mog_prior": {"means": mu, "logvars": raw}}
  prior = model.apply({"params": params}, method="prior_components")
  logvar = np.asarray(prior.logvar, np.float64)
  z = rng.normal(size=(7, 2)) * 3
  np.testing.assert_allclose(priors.log_prob(z, *prior), scipy_mixture_log_prob(z, mu, logvar),
                             rtol=1e-5)
  samples = np.asarray(priors.sample(jax.random.key(2), prior.mu, prior.logvar, 20000),
                       np.float64)
  var = np.exp(logvar)
  mean = mu.mean(axis=0)
  np.testing.assert_allclose(samples.mean(axis=0), mean, atol=0.06)
  np.testing.assert_allclose(samples.var(axis=0), (var + mu ** 2).mean(axis=0) - mean ** 2,
                             rtol=0.04)
  for d in range(2):
    cdf = lambda x, d=d: np.mean([stats.norm.cdf(x, mu[k, d], np.sqrt(var[k, d]))
                                  for k in range(3)], axis=0)
    assert stats.kstest(samples[:, d], cdf).pvalue > 1e-3


def test_mog_model_uses_the_monte_carlo_kl_and_trains_its_components():
  config, model, state = mog_model()
  x = np.random.default_rng(0).uniform(size=(8, 32, 32, 1)).astype(np.float32)
  terms = model.apply({"params": state.params}, x, jnp.zeros((1, 8, 2)))
  assert terms.kl is None
  new, metrics = jax.jit(train.make_train_step(config))(state, x, jax.random.key(1))
  assert bool(metrics["finite"])
  for name in ("means", "logvars"):
    assert np.any(np.asarray(new.params["mog_prior"][name])
                  != np.asarray(state.params["mog_prior"][name]))


def num_params(config):
  x, noise = jnp.zeros((2, 28, 28, 1)), jnp.zeros((1, 2, config.latent_dim))
  _, params = jax.eval_shape(build_model(config).init_with_output, jax.random.key(0), x, noise)
  return sum(p.size for p in jax.tree.leaves(params))


@pytest.mark.parametrize("name, prior_params", [("vae_mog", 2 * 500 * 40),
                                                ("vae_vamp_data", 500 * 784)])
def test_ablation_configs_add_only_their_priors_parameters(name, prior_params):
  """The paper's MoG (K means and log-variances of 40) and VampPrior data (K fixed images)
  on the standard prior's networks, with the paper's recipe."""
  config = importlib.import_module(f"configs.paper.{name}").get_config()
  config_validation.validate(config)
  standard = importlib.import_module("configs.paper.vae_standard").get_config()
  assert num_params(config) == num_params(standard) + prior_params
  if name == "vae_vamp_data":
    assert (config.pseudo_init, config.pseudo_init_std, config.train_pseudo_inputs,
            config.pseudo_param) == ("data", 0.0, False, "pixels")
