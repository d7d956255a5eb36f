"""The accelerators' code paths, forced on this CPU (VAMPJAX_CODE_PATHS), give the CPU
paths' loss and gradients on every conv architecture, one- and two-level."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.conftest import tiny_config
from vampjax import code_paths, fast_convs, objective
from vampjax.grad_accum import accumulated_grad
from vampjax.models import build_model
from vampjax.state import create_train_state


def loss_and_grads_fn(config, state):
  """(loss, gradients) of the mean loss at β = 1, micro-batched as train_step does."""
  def loss_fn(params, x, eps, prior):
    terms = objective.loss_terms(state.apply_fn({"params": params}, x, eps, prior), 1.0)
    return jnp.mean(terms["loss"]), terms

  prior_fn = lambda p: state.apply_fn({"params": p}, method="prior_components")

  def loss_and_grads(params, batch, noise):
    grads, terms = accumulated_grad(loss_fn, params, batch, noise, config.grad_accum_steps,
                                    prior_fn)
    return jnp.mean(terms["loss"]), grads

  return loss_and_grads


@pytest.mark.parametrize("architecture", ["conv", "resnet", "hvae_conv"])
def test_accelerator_paths_match_the_cpu_paths(architecture, monkeypatch):
  """Kernel gradients in batch chunks (forced even at this size) or in one; the micro-batch
  scan unrolled or not. The two programs differ, their values agree to float32 rounding."""
  monkeypatch.setattr(fast_convs, "_CHUNK_BYTES", 1)
  config = tiny_config(architecture=architecture, grad_accum_steps=2, pseudo_init="random",
                       decoder_bias_init="zero")
  model = build_model(config)
  state = create_train_state(config, model, jax.random.key(0))
  kx, kn = jax.random.split(jax.random.key(1))
  batch = jax.random.uniform(kx, (config.batch_size, 32, 32, 1))
  noise = objective.sample_noise(kn, model, config, config.batch_size)
  results, programs = {}, {}
  for paths in ("cpu", "gpu"):
    monkeypatch.setenv(code_paths.CODE_PATHS_ENV, paths)
    fn = jax.jit(loss_and_grads_fn(config, state))
    programs[paths] = fn.lower(state.params, batch, noise).as_text()
    results[paths] = fn(state.params, batch, noise)
  assert programs["cpu"] != programs["gpu"]
  (cpu_loss, cpu_grads), (gpu_loss, gpu_grads) = results["cpu"], results["gpu"]
  np.testing.assert_allclose(gpu_loss, cpu_loss, rtol=1e-6)
  # The chunks sum a kernel gradient in another order: entries agree to float32 rounding
  # of the largest gradient entry (small entries are sums that cancel).
  scale = max(float(np.abs(g).max()) for g in jax.tree.leaves(cpu_grads))
  for got, want in zip(jax.tree.leaves(gpu_grads), jax.tree.leaves(cpu_grads), strict=True):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6 * scale)


def test_an_unknown_backend_name_is_refused(monkeypatch):
  monkeypatch.setenv(code_paths.CODE_PATHS_ENV, "cuda")
  with pytest.raises(ValueError, match="VAMPJAX_CODE_PATHS='cuda'; use one of"):
    code_paths.backend()
  monkeypatch.delenv(code_paths.CODE_PATHS_ENV)
  assert code_paths.backend() == jax.default_backend()
