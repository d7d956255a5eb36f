"""The masked evaluation loop over a test split, and the loss terms it averages.

`masked_outputs` is the one loop: padded batches (`pipeline.eval_batches`), put on the
mesh, a step returning masked sums (kept per batch in a `BatchCache` when given one), and
`means_of` their means over the unmasked images, so each image counts exactly once. The
training loop's periodic test loss (`loss_means`) and `--mode=eval` (`evaluate.evaluate`)
both run it.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from tqdm import tqdm

from vampjax import objective, sharding
from vampjax.data import pipeline
from vampjax.metrics import batch_cache
from vampjax.vae import VAE

Metrics = dict[str, jax.Array]
# step(batch, mask, rng) -> masked sums of each metric over the batch, and "count".
BatchSums = Callable[[jax.Array, jax.Array, jax.Array], Metrics]


def masked_outputs(step: Callable[..., Any], images: np.ndarray, batch_size: int,
                   mesh: jax.sharding.Mesh, rng: jax.Array, progress: bool = False,
                   cache: batch_cache.BatchCache | None = None) -> list[Any]:
  """Each batch's `step` output on the host, in order; batch i gets fold_in(rng, i).

  Without a cache the steps are dispatched without waiting. With one, each batch's output
  is read back and kept as it finishes, and a batch the cache already has is not run again.
  """
  outputs = []
  with tqdm(pipeline.eval_batches(images, batch_size), total=-(-len(images) // batch_size),
            desc="eval", unit="batch", dynamic_ncols=True,
            disable=not progress or jax.process_index() != 0) as batches:  # ends its line
    for i, batch_and_mask in enumerate(batches):
      kept = cache.get(i) if cache is not None else None
      if kept is None:
        kept = step(*sharding.put_batch(batch_and_mask, mesh), jax.random.fold_in(rng, i))
        if cache is not None:
          kept = jax.device_get(kept)
          cache.put(i, kept)
      outputs.append(kept)
  return jax.device_get(outputs)


def means_of(per_batch: list[Metrics]) -> tuple[dict[str, float], int]:
  """The mean of each summed metric over the images the batches counted, and their number
  (the sums are added in float64)."""
  count = int(sum(float(sums["count"]) for sums in per_batch))
  means = {name: math.fsum(float(sums[name]) for sums in per_batch) / count
           for name in per_batch[0] if name != "count"}
  return means, count


def masked_means(step: BatchSums, images: np.ndarray, batch_size: int,
                 mesh: jax.sharding.Mesh, rng: jax.Array,
                 progress: bool = False) -> tuple[dict[str, float], int]:
  """Mean of each of `step`'s sums over `images`, and the number of images."""
  return means_of(masked_outputs(step, images, batch_size, mesh, rng, progress))


@functools.lru_cache(maxsize=None)
def prior_components_fn(model: VAE) -> Callable[[Any], Any]:
  """params -> the prior's components, jitted once per model (not once per evaluation)."""
  return jax.jit(lambda params: model.apply({"params": params}, method="prior_components"))


def masked_loss_sums(model: VAE, params: Any, batch: jax.Array, mask: jax.Array,
                     rng: jax.Array, prior: Any, beta: jax.Array,
                     config: ml_collections.ConfigDict) -> Metrics:
  """Sums over the unmasked examples of every loss term, and "count"."""
  noise = objective.sample_noise(rng, model, config, batch.shape[0])
  terms = objective.loss_terms(model.apply({"params": params}, batch, noise, prior), beta)
  sums = {name: jnp.sum(jnp.where(mask, value, 0.0)) for name, value in terms.items()}
  sums["count"] = jnp.sum(mask.astype(jnp.float32))
  return sums


def make_eval_step(model: VAE, config: ml_collections.ConfigDict) -> Callable[..., Metrics]:
  """eval_step(params, batch, mask, rng, prior, beta) -> masked sums of every term.

  The prior's components are computed once per evaluation and passed in, not re-encoded
  for every batch.
  """

  def eval_step(params, batch, mask, rng, prior, beta):
    return masked_loss_sums(model, params, batch, mask, rng, prior, beta, config)

  return eval_step


def loss_means(model: VAE, params: Any, images: np.ndarray, config: ml_collections.ConfigDict,
               rng: jax.Array, beta: float, mesh: jax.sharding.Mesh,
               eval_step: Callable[..., Metrics] | None = None) -> dict[str, float]:
  """Mean of every loss term over `images`, each image counted exactly once."""
  eval_step = eval_step or jax.jit(make_eval_step(model, config))
  prior = prior_components_fn(model)(params)
  beta = jnp.asarray(beta, jnp.float32)
  means, count = masked_means(lambda b, m, r: eval_step(params, b, m, r, prior, beta),
                              images, config.batch_size, mesh, rng)
  means["kl_share"] = float(objective.kl_share(means["loss"], means["kl"], beta))
  means["num_examples"] = count
  return means
