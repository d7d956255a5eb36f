"""Per-image MSE, PSNR and SSIM of reconstructions, via dm-pix. Images NHWC in [0, 1]."""

from __future__ import annotations

import dm_pix as pix
import jax
import jax.numpy as jnp


def image_quality(images: jax.Array, reconstructions: jax.Array) -> dict[str, jax.Array]:
  """{"mse", "psnr", "ssim"}, each (N,): one value per image, to be averaged over a test set.

  PSNR (dB) uses a peak of 1; it is +inf for identical images. SSIM uses dm-pix's
  defaults (11×11 Gaussian window, σ = 1.5).
  """
  images = images.astype(jnp.float32)
  reconstructions = reconstructions.astype(jnp.float32)
  return {
      "mse": pix.mse(images, reconstructions),
      "psnr": pix.psnr(images, reconstructions),
      "ssim": pix.ssim(images, reconstructions, max_val=1.0),
  }
