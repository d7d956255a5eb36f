"""vampjax's priors on a user's network (vampjax.prior_api): the KL estimate against scipy
and against the closed form for N(0, I), inside a user's Flax module; the pseudo-inputs
stored as pixels (clipped, straight-through gradient)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import linen as nn
from scipy import special, stats

import vampjax
from vampjax import default_config, priors
from vampjax.distributions import kl_to_standard_normal


def scipy_mixture_log_prob(z, mu_k, logvar_k):
  per_component = stats.norm.logpdf(z[..., None, :], mu_k, np.exp(0.5 * logvar_k)).sum(-1)
  return special.logsumexp(per_component, axis=-1) - np.log(len(mu_k))


def test_kl_estimate_is_the_mean_of_log_q_minus_log_p():
  rng = np.random.default_rng(0)
  mu, logvar = rng.normal(size=(5, 3)), rng.normal(size=(5, 3)) * 0.3
  mu_k, logvar_k = rng.normal(size=(4, 3)), rng.normal(size=(4, 3)) * 0.3
  z = mu + np.exp(0.5 * logvar) * rng.normal(size=(6, 5, 3))  # L = 6 samples
  log_q = stats.norm.logpdf(z, mu, np.exp(0.5 * logvar)).sum(-1)
  want = np.mean(log_q - scipy_mixture_log_prob(z, mu_k, logvar_k), axis=0)
  components = priors.Mixture(*map(jnp.float32, (mu_k, logvar_k)))
  got = vampjax.kl_estimate(*map(jnp.float32, (z, mu, logvar)), components)
  np.testing.assert_allclose(got, want, rtol=1e-4)
  np.testing.assert_allclose(vampjax.kl_estimate(jnp.float32(z[0]), jnp.float32(mu),
                                                 jnp.float32(logvar), components),
                             log_q[0] - scipy_mixture_log_prob(z[0], mu_k, logvar_k), rtol=1e-4)


class TinyVAE(nn.Module):
  """A user's module: a linear encoder, and a prior from vampjax."""
  prior_kind: str
  pseudo_param: str = "logits"

  def setup(self):
    self.encoder = nn.Dense(4)
    self.prior = (vampjax.StandardPrior(2) if self.prior_kind == "standard"
                  else vampjax.VampPrior(3, (2, 2, 1), pseudo_param=self.pseudo_param))

  def encode(self, x):
    h = self.encoder(x.reshape(x.shape[0], -1))
    return h[:, :2], h[:, 2:]

  def __call__(self, x, rng, num_samples):
    mu, logvar = self.encode(x)
    z = mu + jnp.exp(0.5 * logvar) * jax.random.normal(rng, (num_samples, *mu.shape))
    return vampjax.kl_estimate(z, mu, logvar, self.prior(self.encode)), mu, logvar


def test_standard_prior_estimate_converges_to_the_closed_form():
  model = TinyVAE("standard")
  x = jnp.asarray(np.random.default_rng(1).uniform(size=(3, 2, 2, 1)), jnp.float32)
  params = model.init(jax.random.key(0), x, jax.random.key(1), 1)
  kl, mu, logvar = model.apply(params, x, jax.random.key(2), 100_000)
  np.testing.assert_allclose(kl, kl_to_standard_normal(mu, logvar), atol=0.02)


def test_vamp_prior_components_are_the_encoder_at_the_pseudo_inputs():
  model = TinyVAE("vamp")
  x = jnp.zeros((3, 2, 2, 1))
  params = model.init(jax.random.key(0), x, jax.random.key(1), 1)
  pseudo = jax.nn.sigmoid(params["params"]["prior"]["pseudo_inputs"]["pseudo_logits"])
  components = model.apply(params, method=lambda m: m.prior(m.encode))
  np.testing.assert_allclose(components.mu, model.apply(params, pseudo, method="encode")[0],
                             rtol=1e-6)
  samples = vampjax.prior_sample(jax.random.key(3), components, 50_000)
  np.testing.assert_allclose(samples.mean(0), components.mu.mean(0), atol=0.03)


def pixels_as_means(u):
  """An "encoder" whose μ is the pixels themselves: the components show the pseudo-inputs."""
  flat = u.reshape(u.shape[0], -1)
  return flat, jnp.zeros_like(flat)


def test_vamp_prior_stores_pseudo_inputs_as_vampjax_own_models_do_by_default():
  assert vampjax.VampPrior(3, (2, 2, 1)).pseudo_param == default_config.get_config().pseudo_param
  with pytest.raises(ValueError, match="pseudo_param must be one of logits, pixels, not 'pixel'"):
    vampjax.VampPrior(3, (2, 2, 1), pseudo_param="pixel").init(jax.random.key(0),
                                                               pixels_as_means)


def test_pixel_pseudo_inputs_stay_in_0_1_with_a_straight_through_gradient():
  prior = vampjax.VampPrior(3, (2, 2, 1), pseudo_param="pixels")
  init = prior.init(jax.random.key(0), pixels_as_means)["params"]["pseudo_inputs"]
  assert set(init) == {"pseudo_pixels"} and init["pseudo_pixels"].shape == (3, 2, 2, 1)
  stored = jnp.linspace(-0.5, 1.5, 12, dtype=jnp.float32).reshape(3, 2, 2, 1)  # past both bounds
  params = {"params": {"pseudo_inputs": {"pseudo_pixels": stored}}}
  pixels = prior.apply(params, pixels_as_means).mu
  np.testing.assert_array_equal(pixels, np.clip(stored, 0.0, 1.0).reshape(3, 4))
  weights = jnp.asarray(np.random.default_rng(0).normal(size=(3, 4)), jnp.float32)
  grads = jax.grad(lambda p: jnp.sum(prior.apply(p, pixels_as_means).mu * weights))(params)
  # The identity backward, also past the bounds (where a hardtanh's gradient is 0).
  np.testing.assert_array_equal(
      grads["params"]["pseudo_inputs"]["pseudo_pixels"].reshape(3, 4), weights)


def test_pixel_pseudo_inputs_get_gradients_from_a_user_models_kl():
  model = TinyVAE("vamp", pseudo_param="pixels")
  x = jnp.asarray(np.random.default_rng(1).uniform(size=(3, 2, 2, 1)), jnp.float32)
  params = model.init(jax.random.key(0), x, jax.random.key(1), 1)
  grads = jax.grad(lambda p: jnp.sum(model.apply(p, x, jax.random.key(2), 4)[0]))(params)
  assert np.all(grads["params"]["prior"]["pseudo_inputs"]["pseudo_pixels"] != 0.0)


class MoGVAE(nn.Module):
  """A user's module with the paper's MoG prior: its components are parameters."""

  def setup(self):
    self.encoder = nn.Dense(4)
    self.prior = vampjax.MoGPrior(3, 2, logvar_bounds=(-1.0, 0.5))

  def encode(self, x):
    h = self.encoder(x.reshape(x.shape[0], -1))
    return h[:, :2], h[:, 2:]

  def components(self):
    return self.prior(self.encode)


def test_mog_prior_is_its_parameters_whatever_the_encoder():
  model = MoGVAE()
  params = model.init(jax.random.key(0), method="components")
  mixture = params["params"]["prior"]["mixture"]
  assert mixture["means"].shape == mixture["logvars"].shape == (3, 2)
  rng = np.random.default_rng(2)
  means, logvars = rng.normal(size=(3, 2)), rng.uniform(-2.0, 1.0, size=(3, 2))
  params = {"params": {"prior": {"mixture": {"means": jnp.float32(means),
                                             "logvars": jnp.float32(logvars)}}}}
  components = model.apply(params, method="components")
  np.testing.assert_array_equal(components.mu, jnp.float32(means))
  bounded = np.asarray(components.logvar)
  assert bounded.min() >= -1.0 and bounded.max() <= 0.5  # within its logvar_bounds
  z = rng.normal(size=(5, 2))
  np.testing.assert_allclose(vampjax.prior_log_prob(jnp.float32(z), components),
                             scipy_mixture_log_prob(z, means, bounded), rtol=1e-5)
  samples = vampjax.prior_sample(jax.random.key(3), components, 60_000)
  np.testing.assert_allclose(samples.mean(0), means.mean(0), atol=0.03)
