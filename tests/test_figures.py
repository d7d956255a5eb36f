"""Every figure is a valid PNG of the expected pixel size."""

import json
import types

import jax
import numpy as np
from PIL import Image

from conftest import tiny_config
from vampjax import figures
from vampjax.state import create_train_state
from vampjax.models import build_model

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_size(path):
  with open(path, "rb") as f:
    assert f.read(8) == PNG_SIGNATURE
  with Image.open(path) as image:
    image.verify()
  with Image.open(path) as image:
    return image.size  # (width, height)


def _write_metrics(workdir):
  with open(workdir / "metrics.jsonl", "w") as f:
    for step in range(10, 101, 10):
      for split in ("train",) + (("test",) if step % 50 == 0 else ()):
        loss = 100.0 / step + 20
        f.write(json.dumps({"step": step, "split": split, "loss": loss, "reconstruction": 18.0,
                            "kl": loss - 18.0, "kl_share": (loss - 18.0) / loss,
                            "beta": 1.0}) + "\n")


def test_plots(tmp_path):
  _write_metrics(tmp_path)
  path = figures.plot_loss_curves(str(tmp_path / "metrics.jsonl"), str(tmp_path / "loss.png"))
  assert _png_size(path) == (1300, 360)
  path = figures.plot_posterior_variance(np.geomspace(1e-5, 2.0, 40), 0.01,
                                         str(tmp_path / "au.png"))
  assert _png_size(path) == (640, 360)


def test_image_grids_have_expected_sizes():
  pairs = figures.paired_rows(np.zeros((10, 4, 4, 1)), np.ones((10, 4, 4, 1)), columns=8)
  assert pairs.shape == (32, 4, 4, 1)  # 4 rows of 8: the short rows are padded
  np.testing.assert_array_equal(pairs[:8, 0, 0, 0], 0.0)
  np.testing.assert_array_equal(pairs[8:16, 0, 0, 0], 1.0)  # row 2 holds the bottoms of row 1
  np.testing.assert_array_equal(pairs[16:18, 0, 0, 0], 0.0)


def test_write_figures(tmp_path):
  config = tiny_config(pseudo_init="random", decoder_bias_init="zero")
  model = build_model(config)
  params = create_train_state(config, model, jax.random.key(0)).params
  _write_metrics(tmp_path)
  images = (np.random.default_rng(0).random((10, 32, 32, 1)) * 255).astype(np.uint8)
  paths = figures.write_figures(model, params, config, str(tmp_path), images,
                                np.linspace(0, 1, 8), jax.random.key(1))
  names = sorted(p.split("/")[-1] for p in paths)
  assert names == ["active_units.png", "loss_curves.png", "prior_samples.png",
                   "pseudo_inputs.png", "reconstructions.png"]
  sizes = {p.split("/")[-1]: _png_size(p) for p in paths}
  cell = 32 + 2  # image + padding, then ×2 upscaling for 32 px images
  grid_width = (8 * cell + 2) * 2  # the paired figures have their row labels left of it
  assert sizes["reconstructions.png"][1] == (4 * cell + 2) * 2  # 10 pairs: 4 rows
  assert sizes["pseudo_inputs.png"][1] == (2 * cell + 2) * 2    # K = 8: 2 rows
  assert sizes["reconstructions.png"][0] > grid_width and sizes["pseudo_inputs.png"][0] > grid_width
  assert sizes["prior_samples.png"] == ((4 * cell + 2) * 2, (1 * cell + 2) * 2)    # 4 samples
  assert sizes["loss_curves.png"] == (1300, 360)


def test_share_panel_falls_back_to_the_kl_when_a_loss_is_negative():
  positive = {"train": [{"loss": 30.0, "kl": 3.0}], "test": [{"loss": 25.0, "kl": 2.0}]}
  assert figures.share_panel(positive)[1] == "kl_share"
  negative = {"train": [{"loss": 30.0, "kl": 3.0}], "test": [{"loss": -200.0, "kl": 30.0}]}
  assert figures.share_panel(negative)[1] == "kl"


def test_row_labels_sit_in_a_margin_left_of_the_unchanged_grid(tmp_path):
  """Labels cycle over the rows, each beside its row, and leave the images' pixels as they
  are without labels."""
  images = np.random.default_rng(0).random((12, 8, 8, 1))
  plain = np.asarray(Image.open(figures.save_image_grid(str(tmp_path / "a.png"), images, 4, 3)))
  labelled = np.asarray(Image.open(figures.save_image_grid(str(tmp_path / "b.png"), images, 4, 3,
                                                           ("top", "bottom"))))
  margin = labelled.shape[1] - plain.shape[1]
  assert margin > 0 and labelled.shape[0] == plain.shape[0]
  np.testing.assert_array_equal(labelled[:, margin:], plain)
  ink = labelled[:, :margin] < 128  # the labels' dark pixels
  row_of = lambda y: (y - 3 * figures.GRID_PADDING) // ((8 + figures.GRID_PADDING) * 3)
  rows_with_ink = {int(row_of(y)) for y in np.nonzero(ink.any(axis=1))[0]}
  assert rows_with_ink == {0, 1, 2}  # one label beside each of the three rows
  starts = [np.nonzero(ink[row_of(np.arange(len(ink))) == r].any(axis=0))[0] for r in range(3)]
  # right-aligned: the shorter "top" starts right of "bottom"; row 3 is "top" again
  assert starts[0].min() > starts[1].min() and starts[2].min() == starts[0].min()


def curve_results(labels: list[str]) -> list[types.SimpleNamespace]:
  """Runs as the curve figures read them: a label, a record's validation lines, a plan."""
  plan = types.SimpleNamespace(config=types.SimpleNamespace(batch_size=100), train_size=50_000)
  return [types.SimpleNamespace(
      row=types.SimpleNamespace(label=label), plan=plan,
      record={"curves": {"validation": [{"step": 500 * e, "loss": 100.0 - e - i}
                                        for e in range(1, 6)]}}) for i, label in enumerate(labels)]


def test_curve_legend_fits_the_figure_in_one_column_when_two_would_be_cut():
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
  from experiments import study_figures  # pylint: disable=import-outside-toplevel
  panels = [("all", ("loss",)), ("later", ("loss",))]
  long = [f"VampPrior, K = 500, pseudo-inputs started at training images and learned {i}"
          for i in range(5)]
  for labels, columns in (([f"run {i}" for i in range(5)], 2), (long, 1)):
    fig = study_figures.curves_figure(curve_results(labels), panels, "t", "validation")
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == labels
    assert legend.get_window_extent(fig.canvas.get_renderer()).width <= fig.bbox.width
    assert study_figures.legend_columns(fig, dict(zip(labels, legend.legend_handles)), 2) == columns
    plt.close(fig)
  # What the one column avoids: the long labels side by side are wider than the figure.
  fig = study_figures.curves_figure(curve_results(long), panels, "t", "validation")
  wide = fig.legend(fig.legends[0].legend_handles, long, ncol=2, **study_figures.LEGEND_STYLE)
  assert wide.get_window_extent(fig.canvas.get_renderer()).width > fig.bbox.width
  plt.close(fig)
