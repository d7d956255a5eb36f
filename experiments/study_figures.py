"""Figures 1–7 of the study, redrawn from our runs of one table (small PNGs next to it).

  Table 1: Fig 1 MNIST loss curves, Fig 4 MNIST data / samples, Fig 7 pseudo-inputs.
  Tables 2, 3: Fig 2 total loss, Fig 3 KL share, Fig 5 reconstructions (CelebA originals
  are not drawn: the dataset licence keeps them out of the repository), Fig 6 samples,
  Fig 7 pseudo-inputs and their decodings.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=wrong-import-position
import numpy as np  # pylint: disable=wrong-import-position
from PIL import Image  # pylint: disable=wrong-import-position

from vampjax import figures  # pylint: disable=wrong-import-position
from vampjax.data import pipeline  # pylint: disable=wrong-import-position
from vampjax.state import restore_model, rng_streams  # pylint: disable=wrong-import-position
from vampjax.vae import pseudo_input_images  # pylint: disable=wrong-import-position
from vampjax.workdir import METRICS_FILE  # pylint: disable=wrong-import-position

DPI = 80
LEGEND_STYLE = {"fontsize": 7, "frameon": False}  # the curves' legend, as drawn and measured
COLUMNS = 8
MAX_BYTES = 190_000  # figures are committed: keep each PNG under 200 KB


def _save(fig: Any, path: str) -> str:
  """Saves; a PNG over MAX_BYTES (noisy images compress badly) is re-saved with a 64-colour
  palette, then at half size, until it fits."""
  fig.savefig(path, dpi=DPI)
  plt.close(fig)
  image = Image.open(path).convert("RGB")
  colors = 256
  while os.path.getsize(path) > MAX_BYTES and image.width > 64:
    if colors > 64:
      colors = 64
    else:
      image = image.resize((image.width // 2, image.height // 2), Image.LANCZOS)
    image.quantize(colors).save(path, optimize=True)
  return path


def _epochs(step: int, result: Any) -> float:
  return step * result.plan.config.batch_size / result.plan.train_size


def _final(results: list[Any], study_only: bool = True) -> list[Any]:
  """One result per run (its last checkpoint), the study's rows unless asked otherwise."""
  return [r for r in results if r.step == r.plan.total_steps and not (study_only and r.row.extra)]


def curves(result: Any, split: str) -> list[dict[str, float]]:
  """`split`'s logged lines of the row's run (of its record when it comes from one)."""
  if result.record is not None:
    return result.record["curves"].get(split, [])
  path = os.path.join(result.plan.workdir, METRICS_FILE)
  return figures.read_metrics(path).get(split, []) if os.path.exists(path) else []


def legend_columns(fig: plt.Figure, legend: dict[str, Any], most: int) -> int:
  """The most columns, up to `most`, whose legend of `legend` fits the figure's width (long
  labels side by side would be cut at its edges)."""
  renderer = fig.canvas.get_renderer()
  for columns in range(most, 1, -1):
    trial = fig.legend(legend.values(), legend.keys(), ncol=columns, **LEGEND_STYLE)
    fits = trial.get_window_extent(renderer).width <= fig.bbox.width
    trial.remove()
    if fits:
      return columns
  return 1


def plot_curves(results: list[Any], panels: list[tuple[str, tuple[str, ...]]], title: str,
                path: str, split: str = "train", from_epoch: tuple[float, ...] = ()) -> str:
  """Saves `curves_figure` at `path`; returns it."""
  return _save(curves_figure(results, panels, title, split, from_epoch), path)


def curves_figure(results: list[Any], panels: list[tuple[str, tuple[str, ...]]], title: str,
                  split: str = "train", from_epoch: tuple[float, ...] = ()) -> plt.Figure:
  """One panel per (title, metrics) of `split`'s lines over epochs, one colour per run, one
  style per metric (—, --, :, for the panel's title to name); panel i starts at epoch
  from_epoch[i] (default: the first record). One legend of the runs for all panels, below
  them, so that it hides no curve."""
  fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.2), dpi=DPI,
                           squeeze=False)
  legend: dict[str, Any] = {}
  starts = list(from_epoch) + [0.0] * (len(panels) - len(from_epoch))
  for ax, (panel, names), start in zip(axes[0], panels, starts):
    for i, result in enumerate(results):
      records = [r for r in curves(result, split) if _epochs(r["step"], result) >= start]
      x = [_epochs(r["step"], result) for r in records]
      for style, name in zip(("-", "--", ":"), names):
        line, = ax.plot(x, [r[name] for r in records], style, color=f"C{i}")
        legend.setdefault(result.row.label, line)  # the first metric's: a solid line
    ax.set_title(panel)
    ax.set_xlabel("epoch")
    ax.grid(alpha=0.3)
  columns = legend_columns(fig, legend, min(len(panels), 2))
  legend_height = 0.17 * -(-len(legend) // columns) + 0.1  # inches: one line per row of labels
  fig.set_size_inches(fig.get_figwidth(), fig.get_figheight() + legend_height)
  fig.legend(legend.values(), legend.keys(), loc="lower center", ncol=columns, **LEGEND_STYLE)
  fig.suptitle(title, fontsize=10)
  fig.tight_layout(rect=(0, legend_height / fig.get_figheight(), 1, 1))
  return fig


def restored(result: Any) -> tuple[Any, Any]:
  """The model and the parameters of the checkpoint the row's metrics were computed on."""
  model, state = restore_model(result.plan.config, result.plan.workdir, result.step,
                               best=result.metrics["settings"]["best"])
  return model, state.params


def pseudo_input_pixels(result: Any, model_params: tuple[Any, Any] | None = None
                        ) -> np.ndarray | None:
  """All K pseudo-inputs of a VampPrior run as pixel values in [0, 1]; None for other priors.
  `model_params`: `restored(result)` when the caller has it already."""
  model, params = model_params or restored(result)
  return np.asarray(pseudo_input_images(model, params)) if model.is_vamp else None


def model_images(result: Any, num: int, model_params: tuple[Any, Any] | None = None
                 ) -> dict[str, np.ndarray]:
  """Test images, their reconstructions, 2·num prior samples, pseudo-inputs and their
  decodings, from the checkpoint the row's metrics were computed on (`model_params` as in
  `pseudo_input_pixels`)."""
  config = result.plan.config
  model, params = model_params or restored(result)
  test = result.plan.dataset.test[:num]
  inputs = pipeline.to_float(np.asarray(test))
  reconstruct = jax.jit(lambda p, x: model.apply({"params": p}, x, method="reconstruct"))
  rng = rng_streams(config.seed)["sample"]
  out = {"data": inputs, "reconstructions": np.asarray(reconstruct(params, inputs)),
         "samples": np.asarray(jax.jit(lambda p: model.apply(
             {"params": p}, rng, 2 * num, method="sample"))(params))}
  if model.is_vamp:
    pseudo = np.asarray(pseudo_input_images(model, params))[:num]
    out["pseudo"] = pseudo
    out["pseudo_decoded"] = np.asarray(reconstruct(params, pseudo))
  return out


def plot_grids(panels: list[tuple[str, np.ndarray]], title: str, path: str) -> str:
  """Image grids stacked vertically, each with its caption."""
  grids = [figures.image_grid(images, COLUMNS) for _, images in panels]
  height = sum(g.shape[0] for g in grids)
  width = grids[0].shape[1]
  scale = figures.image_scale(panels[0][1].shape[1]) / DPI  # inches per pixel: native 64 px
  fig, axes = plt.subplots(len(grids), 1, dpi=DPI, squeeze=False, figsize=(
      max(3.0, width * scale), height * scale + 0.45 * len(grids) + 0.3),
      gridspec_kw={"height_ratios": [g.shape[0] for g in grids]})
  for ax, (caption, _), grid in zip(axes[:, 0], panels, grids):
    grid = np.clip(grid, 0.0, 1.0)
    ax.imshow(grid[..., 0] if grid.shape[-1] == 1 else grid, cmap="gray", vmin=0, vmax=1,
              interpolation="nearest")
    ax.set_title(caption, fontsize=8)
    ax.axis("off")
  fig.suptitle(title, fontsize=10)
  fig.tight_layout(rect=(0, 0, 1, 1 - 0.3 / fig.get_figheight()))  # 0.3 in for the title
  return _save(fig, path)


def write(table: int, results: list[Any], out_dir: str) -> list[str]:
  """The table's figures as `table<N>_fig<M>_<what>.png` in `out_dir`; returns their paths."""
  os.makedirs(out_dir, exist_ok=True)
  name = lambda fig, what: os.path.join(out_dir, f"table{table}_fig{fig}_{what}.png")
  runs = _final(results)
  paths = []
  if table == 1:
    paths.append(plot_curves(runs, [("total loss", ("loss",)),
                                    ("reconstruction (—) vs KL (--)", ("reconstruction", "kl")),
                                    ("KL share β·KL / loss", ("kl_share",))],
                             "Fig. 1: MNIST training curves", name(1, "mnist_loss")))
  else:
    paths.append(plot_curves(runs, [("total loss", ("loss",))],
                             "Fig. 2: CelebA total loss", name(2, "celeba_loss")))
    paths.append(plot_curves(runs, [("KL share β·KL / loss", ("kl_share",))],
                             "Fig. 3: KL ratio", name(3, "kl_ratio")))
  # Table 1's extra rows (other likelihoods) are drawn too: one line of samples per row.
  images = [(r, model_images(r, COLUMNS)) for r in results if table == 1 or not r.row.extra]
  if table == 1:
    data_panel = [("MNIST test data", images[0][1]["data"])]
    paths.append(plot_grids(data_panel + [(f"{r.row.label}: prior samples",
                                           im["samples"][:COLUMNS]) for r, im in images],
                            "Fig. 4: MNIST data and samples", name(4, "mnist_samples")))
  else:  # CelebA's licence: its images are not copied into the repository, only model outputs
    paths.append(plot_grids([(f"{r.row.label}: reconstructions of the first {COLUMNS} test "
                              "images", im["reconstructions"]) for r, im in images],
                            "Fig. 5: CelebA reconstructions (originals not drawn: CelebA "
                            "images stay out of the repository)", name(5, "reconstructions")))
    paths.append(plot_grids([(f"{r.row.label}: prior samples", im["samples"])
                             for r, im in images],
                            "Fig. 6: CelebA random samples", name(6, "samples")))
  pseudo = [p for r, im in images if "pseudo" in im
            for p in ((f"{r.row.label}: pseudo-inputs", im["pseudo"]),
                      (f"{r.row.label}: their decodings", im["pseudo_decoded"]))]
  if pseudo:
    paths.append(plot_grids(pseudo, "Fig. 7: pseudo-inputs and decodings", name(7, "pseudo")))
  return paths
