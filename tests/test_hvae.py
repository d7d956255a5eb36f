"""The two-level HVAE / convHVAE: sizes against the original code, log-densities against
scipy, sampling, the importance-sampled likelihood and training. (The gated layers
themselves: tests/test_gated.py.)"""

import importlib
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy import special, stats

from configs.paper import base
from tests.conftest import tiny_config
from vampjax import terms
from vampjax import likelihoods
from vampjax.hvae import HVAE, build_hvae

PAPER_CONFIGS = {  # name: (architecture, prior)
    "hvae_standard": ("hvae_mlp", "standard"),
    "hvae_vamp": ("hvae_mlp", "vamp"),
    "convhvae_standard": ("hvae_conv", "standard"),
    "convhvae_vamp": ("hvae_conv", "vamp"),
}


def original_parameter_count(conv: bool) -> int:
  """Parameters of jmtomczak/vae_vampprior's HVAE_2level / convHVAE_2level (28×28×1, 40 + 40
  latents, no pseudo-inputs), from its layer list: a gated layer holds two linear maps."""
  linear = lambda n_in, n_out: n_in * n_out + n_out
  gated = lambda n_in, n_out: 2 * linear(n_in, n_out)
  gated_conv = lambda c_in, c_out, k: 2 * linear(c_in * k * k, c_out)
  heads = lambda n_in: 2 * linear(n_in, 40)
  p_z1 = gated(40, 300) + gated(300, 300) + heads(300)
  if not conv:
    q_z2 = gated(784, 300) + gated(300, 300) + heads(300)
    q_z1 = gated(784, 300) + gated(40, 300) + gated(600, 300) + heads(300)
    p_x = 2 * gated(40, 300) + gated(600, 300) + linear(300, 784)
    return q_z2 + q_z1 + p_z1 + p_x
  q_z2 = (gated_conv(1, 32, 7) + gated_conv(32, 32, 3) + gated_conv(32, 64, 5)
          + gated_conv(64, 64, 3) + gated_conv(64, 6, 3) + heads(294))
  q_z1 = (gated_conv(1, 32, 3) + gated_conv(32, 32, 3) + gated_conv(32, 64, 3)
          + gated_conv(64, 64, 3) + gated_conv(64, 6, 3) + gated(40, 294) + gated(588, 300)
          + heads(300))
  p_x = (2 * gated(40, 300) + gated(600, 784) + gated_conv(1, 64, 3) + 3 * gated_conv(64, 64, 3)
         + linear(64, 1))
  return q_z2 + q_z1 + p_z1 + p_x


@pytest.mark.parametrize("name", sorted(PAPER_CONFIGS))
def test_paper_configs_build_the_original_sizes(name):
  config = importlib.import_module(f"configs.paper.{name}").get_config()
  recipe = base.get_config()  # the paper's protocol; only the model differs
  recipe.architecture, recipe.prior = PAPER_CONFIGS[name]
  if recipe.prior == "vamp":
    recipe.pseudo_param = "pixels"  # the original's, as every paper VampPrior
  assert config.to_dict() == recipe.to_dict()
  model = build_hvae(config)
  x = jnp.zeros((2, 28, 28, 1))
  out, params = jax.eval_shape(model.init_with_output, jax.random.key(0), x,
                               jnp.zeros((3, 2, model.noise_dim)))
  assert model.noise_dim == 80
  assert all(t.shape == (3, 2) for t in out[:3]) and out.kl is None
  params = dict(params["params"])
  pseudo = params.pop("vamp_prior", None)
  assert (pseudo is not None) == (config.prior == "vamp")
  if pseudo is not None:
    assert pseudo["pseudo_pixels"].shape == (500, 28, 28, 1)
  count = sum(math.prod(p.shape) for p in jax.tree.leaves(params))
  assert count == original_parameter_count(config.architecture == "hvae_conv")


def tiny_model(conv: bool, k: int = 3, image: int = 8) -> HVAE:
  return HVAE(image_shape=(image, image, 1), latent_dim=3, z1_dim=2, num_components=k,
              architecture="hvae_conv" if conv else "hvae_mlp")


def binary_images(n: int, image: int = 8, seed: int = 0) -> jax.Array:
  rng = np.random.default_rng(seed)
  return jnp.asarray(rng.uniform(size=(n, image, image, 1)) < 0.4, jnp.float32)


def diag_normal_logpdf(z, mu, logvar):
  """log N(z; μ, diag σ²) per row, float64, with scipy's multivariate normal."""
  z, mu, var = (np.asarray(a, np.float64) for a in (z, mu, np.exp(logvar)))
  flat = lambda a: a.reshape(-1, a.shape[-1])
  out = [stats.multivariate_normal(m, np.diag(v)).logpdf(zz)
         for zz, m, v in zip(flat(z), flat(np.broadcast_to(mu, z.shape)),
                             flat(np.broadcast_to(var, z.shape)))]
  return np.asarray(out).reshape(z.shape[:-1])


@pytest.mark.parametrize("conv, k", [(False, 0), (True, 3)])
def test_terms_match_scipy(conv, k):
  model = tiny_model(conv, k)
  x = binary_images(4)
  noise = jax.random.normal(jax.random.key(1), (2, 4, model.noise_dim))
  out, params = model.init_with_output(jax.random.key(0), x, noise)
  run = lambda f, *args: jax.tree.map(np.asarray, model.apply(params, *args, method=f))

  mu2, logvar2 = run(lambda m, x: m.encoder(x), x)
  z2 = mu2 + np.exp(0.5 * logvar2) * np.asarray(noise[..., :3])
  mu1, logvar1 = run(lambda m, x, z2: m.bottom_encoder(x, z2), x, z2)
  z1 = mu1 + np.exp(0.5 * logvar1) * np.asarray(noise[..., 3:])
  p_mu1, p_logvar1 = run(lambda m, z2: m.z1_prior(z2), z2)
  probs = special.expit(np.asarray(run(lambda m, z1, z2: m.decoder(z1, z2), z1, z2), np.float64))
  if k:
    mu_k, logvar_k = run(lambda m: m.encoder(m.pseudo_inputs()))
    components = np.stack([diag_normal_logpdf(z2, mu_k[j], logvar_k[j]) for j in range(k)])
    log_pz2 = special.logsumexp(components, axis=0) - np.log(k)
  else:
    log_pz2 = stats.norm.logpdf(z2).sum(-1)

  log_px_z = stats.bernoulli.logpmf(np.asarray(x), probs).sum(axis=(-3, -2, -1))
  log_qz_x = (stats.norm.logpdf(z2, mu2, np.exp(0.5 * logvar2)).sum(-1)
              + diag_normal_logpdf(z1, mu1, logvar1))
  log_pz = log_pz2 + diag_normal_logpdf(z1, p_mu1, p_logvar1)
  np.testing.assert_allclose(out.log_px_z, log_px_z, rtol=1e-5, atol=1e-3)
  np.testing.assert_allclose(out.log_qz_x, log_qz_x, rtol=1e-5, atol=1e-3)
  np.testing.assert_allclose(out.log_pz, log_pz, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("conv, k", [(False, 3), (True, 0)])
def test_prior_samples_decode_to_images(conv, k):
  model = tiny_model(conv, k)
  x = binary_images(2)
  params = model.init(jax.random.key(0), x, jnp.zeros((1, 2, model.noise_dim)))
  images = model.apply(params, jax.random.key(1), 5, method=model.sample)
  assert images.shape == (5, 8, 8, 1)
  assert np.all(np.isfinite(images)) and np.all((images >= 0) & (images <= 1))
  assert model.apply(params, x, method=model.reconstruct).shape == x.shape
  means = model.apply(params, x, method=model.posterior_means)
  assert means["z2"].shape == (2, 3) and means["z1"].shape == (2, 2)


def test_importance_weights_estimate_the_likelihood():
  """log p(x) two ways on a 2×2-pixel model: importance sampling with q(z1, z2|x) (the
  model's Terms) and plain Monte Carlo over the prior, p(x) = E_{p(z1, z2)}[p(x|z1, z2)].
  They agree only if log q and log p(z) are the right densities; the ELBO lies below.
  The weights are scaled by 0.6 so that the logits stay moderate and both estimates
  converge with a few thousand samples."""
  model = tiny_model(conv=False, k=3, image=2)
  x = jnp.asarray([[0, 1, 1, 0], [1, 1, 1, 1]], jnp.float32).reshape(2, 2, 2, 1)
  params = model.init(jax.random.key(0), x, jnp.zeros((1, 2, model.noise_dim)))["params"]
  params = {"params": {name: tree if name == "vamp_prior" else jax.tree.map(lambda a: 0.6 * a, tree)
                       for name, tree in params.items()}}
  noise = jax.random.normal(jax.random.key(1), (16_000, 2, model.noise_dim))
  log_w = terms.log_weights(jax.jit(model.apply)(params, x, noise))
  log_px_is, elbo = terms.log_mean_exp(log_w), jnp.mean(log_w, axis=0)

  def prior_log_px(m, rng):
    k_rng, z2_rng, z1_rng = jax.random.split(rng, 3)
    prior = m.prior_components()
    k = jax.random.randint(k_rng, (64_000,), 0, 3)
    z2 = prior.mu[k] + jnp.exp(0.5 * prior.logvar[k]) * jax.random.normal(z2_rng, (64_000, 3))
    mu1, logvar1 = m.z1_prior(z2)
    z1 = mu1 + jnp.exp(0.5 * logvar1) * jax.random.normal(z1_rng, mu1.shape)
    return terms.log_mean_exp(likelihoods.log_prob(x, m.decoder(z1, z2)[:, None], None, "bernoulli"), axis=0)

  log_px_mc = jax.jit(lambda p, rng: model.apply(p, rng, method=prior_log_px))(
      params, jax.random.key(2))
  np.testing.assert_allclose(log_px_is, log_px_mc, atol=0.03)
  assert np.all(elbo < log_px_is - 0.05)


def test_adam_steps_reduce_the_loss():
  model = tiny_model(conv=False, k=3)
  x = binary_images(8)
  noise = jax.random.normal(jax.random.key(1), (1, 8, model.noise_dim))
  params = model.init(jax.random.key(0), x, noise)

  def loss_fn(p):
    out = model.apply(p, x, noise)
    return jnp.mean(-out.log_px_z + (out.log_qz_x - out.log_pz))

  tx = optax.adam(3e-3)

  @jax.jit
  def step(p, opt):
    grads = jax.grad(loss_fn)(p)
    updates, opt = tx.update(grads, opt, p)
    return optax.apply_updates(p, updates), opt

  before, opt = loss_fn(params), tx.init(params)
  for _ in range(10):
    params, opt = step(params, opt)
  assert loss_fn(params) < before - 5.0


def test_build_hvae_reads_the_config():
  config = tiny_config(architecture="hvae_conv", prior="vamp", latent_dim=5, num_components=7)
  model = build_hvae(config)
  assert (model.conv, model.latent_dim, model.z1_dim, model.num_components) == (True, 5, 5, 7)
  assert model.image_shape == (32, 32, 1) and model.noise_dim == 10
  assert build_hvae(tiny_config(architecture="hvae_mlp", prior="standard")).num_components == 0
