"""The gradient-normalising Adam against a numpy transcription of the original's update."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from vampjax import optimizers


def original_adam_normgrad(params, grads_per_step, lr, b1=0.9, b2=0.999, eps=1e-8):
  """jmtomczak/vae_vampprior's AdamNormGrad.step, per array, in float64 numpy."""
  params = {k: np.asarray(v, np.float64) for k, v in params.items()}
  m = {k: np.zeros_like(v) for k, v in params.items()}
  v = {k: np.zeros_like(x) for k, x in params.items()}
  for t, grads in enumerate(grads_per_step, start=1):
    for k, g in grads.items():
      g = np.asarray(g, np.float64)
      g = g / (np.linalg.norm(g) + 1e-7)
      m[k] = b1 * m[k] + (1 - b1) * g
      v[k] = b2 * v[k] + (1 - b2) * g * g
      step_size = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
      params[k] = params[k] - step_size * m[k] / (np.sqrt(v[k]) + eps)
  return params


def test_adam_normgrad_matches_the_original_update_over_three_steps():
  rng = np.random.default_rng(0)
  params = {"w": rng.normal(size=(4, 3)).astype(np.float32),
            "b": rng.normal(size=(3,)).astype(np.float32)}
  scales = {"w": 100.0, "b": 1e-3}  # gradients of very different sizes step alike
  grads_per_step = [{k: (scales[k] * rng.normal(size=v.shape)).astype(np.float32)
                     for k, v in params.items()} for _ in range(3)]
  tx = optimizers.make_optimizer(ml_collections.ConfigDict(
      {"optimizer": "adam_normgrad", "learning_rate": 1e-2}))
  ours, state = jax.tree.map(jnp.asarray, params), tx.init(params)
  for grads in grads_per_step:
    updates, state = tx.update(grads, state, ours)
    ours = jax.tree.map(lambda p, u: p + u, ours, updates)
  want = original_adam_normgrad(params, grads_per_step, 1e-2)
  for k in params:  # the original adds eps to √v, not to √v̂: a difference of ~1e-8 here
    np.testing.assert_allclose(np.asarray(ours[k]), want[k], rtol=0, atol=1e-6)


def test_normalized_gradient_has_unit_norm_per_array():
  grads = {"a": jnp.full((3, 3), 7.0), "b": jnp.array([3.0, 4.0])}
  out, _ = optimizers.normalize_each_gradient().update(grads, None)
  assert float(jnp.linalg.norm(out["a"])) == pytest.approx(1.0, rel=1e-6)
  np.testing.assert_allclose(np.asarray(out["b"]), [0.6, 0.8], rtol=1e-6)
