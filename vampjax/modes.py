"""What `main.py --mode=...` runs: each mode is a function of (config, workdir)."""

from __future__ import annotations

import os

import jax
import ml_collections

from vampjax import figures, train
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


MODES = {"train": run_train, "sample": run_sample}
