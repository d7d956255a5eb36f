"""Using a trained run from Python: `vampjax.load_run(workdir)`.

  run = vampjax.load_run("runs/mnist_vamp")
  mu, logvar = run.encode(images)          # images: (N, H, W, C) in [0, 1], or uint8
  samples = run.sample(16, seed=0)         # (16, H, W, C) pixel means in [0, 1]
  images = run.decode(mu)                  # (N, H, W, C) pixel means in [0, 1]

The same calls work on one- and two-level runs. `encode` and `decode` speak of the latent
the prior is on: z (N, latent_dim), or for a two-level run (hvae_mlp, hvae_conv) the top
latent z2 (N, latent_dim); `decode(z2)` takes z1 as the mean of p(z1|z2), and
`decode(z2, z1=z1)` a given one. `encode_levels` gives every level's posterior:
{"z": (μ, log σ²)}, or {"z2": (μ2, log σ²2), "z1": (μ1, log σ²1)} with q(z1|x, z2) at
z2 = μ2, so that `reconstruct(x)` is `decode(μ2, z1=μ1)`.

Images go in and come out as numpy arrays, NHWC, pixels in [0, 1] (uint8 inputs are
scaled). The checkpoint is restored on the devices of this process, whatever devices
trained it. Each method is one jitted function, compiled on its first call (and again
only for a new input shape). Nothing in vampjax's core imports this module.
"""

from __future__ import annotations

from typing import Any

import jax
import ml_collections
import numpy as np

from vampjax import state
from vampjax import workdir as workdir_lib
from vampjax.data import pipeline
from vampjax.metrics import likelihood, masked_eval
from vampjax.vae import VAE, pseudo_input_images


def _log_likelihood(model: VAE, params: Any, x: jax.Array, rng: jax.Array,
                    config: ml_collections.ConfigDict, num_samples: int) -> jax.Array:
  """Per-image importance-sampled log p(x) in nats, with the evaluation's estimator."""
  components = masked_eval.prior_components_fn(model)(params)
  return likelihood.vae_log_likelihood(model, params, x, rng, components, config, num_samples,
                                       config.eval.is_chunk, include_constant=True)


class Run:
  """A restored run: its `config`, `params`, `step` and `which` checkpoint that step is
  ("chosen", "best" or "latest"), and the model's operations."""

  def __init__(self, config: ml_collections.ConfigDict, model: VAE, params: Any, step: int,
               which: str):
    self.config, self.model, self.params, self.step = config, model, params, step
    self.which = which
    apply = lambda method: jax.jit(  # pylint: disable=g-long-lambda
        lambda p, *args: model.apply({"params": p}, *args, method=method))
    self._encode = apply("encode")
    self._encode_levels = apply("posteriors")
    self._decode = apply("pixel_means")
    self._reconstruct = apply("reconstruct")
    self._sample = jax.jit(lambda p, rng, n: model.apply({"params": p}, rng, n,
                                                         method="sample"),
                           static_argnums=2)

  def __repr__(self) -> str:
    return (f"Run({self.config.architecture}, prior={self.model.prior_kind}, "
            f"latent_dim={self.config.latent_dim}, step={self.step} ({self.which}))")

  def _images(self, x: np.ndarray) -> jax.Array:
    """x as float32 in [0, 1]; refuses a shape other than (N, *the model's image shape)."""
    x = np.asarray(x)
    if x.ndim != 4 or x.shape[1:] != tuple(self.model.image_shape):
      raise ValueError(f"images of shape {x.shape}; this run takes (N, "
                       f"{', '.join(map(str, self.model.image_shape))}) in [0, 1] or uint8.")
    return pipeline.to_float(x) if x.dtype == np.uint8 else x.astype(np.float32)

  def encode_levels(self, x: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The posterior of each latent level as (μ, log σ²): {"z": ...} each (N, latent_dim),
    or for two levels {"z2": ..., "z1": ...}, q(z1|x, z2) taken at z2 = μ2."""
    levels = self._encode_levels(self.params, self._images(x))  # jit sorts the keys
    return {name: tuple(map(np.asarray, levels[name])) for name in self.model.latent_levels}

  def encode(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The posterior of each image's latent that the prior is on, q(z|x) (q(z2|x) for two
    levels): (mean μ, log σ²), each (N, latent_dim)."""
    mu, logvar = self._encode(self.params, self._images(x))
    return np.asarray(mu), np.asarray(logvar)

  def decode(self, z: np.ndarray, z1: np.ndarray | None = None) -> np.ndarray:
    """Pixel means (N, H, W, C) in [0, 1] of latents z (N, latent_dim); for two levels z is
    z2, and z1 (N, latent_dim) defaults to the mean of p(z1|z2)."""
    latents = [np.asarray(z, np.float32)]
    if z1 is not None:
      if len(self.model.latent_levels) == 1:
        raise ValueError("z1 is for two-level runs; this run has one latent level: decode(z).")
      latents.append(np.asarray(z1, np.float32))
    return np.asarray(self._decode(self.params, *latents))

  def reconstruct(self, x: np.ndarray) -> np.ndarray:
    """Each image decoded from its posterior mean (of each level), as the evaluation and
    figures do."""
    return np.asarray(self._reconstruct(self.params, self._images(x)))

  def sample(self, n: int, seed: int = 0) -> np.ndarray:
    """n images from the prior (for the VampPrior: k uniform, then z ~ q(z|u_k)), as
    `main.py --mode=sample --config.seed=<seed> --config.num_samples=<n>` draws them."""
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool):
      raise TypeError(f"n is how many images to draw (a positive int), not a "
                      f"{type(n).__name__}; the randomness is seed=<int>.")
    if n < 1:
      raise ValueError(f"n is how many images to draw (a positive int), not {n}.")
    rng = state.rng_streams(seed)["sample"]
    return np.asarray(self._sample(self.params, rng, n))

  def pseudo_inputs(self) -> np.ndarray:
    """The VampPrior's K pseudo-inputs as images (K, H, W, C) in [0, 1]."""
    if not self.model.is_vamp:
      raise ValueError(f"this run's prior is {self.model.prior_kind}; only a VampPrior has "
                       "pseudo-inputs.")
    return np.asarray(pseudo_input_images(self.model, self.params))

  def log_likelihood(self, x: np.ndarray, num_samples: int = 5000,
                     rng: jax.Array | int = 0) -> np.ndarray:
    """Importance-sampled log p(x) of each image, (N,) nats, with S = `num_samples`
    (rng: a key or an int seed). For a Gaussian likelihood it includes ½·log 2π per
    pixel, like eval.json's is_nll_nats."""
    key = jax.random.key(int(rng)) if isinstance(rng, (int, np.integer)) else rng
    return np.asarray(_log_likelihood(self.model, self.params, self._images(x), key,
                                      self.config, num_samples))


def load_run(workdir: str, step: int | None = None) -> Run:
  """The run in `workdir`: its config.json and the checkpoint of `step`, by default the one
  `--mode=eval` scores (the best validation checkpoint when early stopping saved one, else
  the latest). `Run.step` and `Run.which` ("chosen", "best", "latest") say which it is."""
  config = workdir_lib.read_config(workdir)
  model, restored, chosen = state.restore_chosen(config, workdir, step,
                                                 how_to_pick="load_run(workdir, step={step})")
  return Run(config, model, restored.params, int(restored.step), chosen.which)
