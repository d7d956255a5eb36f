"""Image grids and plots, written as PNG files."""

from __future__ import annotations

import math
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np


def image_grid(images: np.ndarray, columns: int | None = None, padding: int = 2) -> np.ndarray:
  """Tiles (N, H, W, C) images in [0, 1] into one (rows·(H+p)+p, cols·(W+p)+p, C) image."""
  n, h, w, c = images.shape
  columns = columns or math.ceil(math.sqrt(n))
  rows = math.ceil(n / columns)
  grid = np.ones((rows * (h + padding) + padding, columns * (w + padding) + padding, c),
                 np.float32)
  for i, image in enumerate(images):
    r, col = divmod(i, columns)
    top, left = padding + r * (h + padding), padding + col * (w + padding)
    grid[top:top + h, left:left + w] = image
  return grid


def save_image_grid(path: str, images: np.ndarray, columns: int | None = None) -> str:
  """Writes the grid of `images` to a PNG at `path` (one image pixel per PNG pixel)."""
  grid = np.clip(image_grid(np.asarray(images, np.float32), columns), 0.0, 1.0)
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  if grid.shape[-1] == 1:
    plt.imsave(path, grid[..., 0], cmap="gray", vmin=0.0, vmax=1.0)
  else:
    plt.imsave(path, grid)
  return path
