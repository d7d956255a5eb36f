"""Property tests: log p(z) and every loss term stay finite over the whole allowed range."""

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings, strategies as st

from configs import default
from vampjax import likelihoods, objective, priors
from vampjax.distributions import gaussian_log_prob, kl_to_standard_normal
from vampjax.networks import bounded_logvar
from vampjax.terms import Terms

LOW, HIGH = default.get_config().logvar_min, default.get_config().logvar_max
log_prob = jax.jit(priors.log_prob)


@settings(max_examples=25, deadline=None)
@given(k=st.sampled_from([1, 7, 500, 5000]), d=st.sampled_from([1, 40, 256, 512]),
       seed=st.integers(0, 2**31 - 1), scale=st.sampled_from([1.0, 10.0, 100.0]),
       logvar=st.sampled_from(["low", "high", "mixed"]))
def test_vamp_log_prob_finite_over_the_allowed_range(k, d, seed, scale, logvar):
  rng = np.random.default_rng(seed)
  mu_k = rng.normal(size=(k, d)).astype(np.float32) * scale
  logvar_k = {"low": np.full((k, d), LOW), "high": np.full((k, d), HIGH),
              "mixed": rng.uniform(LOW, HIGH, (k, d))}[logvar].astype(np.float32)
  z = rng.normal(size=(3, d)).astype(np.float32) * scale
  assert np.all(np.isfinite(np.asarray(log_prob(z, mu_k, logvar_k))))


@settings(max_examples=40, deadline=None)
@given(h=st.floats(-1e30, 1e30))
def test_bounded_logvar_never_leaves_the_range(h):
  out = float(bounded_logvar(jnp.float32(h), LOW, HIGH))
  assert LOW <= out <= HIGH


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), logit_scale=st.sampled_from([1.0, 50.0, 1e4]),
       likelihood=st.sampled_from(likelihoods.LIKELIHOODS), log_scale=st.sampled_from([-4.6, 0.0]),
       prior=st.sampled_from(["standard", "vamp"]))
def test_loss_terms_finite_for_pixels_exactly_0_and_1(seed, logit_scale, likelihood, log_scale,
                                                     prior):
  rng = np.random.default_rng(seed)
  n, d, k = 4, 16, 8
  x = rng.integers(0, 2, (n, 8, 8, 1)).astype(np.float32)  # pixels exactly 0 and 1
  logits = (rng.normal(size=x.shape) * logit_scale).astype(np.float32)
  mu = rng.normal(size=(n, d)).astype(np.float32) * 10
  logvar = rng.uniform(LOW, HIGH, (n, d)).astype(np.float32)
  prior_mu = rng.normal(size=(k, d)).astype(np.float32) if prior == "vamp" else np.zeros((1, d),
                                                                                           np.float32)
  prior_logvar = (rng.uniform(LOW, HIGH, (k, d)) if prior == "vamp" else np.zeros((1, d)))
  z = mu + np.exp(0.5 * logvar) * rng.normal(size=(2, n, d)).astype(np.float32)
  log_pz = jax.vmap(priors.log_prob, in_axes=(0, None, None))(
      z, prior_mu, prior_logvar.astype(np.float32))
  out = Terms(likelihoods.log_prob(x, np.stack([logits, logits]), jnp.float32(log_scale),
                                  likelihood),
              gaussian_log_prob(z, mu, logvar), log_pz,
              kl_to_standard_normal(mu, logvar) if prior == "standard" else None)
  terms = objective.loss_terms(out, jnp.float32(1.0))
  for name, value in terms.items():
    assert np.all(np.isfinite(np.asarray(value))), name
