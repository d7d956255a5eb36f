"""`--mode=eval`: every metric over every test image exactly once, in jitted batches.

Writes `<workdir>/eval.json` and prints a table. The padded last batch is masked (see
`pipeline.eval_batches`), so a test set of any size counts each image once.
"""

from __future__ import annotations

import functools
import json
import math
import os
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from tqdm import tqdm

from vampjax import data, likelihoods, priors, sharding, train
from vampjax.data import pipeline
from vampjax.metrics import active_units, image_quality, likelihood, lpips
from vampjax.vae import VAE

EVAL_FILENAME = "eval.json"


def _posterior_quantities(model: VAE, params: Any, lpips_params: tuple, batch: jax.Array,
                          mask: jax.Array, rng: jax.Array, components: priors.Mixture,
                          beta: jax.Array, config: ml_collections.ConfigDict,
                          nets: tuple[lpips.Lpips, ...]) -> tuple[dict[str, jax.Array],
                                                                   jax.Array]:
  """Masked sums of the loss terms and image metrics of one batch, and its posterior means.

  Loss terms use a sampled z (like training); reconstructions for MSE/PSNR/SSIM/LPIPS are
  the decoded posterior means, sigmoid(decoder(μ)), so they are deterministic.
  """
  sums, out = train.masked_loss_sums(model, params, batch, mask, rng, components, beta, config)
  reconstructions = jax.nn.sigmoid(model.apply({"params": params}, out.mu, method=VAE.decode))
  per_example = image_quality.image_quality(batch, reconstructions)
  for net, net_params in zip(nets, lpips_params):
    per_example[f"lpips_{net.name}"] = lpips.distance(net, net_params, batch, reconstructions)
  sums.update({name: jnp.sum(jnp.where(mask, value, 0.0)) for name, value in per_example.items()})
  return sums, out.mu


@functools.lru_cache(maxsize=None)
def _jitted_metrics_step(model: VAE, config: ml_collections.FrozenConfigDict,
                         backbones: tuple[str, ...]) -> Callable[..., Any]:
  """`_posterior_quantities` jitted once per (model, config, LPIPS networks): a jit of a
  fresh closure in every `evaluate` call compiled again each time (about 1 s a call)."""
  nets = tuple(lpips.load(name) for name in backbones)
  return jax.jit(lambda p, lp, b, m, r, c, beta: _posterior_quantities(
      model, p, lp, b, m, r, c, beta, config, nets))


def evaluate(model: VAE, params: Any, images: np.ndarray, config: ml_collections.ConfigDict,
             rng: jax.Array, mesh: jax.sharding.Mesh | None = None) -> dict[str, Any]:
  """Every metric over `images` (uint8 or [0, 1] floats, NHWC), each image counted once."""
  mesh = mesh or sharding.make_mesh()
  cfg = config.eval
  params = sharding.put_replicated(params, mesh)
  nets = tuple(lpips.load(name) for name in cfg.lpips_backbones)
  lpips_params = sharding.put_replicated(tuple(net.params for net in nets), mesh)
  components = train.prior_components_fn(model)(params)
  beta = jnp.asarray(config.beta, jnp.float32)

  step = _jitted_metrics_step(model, ml_collections.FrozenConfigDict(config),
                              tuple(cfg.lpips_backbones))
  is_step = lambda p, b, r, c: likelihood.vae_log_likelihood(  # pylint: disable=g-long-lambda
      model, p, b, r, c, config, cfg.is_samples, cfg.is_chunk, include_constant=True)

  totals: dict[str, float] = {}
  mus, count, timing = [], 0, {"metrics": 0.0, "is_nll": 0.0}
  is_total = 0.0
  batches = tqdm(pipeline.eval_batches(images, config.batch_size),
                 total=-(-len(images) // config.batch_size), desc="eval", unit="batch",
                 dynamic_ncols=True, disable=jax.process_index() != 0)
  for i, (batch, mask) in enumerate(batches):
    batch, mask = sharding.put_batch((batch, mask), mesh)
    batch_rng, is_rng = jax.random.split(jax.random.fold_in(rng, i))
    start = time.perf_counter()
    sums, mu = jax.device_get(step(params, lpips_params, batch, mask, batch_rng, components,
                                   beta))
    timing["metrics"] += time.perf_counter() - start
    host_mask = np.asarray(mask)
    mus.append(np.asarray(mu)[host_mask])
    count += int(host_mask.sum())
    for name, value in sums.items():
      totals[name] = totals.get(name, 0.0) + float(value)
    if cfg.is_samples > 0:
      start = time.perf_counter()
      log_px = np.asarray(jax.device_get(is_step(params, batch, is_rng, components)), np.float64)
      timing["is_nll"] += time.perf_counter() - start
      is_total += float(np.sum(log_px[host_mask]))

  means = {name: value / count for name, value in totals.items()}
  num_dims = math.prod(images.shape[1:])
  constant = likelihoods.normalising_constant(config.likelihood, num_dims)
  au, variances = active_units.active_units(np.concatenate(mus), cfg.au_threshold)
  results: dict[str, Any] = {
      "num_examples": count,
      "active_units": au,
      "latent_dim": int(variances.shape[0]),
      "au_threshold": cfg.au_threshold,
      "lpips": means[f"lpips_{cfg.lpips_study_backbone}"]
               if f"lpips_{cfg.lpips_study_backbone}" in means else None,
      "lpips_backbone": cfg.lpips_study_backbone,
      **{name: means[name] for name in sorted(means) if name.startswith("lpips_")},
      "mse": means["mse"], "psnr": means["psnr"], "ssim": means["ssim"],
      "loss": means["loss"], "reconstruction": means["reconstruction"], "kl": means["kl"],
      "beta": config.beta,
      "neg_elbo_as_trained": means["reconstruction"] + means["kl"],
      "neg_elbo_nats": means["reconstruction"] + means["kl"] + constant,
      "neg_elbo_bits_per_dim": likelihood.bits_per_dim(
          means["reconstruction"] + means["kl"] + constant, num_dims),
      "likelihood": config.likelihood,
      "nll_includes_gaussian_constant": config.likelihood in ("gaussian_study", "gaussian"),
      "likelihood_note": likelihoods.NOTES[config.likelihood],
      "is_samples": cfg.is_samples,
  }
  if cfg.is_samples > 0:
    nll = -is_total / count
    results["is_nll_nats"] = nll
    results["is_nll_bits_per_dim"] = likelihood.bits_per_dim(nll, num_dims)
  results["posterior_mean_variance"] = [float(v) for v in variances]
  results["timing_s"] = {name: round(value, 3) for name, value in timing.items()}
  return results


def format_table(results: dict[str, Any]) -> str:
  """The headline numbers as an aligned two-column table."""
  rows = [("test images", f"{results['num_examples']}"),
          ("active units", f"{results['active_units']}/{results['latent_dim']} "
                           f"(threshold {results['au_threshold']})")]
  rows += [(f"LPIPS ({name[6:]})", f"{results[name]:.4f}")
           for name in results if name.startswith("lpips_") and name != "lpips_backbone"]
  rows += [("MSE", f"{results['mse']:.5f}"), ("PSNR (dB)", f"{results['psnr']:.2f}"),
           ("SSIM", f"{results['ssim']:.4f}"),
           ("loss (as trained)", f"{results['loss']:.3f}"),
           ("  reconstruction", f"{results['reconstruction']:.3f}"),
           ("  KL", f"{results['kl']:.3f}"),
           ("−ELBO (nats)", f"{results['neg_elbo_nats']:.3f}")]
  if "is_nll_nats" in results:
    rows += [(f"IS-NLL, S={results['is_samples']} (nats)", f"{results['is_nll_nats']:.3f}"),
             ("IS-NLL (bits/dim)", f"{results['is_nll_bits_per_dim']:.4f}")]
  width = max(len(name) for name, _ in rows)
  return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def write_results(workdir: str, results: dict[str, Any]) -> str:
  path = os.path.join(workdir, EVAL_FILENAME)
  with open(path + ".tmp", "w") as f:
    json.dump(results, f, indent=2)
  os.replace(path + ".tmp", path)
  return path


def read_results(workdir: str) -> dict[str, Any] | None:
  path = os.path.join(workdir, EVAL_FILENAME)
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)


def posterior_means(model: VAE, params: Any, images: np.ndarray, batch_size: int) -> np.ndarray:
  """E_q[z|x] of every image, (N, D): enough for the active units without a full eval."""
  encode = jax.jit(lambda p, x: model.apply({"params": p}, x, method=VAE.encode)[0])
  return np.concatenate([np.asarray(encode(params, batch))[mask]
                         for batch, mask in pipeline.eval_batches(images, batch_size)])


def test_images(config: ml_collections.ConfigDict) -> np.ndarray:
  """The test split, or its first `eval.num_examples` images."""
  images = data.get_dataset(config).test
  return images if config.eval.num_examples < 0 else images[:config.eval.num_examples]


def checkpoint_step(config: ml_collections.ConfigDict) -> int | None:
  return None if config.eval.checkpoint_step < 0 else config.eval.checkpoint_step


def evaluate_checkpoint(config: ml_collections.ConfigDict, workdir: str
                        ) -> tuple[dict[str, Any], VAE, Any, np.ndarray]:
  """Restores the checkpoint, evaluates it on the test split, writes eval.json, prints a table.

  Returns (results, model, train state, test images) so that figures reuse them.
  """
  start = time.perf_counter()
  model, state = train.restore_model(config, workdir, checkpoint_step(config))
  images = test_images(config)
  rng = train.rng_streams(config.seed)["eval"]
  results = {"checkpoint_step": int(state.step), "workdir": os.path.abspath(workdir),
             **evaluate(model, state.params, images, config, rng)}
  results["timing_s"]["total"] = round(time.perf_counter() - start, 3)
  path = write_results(workdir, results)
  print(format_table(results))
  print(f"wrote {path} (step {results['checkpoint_step']}, "
        f"{results['timing_s']['total']:.1f} s)")
  return results, model, state, images
