"""Times the evaluation passes on MNIST (mnist_vamp at its real size, K = 500, latent 40).

  python benchmarks/evaluation.py --images=100 --baseline_images=5 --out=benchmarks/results/evaluation.json

Prints per-image cost of (a) the metric pass (reconstruction, MSE/PSNR/SSIM, LPIPS-alex,
loss terms) and (b) the importance-sampled NLL with S = 5000, ours (a batch of images,
chunks vmapped) against the original VampPrior code's approach (one image at a time, its
samples in chunks of 100 through the whole model), and extrapolates to the 10k test set.
The parameters are a fresh init: the cost does not depend on training.
"""

from __future__ import annotations

import json
import os
import sys
import time

from absl import app, flags
import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from configs import mnist_vamp  # pylint: disable=wrong-import-position
from vampjax import data, objective, priors, train  # pylint: disable=wrong-import-position
from vampjax.distributions import gaussian_log_prob  # pylint: disable=wrong-import-position
from vampjax.metrics import evaluate, likelihood  # pylint: disable=wrong-import-position
from vampjax.vae import VAE, build_model  # pylint: disable=wrong-import-position

flags.DEFINE_integer("images", 100, "Test images for our passes.")
flags.DEFINE_integer("baseline_images", 3, "Test images for the one-at-a-time baseline.")
flags.DEFINE_integer("samples", 5000, "S importance samples.")
flags.DEFINE_string("out", None, "Write the results as JSON here.")
FLAGS = flags.FLAGS
TEST_SET = 10_000


def timed(fn):
  start = time.perf_counter()
  result = jax.block_until_ready(fn())
  return result, time.perf_counter() - start


def baseline_log_likelihood(model, params, x, rng, config, num_samples, chunk=100):
  """The original code's loop: for one image, chunks of 100 copies through the whole model."""

  @jax.jit
  def chunk_log_weights(params, key, image):
    copies = jnp.repeat(image[None], chunk, axis=0)
    mu, logvar = model.apply({"params": params}, copies, method=VAE.encode)
    prior = model.apply({"params": params}, method=VAE.prior_components)
    z = mu + jnp.exp(0.5 * logvar) * jax.random.normal(key, mu.shape)
    logits = model.apply({"params": params}, z, method=VAE.decode)
    log_px = -objective.reconstruction_loss(copies, logits, config.likelihood)
    return log_px + priors.log_prob(z, *prior) - gaussian_log_prob(z, mu, logvar)

  weights = np.concatenate([np.asarray(chunk_log_weights(params, k, x))
                            for k in jax.random.split(rng, num_samples // chunk)])
  return np.logaddexp.reduce(weights) - np.log(num_samples)


def main(_):
  config = mnist_vamp.get_config()
  config.eval.lpips_backbones = ("alex",)
  config.eval.is_samples = 0
  config.pseudo_init = "random"  # the cost is the same
  model = build_model(config)
  params = train.create_train_state(config, model, jax.random.key(0)).params
  images = data.get_dataset(config).test[:FLAGS.images]
  rng = jax.random.key(1)

  evaluate.evaluate(model, params, images[:config.batch_size], config, rng)  # compile
  _, seconds_metrics = timed(
      lambda: evaluate.evaluate(model, params, images, config, rng)["loss"])
  print(f"metric pass (reconstruction, MSE/PSNR/SSIM, LPIPS-alex, loss terms): "
        f"{1e3 * seconds_metrics / len(images):.2f} ms/image, "
        f"{seconds_metrics / len(images) * TEST_SET:.0f} s for 10k images")

  batch = jnp.asarray(images[:config.batch_size], jnp.float32) / 255.0
  prior = train.prior_components_fn(model)(params)
  ours = lambda s: likelihood.vae_log_likelihood(  # pylint: disable=g-long-lambda
      model, params, batch, rng, prior, config, s, config.eval.is_chunk,
      include_constant=False)  # as the baseline computes it
  _, compile_s = timed(lambda: ours(config.eval.is_chunk))
  log_px, seconds = timed(lambda: ours(FLAGS.samples))
  ours_per_image = seconds / len(batch)
  print(f"IS-NLL S={FLAGS.samples}, ours (batch {len(batch)}, chunks of "
        f"{config.eval.is_chunk} vmapped): {ours_per_image:.3f} s/image, "
        f"{ours_per_image * TEST_SET / 3600:.2f} h for 10k (compile {compile_s:.1f} s)")

  baseline_log_likelihood(model, params, batch[0], rng, config, 200)  # compile
  start = time.perf_counter()
  reference = [baseline_log_likelihood(model, params, batch[i], rng, config, FLAGS.samples)
               for i in range(FLAGS.baseline_images)]
  base_per_image = (time.perf_counter() - start) / FLAGS.baseline_images
  print(f"IS-NLL S={FLAGS.samples}, original approach (one image, chunks of 100): "
        f"{base_per_image:.3f} s/image, {base_per_image * TEST_SET / 3600:.2f} h for 10k")
  print(f"speed-up {base_per_image / ours_per_image:.1f}x; estimates agree: ours "
        f"{np.asarray(log_px[:FLAGS.baseline_images]).round(2)}, baseline "
        f"{np.round(reference, 2)}")
  if FLAGS.out:
    with open(FLAGS.out, "w") as f:
      json.dump({"device": str(jax.devices()[0]), "config": "mnist_vamp",
                 "metric_pass_s_per_image": seconds_metrics / len(images),
                 "is_samples": FLAGS.samples, "is_s_per_image": ours_per_image,
                 "is_compile_s": compile_s, "baseline_s_per_image": base_per_image,
                 "speedup": base_per_image / ours_per_image,
                 "log_px_ours": np.asarray(log_px[:FLAGS.baseline_images]).tolist(),
                 "log_px_baseline": [float(r) for r in reference]}, f, indent=2)


if __name__ == "__main__":
  app.run(main)
