"""The VampPrior on your own networks: an MLP encoder and decoder of your own, trained with
vampjax's VampPrior in a plain optax loop on MNIST (embedded in the installed packages: no
download). Prints the loss and the active units; writes a PNG of prior samples.

  python examples/own_networks.py [--steps 1500] [--out own_networks_samples.png]
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import linen as nn

import vampjax
from vampjax.data import mnist
from vampjax.figures import save_image_grid
from vampjax.metrics.active_units import active_units

LATENT, HIDDEN, PSEUDO_INPUTS, BATCH = 16, 256, 50, 100
SHAPE = (28, 28, 1)


class Encoder(nn.Module):
  """Yours: any module from images to (μ, log σ²) takes the prior."""

  @nn.compact
  def __call__(self, x):
    h = nn.relu(nn.Dense(HIDDEN)(x.reshape(x.shape[0], -1)))
    return nn.Dense(LATENT)(h), nn.tanh(nn.Dense(LATENT)(h)) * 4.0 - 2.0  # log σ² in (-6, 2)


class Decoder(nn.Module):
  @nn.compact
  def __call__(self, z):
    h = nn.relu(nn.Dense(HIDDEN)(z))
    return nn.Dense(int(np.prod(SHAPE)))(h).reshape(-1, *SHAPE)  # Bernoulli logits


class MyVAE(nn.Module):
  def setup(self):
    self.encoder, self.decoder = Encoder(), Decoder()
    self.prior = vampjax.VampPrior(PSEUDO_INPUTS, SHAPE)  # pseudo-inputs: params of MyVAE

  def __call__(self, x, rng):
    """The negative ELBO of each image, with the VampPrior's KL estimate."""
    mu, logvar = self.encoder(x)
    z = mu + jnp.exp(0.5 * logvar) * jax.random.normal(rng, mu.shape)
    kl = vampjax.kl_estimate(z, mu, logvar, self.prior(self.encoder))
    reconstruction = optax.sigmoid_binary_cross_entropy(self.decoder(z), x).sum((1, 2, 3))
    return reconstruction + kl

  def log_prior(self, z):
    return vampjax.prior_log_prob(z, self.prior(self.encoder))

  def sample(self, rng, n):
    return jax.nn.sigmoid(self.decoder(vampjax.prior_sample(rng, self.prior(self.encoder), n)))


def main(steps: int = 1500, out: str = "own_networks_samples.png", seed: int = 0) -> dict:
  """Trains for `steps` and writes the samples to `out`; returns the losses, the active
  units, the model and its parameters."""
  arrays = mnist.load_arrays()
  train = arrays["train_images"][..., None].astype(np.float32) / 255.0
  test = arrays["test_images"][:1000, ..., None].astype(np.float32) / 255.0
  model, tx = MyVAE(), optax.adam(1e-3)
  init_key, data_key, train_key, sample_key = jax.random.split(jax.random.key(seed), 4)
  params = model.init(init_key, train[:1], init_key)["params"]
  opt_state = tx.init(params)

  @jax.jit
  def step(params, opt_state, x, rng):
    loss, grads = jax.value_and_grad(lambda p: model.apply({"params": p}, x, rng).mean())(params)
    updates, opt_state = tx.update(grads, opt_state)
    return optax.apply_updates(params, updates), opt_state, loss

  order, losses = np.asarray(jax.random.permutation(data_key, len(train))), []
  for i in range(steps):
    batch = train[np.take(order, range(i * BATCH, (i + 1) * BATCH), mode="wrap")]
    params, opt_state, loss = step(params, opt_state, batch, jax.random.fold_in(train_key, i))
    losses.append(float(loss))
    if (i + 1) % max(1, steps // 10) == 0:
      print(f"step {i + 1}: loss {np.mean(losses[-50:]):.2f} nats")
  means = model.apply({"params": params}, test, method=lambda m, x: m.encoder(x)[0])
  units, _ = active_units(np.asarray(means))
  print(f"active units: {units} of {LATENT}")
  samples = model.apply({"params": params}, sample_key, 64, method="sample")
  print(f"wrote {save_image_grid(out, np.asarray(samples), 8, 2)}")
  return {"losses": losses, "active_units": units, "model": model, "params": params}


if __name__ == "__main__":
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--steps", type=int, default=1500)
  parser.add_argument("--out", default="own_networks_samples.png")
  args = parser.parse_args()
  main(args.steps, args.out)
