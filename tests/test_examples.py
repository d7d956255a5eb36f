"""examples/own_networks.py, run for a few steps: the loss falls, the pseudo-inputs are
parameters of the user's model, and its log p(z) is vampjax's and scipy's mixture density."""

import importlib.util
import os

import jax
import numpy as np
from PIL import Image
from scipy import special, stats

from tests.conftest import ROOT
from vampjax import priors


def load_example(name):
  spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "examples", f"{name}.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_own_networks_trains_with_vampjax_vampprior(tmp_path, capsys):
  example = load_example("own_networks")
  out = str(tmp_path / "samples.png")
  result = example.main(steps=60, out=out)
  losses = result["losses"]
  assert np.mean(losses[-10:]) < np.mean(losses[:10]) - 50  # nats: from ~540 at the start
  printed = capsys.readouterr().out
  assert f"active units: {result['active_units']} of {example.LATENT}" in printed
  assert np.asarray(Image.open(out)).shape[:2] == (8 * 30 * 2 + 4, 8 * 30 * 2 + 4)

  model, params = result["model"], result["params"]
  pseudo_logits = params["prior"]["pseudo_inputs"]["pseudo_logits"]  # the user's parameters
  assert pseudo_logits.shape == (example.PSEUDO_INPUTS, *example.SHAPE)
  prior = model.apply({"params": params}, method=lambda m: m.prior(m.encoder))
  mu_k, logvar_k = prior.mu, prior.logvar
  want_mu, _ = model.apply({"params": params}, jax.nn.sigmoid(pseudo_logits),
                           method=lambda m, u: m.encoder(u))
  np.testing.assert_allclose(mu_k, want_mu, rtol=1e-6)

  z = np.random.default_rng(0).normal(size=(7, example.LATENT)).astype(np.float32)
  log_pz = model.apply({"params": params}, z, method="log_prior")
  np.testing.assert_allclose(log_pz, priors.log_prob(z, mu_k, logvar_k), rtol=1e-6)
  per_component = stats.norm.logpdf(np.float64(z)[:, None], np.float64(mu_k)[None],
                                    np.exp(0.5 * np.float64(logvar_k))[None]).sum(-1)
  scipy_log_pz = special.logsumexp(per_component, axis=1) - np.log(len(mu_k))
  np.testing.assert_allclose(log_pz, scipy_log_pz, rtol=1e-4)
