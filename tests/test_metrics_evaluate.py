"""The evaluation driver: every test image counted exactly once, whatever the batch size."""

import os

import jax
import ml_collections
import numpy as np
import pytest

from conftest import tiny_config
from vampjax.data import pipeline
from vampjax.metrics import batch_cache, evaluate, masked_eval
from vampjax.state import create_train_state
from vampjax.models import build_model

NUM_IMAGES = 13  # not a multiple of either batch size below


@pytest.fixture(scope="module")
def setup():
  config = tiny_config(pseudo_init="random", decoder_bias_init="zero", **{"eval.lpips_backbones": ("alex",),
                                                "eval.is_samples": 4, "eval.is_chunk": 2})
  model = build_model(config)
  params = create_train_state(config, model, jax.random.key(0)).params
  rng = np.random.default_rng(0)
  images = (rng.random((NUM_IMAGES, *model.image_shape)) ** 4 * 255).astype(np.uint8)
  return config, model, params, images


def _run(setup, batch_size):
  config, model, params, images = setup
  config = config.copy_and_resolve_references()
  config.batch_size = batch_size
  return evaluate.evaluate(model, params, images, config, jax.random.key(1))


def test_each_image_counted_once(setup, capsys):
  config, model, params, images = setup
  results = _run(setup, batch_size=8)
  assert results["num_examples"] == NUM_IMAGES
  progress = capsys.readouterr().err  # the progress bar over the 2 batches
  assert "eval: 100%" in progress and "2/2" in progress
  x = pipeline.to_float(images)
  mu = np.asarray(model.apply({"params": params}, x, method="encode")[0])
  recon = np.asarray(jax.nn.sigmoid(model.apply({"params": params}, mu, method="decode")))
  mse = np.mean((x - recon) ** 2, axis=(1, 2, 3))
  np.testing.assert_allclose(results["mse"], mse.mean(), rtol=1e-4)
  np.testing.assert_allclose(results["posterior_mean_variance"], mu.var(0), rtol=1e-3, atol=1e-7)
  assert results["active_units"] == int(np.sum(mu.var(0) > config.eval.au_threshold))
  for key in ("lpips", "lpips_alex", "psnr", "ssim", "loss", "reconstruction", "kl",
              "neg_elbo_nats", "is_nll_nats", "is_nll_bits_per_dim"):
    assert np.isfinite(results[key]), key
  assert results["lpips"] == results["lpips_alex"]
  assert results["nll_includes_gaussian_constant"]


def test_metric_step_compiles_once_across_calls(setup):
  """The benchmark and repeated evaluations reuse the compiled step (a fresh jit per call
  compiled it again every time)."""
  config, model, _, _ = setup
  config = config.copy_and_resolve_references()
  config.batch_size = 8
  _run(setup, batch_size=8)
  _run(setup, batch_size=8)
  step = evaluate._jitted_metrics_step(  # pylint: disable=protected-access
      model, ml_collections.FrozenConfigDict(config), tuple(config.eval.lpips_backbones))
  assert step._cache_size() == 1  # pylint: disable=protected-access


def test_deterministic_metrics_do_not_depend_on_the_batch_size(setup):
  a, b = _run(setup, batch_size=8), _run(setup, batch_size=5)
  for key in ("mse", "psnr", "ssim", "lpips_alex"):
    np.testing.assert_allclose(a[key], b[key], rtol=1e-4, err_msg=key)
  np.testing.assert_allclose(a["posterior_mean_variance"], b["posterior_mean_variance"],
                             rtol=1e-4, atol=1e-8)


def test_table_and_json(setup, tmp_path):
  results = _run(setup, batch_size=8)
  table = evaluate.format_table(results)
  assert "active units" in table and "LPIPS (alex)" in table and "IS-NLL" in table
  evaluate.write_results(str(tmp_path), results)
  assert evaluate.read_results(str(tmp_path))["num_examples"] == NUM_IMAGES


def test_an_interrupted_evaluation_resumes_to_the_same_results(setup, tmp_path, monkeypatch):
  """Batches kept by an evaluation stopped part-way are read back, not run again, and the
  results equal those of an evaluation never stopped; a cache of other settings is dropped."""
  config, model, params, images = setup
  config = config.copy_and_resolve_references()
  config.batch_size = 5  # 3 batches
  cache_dir = str(tmp_path / "partial")
  whole = evaluate.evaluate(model, params, images, config, jax.random.key(1))
  put_batch, started, stop_at = masked_eval.sharding.put_batch, [], [3]

  def put_batch_or_stop(*args):
    started.append(1)
    if len(started) == stop_at[0]:
      raise KeyboardInterrupt
    return put_batch(*args)

  monkeypatch.setattr(masked_eval.sharding, "put_batch", put_batch_or_stop)
  with pytest.raises(KeyboardInterrupt):
    evaluate.evaluate(model, params, images, config, jax.random.key(1), cache_dir=cache_dir)
  kept = batch_cache.BatchCache.existing(cache_dir)
  assert len(kept) == 2
  kept_seconds = 0.0
  for path in kept:
    with np.load(path) as stored:
      kept_seconds += float(stored["seconds/metrics"]) + float(stored["seconds/is_nll"])
  started.clear()
  resumed = evaluate.evaluate(model, params, images, config, jax.random.key(1),
                              cache_dir=cache_dir)
  assert len(started) == 1  # only the third batch ran
  assert whole["timing_s"]["earlier_sessions"] == 0.0
  assert resumed["timing_s"]["earlier_sessions"] == pytest.approx(kept_seconds, abs=2e-3)
  assert set(resumed) == set(whole)
  for key in set(whole) - {"timing_s"}:
    assert resumed[key] == whole[key], key

  started.clear()
  stop_at[0] = None
  other = evaluate.evaluate(model, params, images, config, jax.random.key(2),
                            cache_dir=cache_dir)
  assert len(started) == 3  # another rng: the kept batches were not used ...
  assert other["is_nll_nats"] != whole["is_nll_nats"]
  kept = batch_cache.BatchCache.existing(cache_dir)  # ... but removed, and its own kept
  assert len(kept) == 3 and len({os.path.basename(path)[:-9] for path in kept}) == 1
  batch_cache.remove(cache_dir)
  assert not os.path.exists(cache_dir)
