"""The images TensorBoard shows at each evaluation: prior samples, and the first test
images beside their reconstructions."""

from __future__ import annotations

from typing import Any, Callable

import jax
import numpy as np

from vampjax import sharding
from vampjax.data import pipeline
from vampjax.figures import paired_rows
from vampjax.metric_writers import TensorBoardWriter
from vampjax.vae import VAE

NUM_RECONSTRUCTIONS = 16  # test images (and their reconstructions) in TensorBoard
COLUMNS = 8


def make_pictures(model: VAE, num_samples: int, mesh: jax.sharding.Mesh
                  ) -> Callable[[Any, np.ndarray, jax.Array], tuple[np.ndarray, np.ndarray]]:
  """pictures(params, images, rng) -> (prior samples, reconstructions) as host arrays.
  Every process computes them (the parameters span all processes); each reads its own
  replica."""

  def pictures(params, x, rng):
    samples = model.apply({"params": params}, rng, num_samples, method="sample")
    return samples, model.apply({"params": params}, x, method="reconstruct")

  repl = sharding.replicated(mesh)
  jitted = jax.jit(pictures, out_shardings=repl)
  return lambda params, x, rng: jax.tree.map(
      lambda a: np.asarray(a.addressable_data(0)),
      jitted(params, sharding.put_replicated(x, mesh), rng))


def make_picture_writer(model: VAE, num_samples: int, mesh: jax.sharding.Mesh,
                        test_images: np.ndarray, rng: jax.Array
                        ) -> Callable[[int, Any, TensorBoardWriter | None], None]:
  """write(step, params, tensorboard): the pictures of `params`, computed on every process
  and written where `tensorboard` is not None (the lead process)."""
  shown = pipeline.to_float(np.asarray(test_images[:NUM_RECONSTRUCTIONS]))
  pictures = make_pictures(model, num_samples, mesh)

  def write(step: int, params: Any, tensorboard: TensorBoardWriter | None) -> None:
    samples, reconstructions = pictures(params, shown, rng)
    if tensorboard:
      tensorboard.write_images(step, "prior_samples", samples)
      tensorboard.write_images(step, "reconstructions",
                               paired_rows(shown, reconstructions, COLUMNS), COLUMNS)

  return write
