"""Shapes of both architectures at MNIST and CelebA sizes, and the log-variance bound."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vampjax.networks import Decoder, Encoder, bounded_logvar


@pytest.mark.parametrize("residual", [False, True])
@pytest.mark.parametrize("image_shape", [(32, 32, 1), (64, 64, 3), (48, 32, 2)])
def test_encoder_decoder_shapes(residual, image_shape):
  x = jnp.zeros((2, *image_shape))
  encoder, decoder = Encoder(7, residual), Decoder(image_shape, residual)
  (mu, logvar), _ = jax.eval_shape(encoder.init_with_output, jax.random.key(0), x)
  assert mu.shape == logvar.shape == (2, 7)
  logits, params = jax.eval_shape(decoder.init_with_output, jax.random.key(0), jnp.zeros((2, 7)))
  assert logits.shape == (2, *image_shape)
  # The residual variant has a ResBlock after each of the 4 encoder convs and 3 between
  # the 4 decoder upsamplings; the plain one has none.
  enc_params = jax.eval_shape(encoder.init, jax.random.key(0), x)["params"]
  assert sum(name.startswith("ResBlock") for name in enc_params) == (4 if residual else 0)
  assert sum(name.startswith("ResBlock") for name in params["params"]) == (3 if residual else 0)


def test_conv_encoder_layers_follow_the_study():
  params = Encoder(40).init(jax.random.key(0), jnp.zeros((1, 32, 32, 1)))["params"]
  kernels = [params[f"Conv2xDown_{i}"]["kernel"].shape for i in range(4)]
  assert kernels == [(4, 4, 1, 32), (4, 4, 32, 64), (4, 4, 64, 128), (4, 4, 128, 256)]
  assert params["mu"]["kernel"].shape == (256 * 2 * 2, 40)


def test_bounded_logvar_is_bounded_smooth_and_zero_at_zero():
  h = jnp.array([-1e4, -10.0, 0.0, 10.0, 1e4])
  out = bounded_logvar(h, -6.0, 2.0)
  assert np.all(np.asarray(out) >= -6.0) and np.all(np.asarray(out) <= 2.0)
  np.testing.assert_allclose(out[2], 0.0, atol=1e-6)
  assert np.all(np.diff(np.asarray(out)) >= 0)
  assert jax.grad(lambda v: bounded_logvar(v, -6.0, 2.0))(5.0) > 0
