"""What `main.py --mode=...` runs: each mode is a function of (config, workdir)."""

from __future__ import annotations

import os

import jax
import ml_collections
import numpy as np

from vampjax import figures, train
from vampjax.metrics import active_units, evaluate
from vampjax.vae import VAE


def run_train(config: ml_collections.ConfigDict, workdir: str, overwrite: bool = False) -> None:
  train.train_and_evaluate(config, workdir, overwrite)


def run_sample(config: ml_collections.ConfigDict, workdir: str) -> str:
  """Writes `<workdir>/samples.png`: a grid of decoded prior samples of the latest checkpoint."""
  model, state = train.restore_model(config, workdir)
  rng = train.rng_streams(config.seed)["sample"]
  images = jax.jit(lambda p: model.apply({"params": p}, rng, config.num_samples,
                                         method=VAE.sample))(state.params)
  path = figures.save_image_grid(os.path.join(workdir, "samples.png"), jax.device_get(images))
  print(f"wrote {path}")
  return path


def run_eval(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Writes `<workdir>/eval.json` (every metric over the test split) and all the figures."""
  results, model, state, images = evaluate.evaluate_checkpoint(config, workdir)
  paths = figures.write_figures(model, state.params, config, workdir, images,
                                np.asarray(results["posterior_mean_variance"]),
                                train.rng_streams(config.seed)["sample"])
  print("wrote " + ", ".join(paths))
  return results


def run_figures(config: ml_collections.ConfigDict, workdir: str) -> list[str]:
  """Re-plots a finished run into `<workdir>/figures/` without retraining or a full eval.

  The variance plot reuses eval.json when there is one, else encodes the test split.
  """
  model, state = train.restore_model(config, workdir, evaluate.checkpoint_step(config))
  images = evaluate.test_images(config)
  results = evaluate.read_results(workdir)
  if results is not None and results.get("checkpoint_step") == int(state.step):
    variances = np.asarray(results["posterior_mean_variance"])
  else:
    variances = active_units.posterior_mean_variance(
        evaluate.posterior_means(model, state.params, images, config.batch_size))
  paths = figures.write_figures(model, state.params, config, workdir, images, variances,
                                train.rng_streams(config.seed)["sample"])
  print("wrote " + ", ".join(paths))
  return paths


MODES = {"train": run_train, "sample": run_sample, "eval": run_eval, "figures": run_figures}
