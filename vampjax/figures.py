"""Image grids and plots, written as PNG files.

Plots read only files (`metrics.jsonl`, `eval.json`); image figures need a restored model.
Plot sizes are fixed (figsize × dpi, no tight bounding box) so that they are predictable.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np
from PIL import Image, ImageDraw, ImageFont  # pylint: disable=wrong-import-position

from vampjax import jsonio  # pylint: disable=wrong-import-position

GRID_PADDING = 2       # px between and around the images of a grid
LABEL_FONT_SIZE = 14   # px, the row labels of a grid
LABEL_PADDING = 6      # px either side of a row label
# Said wherever such a number is shown (the loss figure, the eval table, the end of a run).
NEGATIVE_NOTE = ("a continuous likelihood's −log p(x) can be negative: a density, not a "
                 "probability")


def image_grid(images: np.ndarray, columns: int | None = None,
               padding: int = GRID_PADDING) -> np.ndarray:
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


def save_image_grid(path: str, images: np.ndarray, columns: int | None = None,
                    scale: int = 1, row_labels: Sequence[str] = ()) -> str:
  """Writes the grid of `images` to a PNG at `path` (scale × scale PNG pixels per pixel);
  `row_labels`, cycled over the grid's rows, go in a white margin on its left."""
  images = np.asarray(images, np.float32)
  grid = np.clip(image_grid(images, columns), 0.0, 1.0)
  if scale > 1:
    grid = np.repeat(np.repeat(grid, scale, axis=0), scale, axis=1)
  grid = np.round(grid * 255).astype(np.uint8)
  image = Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid)
  if row_labels:
    image = _with_row_labels(image, row_labels, images.shape[1] * scale, GRID_PADDING * scale)
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with jsonio.atomic_path(path) as tmp:  # never half a PNG, even on Ctrl-C
    image.save(tmp, format="png")
  return path


def _with_row_labels(grid: Image.Image, labels: Sequence[str], height: int,
                     padding: int) -> Image.Image:
  """`grid` (rows of `height` px images, `padding` px apart) behind a left margin holding
  labels[i % len(labels)] beside its i-th row."""
  font = ImageFont.load_default(size=LABEL_FONT_SIZE)
  margin = max(int(font.getlength(label)) for label in labels) + 2 * LABEL_PADDING
  out = Image.new(grid.mode, (grid.width + margin, grid.height), "white")
  out.paste(grid, (margin, 0))
  draw = ImageDraw.Draw(out)
  for row in range((grid.height - padding) // (height + padding)):
    middle = padding + row * (height + padding) + height // 2
    draw.text((margin - LABEL_PADDING, middle), labels[row % len(labels)], fill="black",
              font=font, anchor="rm")
  return out


FIGURES_DIR = "figures"
RECONSTRUCTION_LABELS = ("test image", "reconstruction")  # the rows of reconstructions.png
PSEUDO_INPUT_LABELS = ("pseudo-input", "its decoding")    # the rows of pseudo_inputs.png
PLOT_DPI = 100
LOSS_FIGSIZE = (13.0, 3.6)      # inches: 1300 × 360 px at PLOT_DPI
VARIANCE_FIGSIZE = (6.4, 3.6)   # 640 × 360 px


def paired_rows(top: np.ndarray, bottom: np.ndarray, columns: int) -> np.ndarray:
  """Interleaves rows of `columns` images: top[0:c], bottom[0:c], top[c:2c], ...

  A short last row is padded with blank (white) cells so each bottom stays under its top.
  """
  rows = []
  for start in range(0, len(top), columns):
    for half in (top[start:start + columns], bottom[start:start + columns]):
      blank = np.ones((columns - len(half), *half.shape[1:]), np.asarray(half).dtype)
      rows += [np.asarray(half), blank]
  return np.concatenate(rows)


def read_metrics(path: str) -> dict[str, list[dict[str, float]]]:
  """metrics.jsonl records grouped by split ("train", "test"), each sorted by step."""
  by_split: dict[str, list[dict[str, float]]] = {}
  with open(path) as f:
    for line in f:
      if line.strip():
        record = json.loads(line)
        by_split.setdefault(record["split"], []).append(record)
  return {split: sorted(records, key=lambda r: r["step"]) for split, records in by_split.items()}


def share_panel(by_split: dict[str, list[dict[str, float]]]) -> tuple[str, str]:
  """(title, metric) of the third loss panel: the KL share β·KL / loss, or the KL itself
  when some loss is ≤ 0 (a continuous density's −log p(x|z) can be negative, and then the
  share means nothing)."""
  if all(r["loss"] > 0 for records in by_split.values() for r in records):
    return "KL share β·KL / loss", "kl_share"
  return "KL", "kl"


def plot_loss_curves(metrics_path: str, path: str) -> str:
  """The study's Figs. 1–3 for one run: total loss; reconstruction and KL; KL share.

  Train lines are per-batch values logged every few steps; test points are full
  evaluations of the test split.
  """
  by_split = read_metrics(metrics_path)
  third, third_key = share_panel(by_split)
  fig, axes = plt.subplots(1, 3, figsize=LOSS_FIGSIZE, dpi=PLOT_DPI)
  styles = {"train": dict(linestyle="-", alpha=0.8), "test": dict(linestyle="--", marker="o")}
  for split, records in by_split.items():
    steps = [r["step"] for r in records]
    style = styles.get(split, {})
    axes[0].plot(steps, [r["loss"] for r in records], label=split, color="C0", **style)
    axes[1].plot(steps, [r["reconstruction"] for r in records], label=f"reconstruction ({split})",
                 color="C1", **style)
    axes[1].plot(steps, [r["kl"] for r in records], label=f"KL ({split})", color="C2", **style)
    axes[2].plot(steps, [r[third_key] for r in records], label=split, color="C3", **style)
  for ax, title in zip(axes, ("total loss", "reconstruction and KL", third)):
    ax.set_title(title)
    ax.set_xlabel("step")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
  axes[0].set_ylabel("nats per image")
  negative = any(min(r["loss"], r["reconstruction"]) < 0
                 for records in by_split.values() for r in records)
  if negative:
    fig.text(0.5, 0.01, NEGATIVE_NOTE[0].upper() + NEGATIVE_NOTE[1:] + ".", ha="center",
             fontsize=8)
  fig.tight_layout(rect=(0, 0.05 if negative else 0, 1, 1))
  return _save(fig, path)


def plot_posterior_variance(variances: np.ndarray, threshold: float, path: str) -> str:
  """Var_x(E_q[z_d]) per latent unit, sorted, log scale, with the active-unit threshold."""
  variances = np.sort(np.asarray(variances, np.float64))[::-1]
  active = int(np.sum(variances > threshold))
  fig, ax = plt.subplots(figsize=VARIANCE_FIGSIZE, dpi=PLOT_DPI)
  colors = ["C0" if v > threshold else "C7" for v in variances]
  ax.bar(np.arange(len(variances)), np.maximum(variances, 1e-8), color=colors, width=0.9)
  ax.axhline(threshold, color="C3", linestyle="--", label=f"threshold {threshold:g}")
  ax.set_yscale("log")
  ax.set_xlabel("latent unit (sorted)")
  ax.set_ylabel("Var over test x of E_q[z_d]")
  ax.set_title(f"active units: {active}/{len(variances)}")
  ax.legend()
  fig.tight_layout()
  return _save(fig, path)


def _save(fig: Any, path: str) -> str:
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with jsonio.atomic_path(path) as tmp:
    fig.savefig(tmp, dpi=PLOT_DPI, format="png")
  plt.close(fig)
  return path


def image_scale(image_size: int) -> int:
  """Upsampling so that small images (MNIST's 32 px) stay legible: 64 px per image at least."""
  return max(1, 64 // image_size)


def write_figures(model: Any, params: Any, config: Any, workdir: str, test_images: np.ndarray,
                  variances: np.ndarray | None, rng: Any, num_images: int = 32,
                  columns: int = 8) -> list[str]:
  """All five figures of a run into `<workdir>/figures/`; returns their paths.

  Pseudo-inputs are drawn only for a VampPrior; the variance plot needs `variances`
  (from eval.json); the loss curves need metrics.jsonl.
  """
  import jax  # pylint: disable=import-outside-toplevel  (the plotting functions need no JAX)
  from vampjax.data import pipeline  # pylint: disable=import-outside-toplevel
  from vampjax.vae import pseudo_input_images  # pylint: disable=import-outside-toplevel
  from vampjax.workdir import METRICS_FILE  # pylint: disable=import-outside-toplevel

  out_dir = os.path.join(workdir, FIGURES_DIR)
  scale = image_scale(config.data.image_size)
  paths = []
  metrics_path = os.path.join(workdir, METRICS_FILE)
  if os.path.exists(metrics_path):
    paths.append(plot_loss_curves(metrics_path, os.path.join(out_dir, "loss_curves.png")))

  reconstruct = jax.jit(lambda p, x: model.apply({"params": p}, x, method="reconstruct"))
  inputs = np.asarray(test_images[:num_images])
  inputs = pipeline.to_float(inputs) if inputs.dtype == np.uint8 else inputs.astype(np.float32)
  reconstructions = np.asarray(reconstruct(params, inputs))
  paths.append(save_image_grid(os.path.join(out_dir, "reconstructions.png"),
                               paired_rows(inputs, reconstructions, columns), columns, scale,
                               RECONSTRUCTION_LABELS))

  samples = jax.jit(lambda p: model.apply({"params": p}, rng, config.num_samples,
                                          method="sample"))(params)
  paths.append(save_image_grid(os.path.join(out_dir, "prior_samples.png"),
                               np.asarray(samples), min(columns, len(samples)), scale))

  if model.is_vamp:
    pseudo = np.asarray(pseudo_input_images(model, params))[:num_images]
    decoded = np.asarray(reconstruct(params, pseudo))
    paths.append(save_image_grid(os.path.join(out_dir, "pseudo_inputs.png"),
                                 paired_rows(pseudo, decoded, columns), columns, scale,
                                 PSEUDO_INPUT_LABELS))

  if variances is not None:
    paths.append(plot_posterior_variance(variances, config.eval.au_threshold,
                                         os.path.join(out_dir, "active_units.png")))
  return paths
