"""vampjax's Flax parameters in PyTorch's layouts, with numpy only (no torch needed).

`benchmarks/torch_vae.py` names its modules after the Flax ones (`encoder.Conv2xDown_0`,
`decoder.ResBlock_1.Conv3x3_0`, ...), so a parameter's PyTorch name is its Flax path with
`kernel` read as `weight`; only the layout differs:

- a conv kernel is HWIO in Flax and OIHW in PyTorch. A `ConvTranspose2x` kernel is the
  HWIO kernel of the strided conv it transposes, and PyTorch's ConvTranspose2d weight
  (C_in, C_out, kH, kW) is the OIHW weight of that same conv: the same transpose;
- a dense kernel is (in, out), a PyTorch weight (out, in);
- images are NHWC in Flax and NCHW in PyTorch, so the dense layers next to a flatten (the
  encoder's μ and log σ² heads, the decoder's first layer) see their features in another
  order: (h, w, c) against (c, h, w);
- the pseudo-inputs (their logits or pixels) are images: (K, H, W, C) -> (K, C, H, W).

The paper's gated models (gated_mlp, hvae_mlp, hvae_conv) need no reordering: their
PyTorch modules flatten and unflatten pixels and the convHVAE's feature maps in vampjax's
(h, w, c) order (torch_vae.flat_pixels, pixel_map), so every dense kernel is only
transposed and every conv kernel, the convHVAE's gated ones and its 1×1 `logits`, only
moved to OIHW.
"""

from __future__ import annotations

from typing import Any

import numpy as np

FLATTENED_INPUT = ("encoder.mu", "encoder.logvar")  # dense layers that read a flattened map
UNFLATTENED_OUTPUT = ("decoder.Dense_0",)  # the dense layer whose output becomes a map
PSEUDO_INPUTS = ("pseudo_logits", "pseudo_pixels")  # a VampPrior's stored pseudo-inputs


def conv_kernel(kernel: np.ndarray) -> np.ndarray:
  """HWIO -> OIHW (Conv2d), and a transposed conv's kernel -> its ConvTranspose2d weight."""
  return kernel.transpose(3, 2, 0, 1)


def images(x: np.ndarray) -> np.ndarray:
  """NHWC -> NCHW."""
  return x.transpose(0, 3, 1, 2)


def dense_from_map(kernel: np.ndarray, map_shape: tuple[int, int, int]) -> np.ndarray:
  """A dense kernel (H·W·C, out) that reads a flattened (H, W, C) map -> the Linear weight
  (out, C·H·W) that reads the same map flattened as (C, H, W)."""
  h, w, c = map_shape
  return kernel.reshape(h, w, c, -1).transpose(2, 0, 1, 3).reshape(h * w * c, -1).T


def dense_to_map(kernel: np.ndarray, bias: np.ndarray, map_shape: tuple[int, int, int]
                 ) -> tuple[np.ndarray, np.ndarray]:
  """A dense kernel (in, H·W·C) and bias whose output is reshaped to (H, W, C) -> the Linear
  weight (C·H·W, in) and bias whose output is viewed as (C, H, W)."""
  h, w, c = map_shape
  kernel = kernel.reshape(-1, h, w, c).transpose(0, 3, 1, 2).reshape(kernel.shape[0], -1)
  return kernel.T, bias.reshape(h, w, c).transpose(2, 0, 1).reshape(-1)


def state_dict(params: Any, map_shape: tuple[int, int, int] | None
               ) -> dict[str, np.ndarray]:
  """PyTorch's state dict (name -> array) of `torch_vae.VAE` from vampjax's VAE params.

  map_shape: the feature map between the encoder's convs and its dense heads, which is
  also the decoder's first map: (H/16, W/16, 256) for the study's nets; None for the
  paper's gated models, whose PyTorch twins flatten in vampjax's order.
  """
  out = {}

  def visit(tree, path):
    if "output_bias" in tree:  # (H, W, C) -> (C, H, W)
      out[".".join(path + ("output_bias",))] = np.transpose(np.asarray(tree["output_bias"]),
                                                            (2, 0, 1))
    pseudo = next((name for name in PSEUDO_INPUTS if name in tree), None)
    if "kernel" not in tree and pseudo is None:
      for name, child in tree.items():
        if name == "output_bias":
          continue
        visit(child, path + (name,))
      return
    prefix = ".".join(path)
    if pseudo is not None:
      out[f"{prefix}.{pseudo}"] = images(np.asarray(tree[pseudo]))
      return
    kernel, bias = np.asarray(tree["kernel"]), np.asarray(tree["bias"])
    if kernel.ndim == 4:
      kernel = conv_kernel(kernel)
    elif map_shape is not None and prefix in FLATTENED_INPUT:
      kernel = dense_from_map(kernel, map_shape)
    elif map_shape is not None and prefix in UNFLATTENED_OUTPUT:
      kernel, bias = dense_to_map(kernel, bias, map_shape)
    else:
      kernel = kernel.T
    out[f"{prefix}.weight"], out[f"{prefix}.bias"] = kernel, bias

  visit(params, ())
  return out
