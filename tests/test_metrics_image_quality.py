"""MSE, PSNR and SSIM of reconstructions (dm-pix)."""

import jax
import numpy as np

from vampjax.metrics import image_quality


def test_identical_images():
  x = jax.random.uniform(jax.random.key(0), (3, 32, 32, 1))
  out = image_quality.image_quality(x, x)
  np.testing.assert_allclose(out["mse"], 0.0, atol=1e-7)
  assert np.all(np.isinf(out["psnr"])) and np.all(np.asarray(out["psnr"]) > 0)
  np.testing.assert_allclose(out["ssim"], 1.0, atol=1e-5)


def test_noise_lowers_psnr_and_ssim():
  x = jax.random.uniform(jax.random.key(0), (2, 32, 32, 3))
  noise = jax.random.normal(jax.random.key(1), x.shape)
  small = image_quality.image_quality(x, x + 0.01 * noise)
  large = image_quality.image_quality(x, x + 0.1 * noise)
  assert small["mse"].shape == (2,)
  np.testing.assert_allclose(small["psnr"], -10 * np.log10(small["mse"]), rtol=1e-5)
  assert np.all(small["psnr"] > large["psnr"]) and np.all(small["ssim"] > large["ssim"])
