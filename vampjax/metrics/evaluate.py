"""Every metric of `--mode=eval` over a test split, each image counted exactly once.

The batches run through `masked_eval.masked_outputs` (the padded last batch is masked), so a
test set of any size counts each image once; `write_results` keeps them in eval.json. Given
a `cache_dir`, each batch's results are kept as it finishes, and an interrupted evaluation
of the same weights, images and settings resumes from them.
"""

from __future__ import annotations

import functools
import math
import os
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from vampjax import figures, jsonio, likelihoods, priors, sharding
from vampjax.data import pipeline
from vampjax.metrics import (active_units, batch_cache, image_quality, likelihood, lpips,
                             masked_eval)
from vampjax.vae import VAE

EVAL_FILENAME = "eval.json"
PARTIAL_DIR = "eval_partial"  # `--mode=eval`'s batches, kept until eval.json is written


def _posterior_quantities(model: VAE, params: Any, lpips_params: tuple, batch: jax.Array,
                          mask: jax.Array, rng: jax.Array, components: priors.Mixture,
                          beta: jax.Array, config: ml_collections.ConfigDict,
                          nets: tuple[lpips.Lpips, ...]
                          ) -> tuple[dict[str, jax.Array], dict[str, jax.Array]]:
  """Masked sums of the loss terms and image metrics of one batch, and its posterior means
  by latent level.

  Loss terms use a sampled z (like training); reconstructions for MSE/PSNR/SSIM/LPIPS are
  the decoded posterior means, so they are deterministic.
  """
  sums = masked_eval.masked_loss_sums(model, params, batch, mask, rng, components, beta,
                                      config)
  apply = lambda method: model.apply({"params": params}, batch, method=method)
  reconstructions = apply("reconstruct")
  per_example = image_quality.image_quality(batch, reconstructions)
  for net, net_params in zip(nets, lpips_params):
    per_example[f"lpips_{net.name}"] = lpips.distance(net, net_params, batch, reconstructions)
  sums.update({name: jnp.sum(jnp.where(mask, value, 0.0)) for name, value in per_example.items()})
  return sums, apply("posterior_means")


@functools.lru_cache(maxsize=None)
def _jitted_metrics_step(model: VAE, config: ml_collections.FrozenConfigDict,
                         backbones: tuple[str, ...]) -> Callable[..., Any]:
  """`_posterior_quantities` jitted once per (model, config, LPIPS networks): a jit of a
  fresh closure in every `evaluate` call would compile it again each time."""
  nets = tuple(lpips.load(name) for name in backbones)
  return jax.jit(lambda p, lp, b, m, r, c, beta: _posterior_quantities(
      model, p, lp, b, m, r, c, beta, config, nets))


def evaluate(model: VAE, params: Any, images: np.ndarray, config: ml_collections.ConfigDict,
             rng: jax.Array, mesh: jax.sharding.Mesh | None = None,
             cache_dir: str | None = None) -> dict[str, Any]:
  """Every metric over `images` (uint8 or [0, 1] floats, NHWC), each image counted once.

  With `cache_dir` (one process only), batches already kept there for these weights, images,
  config and rng are not run again; the caller removes it (`batch_cache.remove`) once it
  has written the results.
  """
  mesh = mesh or sharding.make_mesh()
  cache = None
  if cache_dir is not None and jax.process_count() == 1:
    cache = batch_cache.BatchCache(cache_dir, batch_cache.digest(
        params, images, config.to_json_best_effort(sort_keys=True), jax.random.key_data(rng)))
    if len(cache):
      print(f"resuming: {len(cache)} of {-(-len(images) // config.batch_size)} batches kept "
            f"from an interrupted evaluation in {cache_dir}", flush=True)
  cfg = config.eval
  params = sharding.put_replicated(params, mesh)
  nets = tuple(lpips.load(name) for name in cfg.lpips_backbones)
  lpips_params = sharding.put_replicated(tuple(net.params for net in nets), mesh)
  components = masked_eval.prior_components_fn(model)(params)
  beta = jnp.asarray(config.beta, jnp.float32)

  metrics_step = _jitted_metrics_step(model, ml_collections.FrozenConfigDict(config),
                                      tuple(cfg.lpips_backbones))
  is_step = lambda p, b, r, c: likelihood.vae_log_likelihood(  # pylint: disable=g-long-lambda
      model, p, b, r, c, config, cfg.is_samples, cfg.is_chunk, include_constant=True)

  def batch_sums(batch, mask, rng):
    """The batch's masked sums, its images' posterior means by level, and the seconds of
    both passes."""
    batch_rng, is_rng = jax.random.split(rng)
    start = time.perf_counter()
    sums, level_means = jax.device_get(metrics_step(params, lpips_params, batch, mask, batch_rng,
                                           components, beta))
    seconds = {"metrics": time.perf_counter() - start, "is_nll": 0.0}
    host_mask = np.asarray(mask)
    if cfg.is_samples > 0:
      start = time.perf_counter()
      log_px = np.asarray(jax.device_get(is_step(params, batch, is_rng, components)), np.float64)
      seconds["is_nll"] = time.perf_counter() - start
      sums["is_log_px"] = np.sum(log_px[host_mask])
    return {"sums": sums, "posterior_means": {level: np.asarray(mu)[host_mask]
                                              for level, mu in level_means.items()},
            "seconds": seconds}

  outputs = masked_eval.masked_outputs(batch_sums, images, config.batch_size, mesh, rng,
                                       progress=True, cache=cache)
  means, count = masked_eval.means_of([output["sums"] for output in outputs])
  means_by_level = {level: [output["posterior_means"][level] for output in outputs]
                    for level in outputs[0]["posterior_means"]}
  num_dims = math.prod(images.shape[1:])
  constant = likelihoods.normalising_constant(config.likelihood, num_dims)
  by_level = {level: active_units.active_units(np.concatenate(mus), cfg.au_threshold)
              for level, mus in sorted(means_by_level.items())}
  au = sum(units for units, _ in by_level.values())
  variances = np.concatenate([variances for _, variances in by_level.values()])
  results: dict[str, Any] = {
      "num_examples": count,
      "active_units": au,
      "latent_dim": int(variances.shape[0]),
      "au_threshold": cfg.au_threshold,
      **({f"active_units_{level}": units for level, (units, _) in by_level.items()}
         if len(by_level) > 1 else {}),
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
    nll = -means["is_log_px"]
    results["is_nll_nats"] = nll
    results["is_nll_bits_per_dim"] = likelihood.bits_per_dim(nll, num_dims)
  results["posterior_mean_variance"] = [float(v) for v in variances]
  # Every batch's seconds, those run before an interruption included ("earlier_sessions").
  timing = {name: sum(float(output["seconds"][name]) for output in outputs)
            for name in ("metrics", "is_nll")}
  timing["earlier_sessions"] = sum(float(outputs[i]["seconds"][name]) for name in timing
                                   for i in (cache.read if cache is not None else []))
  results["timing_s"] = {name: round(value, 3) for name, value in timing.items()}
  return results


def plan_text(config: ml_collections.ConfigDict, num_images: int) -> str:
  """What `evaluate` computes, said before it starts (the IS-NLL is most of the wait)."""
  cfg = config.eval
  lpips_text = f"LPIPS ({', '.join(cfg.lpips_backbones)}), " if cfg.lpips_backbones else ""
  nll = (f"IS-NLL with S = {cfg.is_samples} importance samples per image" if cfg.is_samples > 0
         else "no IS-NLL (eval.is_samples = 0)")
  return (f"{num_images} test images: loss, reconstruction and KL, MSE, PSNR, SSIM, "
          f"{lpips_text}active units, {nll}")


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
  note = ([f"({figures.NEGATIVE_NOTE})"] if any(value.startswith("-") for _, value in rows)
          else [])
  return "\n".join([f"{name:<{width}}  {value}" for name, value in rows] + note)


def write_results(workdir: str, results: dict[str, Any]) -> str:
  return jsonio.write_json_atomic(os.path.join(workdir, EVAL_FILENAME), results)


def read_results(workdir: str) -> dict[str, Any] | None:
  return jsonio.read_json(os.path.join(workdir, EVAL_FILENAME))


def posterior_means(model: VAE, params: Any, images: np.ndarray, batch_size: int) -> np.ndarray:
  """E_q[z|x] of every image, every latent level side by side, (N, D): enough for the
  active units without a full eval."""
  encode = jax.jit(lambda p, x: jnp.concatenate(
      [mu for _, mu in sorted(model.apply({"params": p}, x, method="posterior_means").items())],
      axis=-1))
  return np.concatenate([np.asarray(encode(params, batch))[mask]
                         for batch, mask in pipeline.eval_batches(images, batch_size)])
