"""The paper report's figures and their sections: each model's validation −ELBO curve and
samples of every model from its evaluated checkpoint (kept beside the row's record, so a
report written again from records still shows them).

A figure with nothing to draw is not written, and an older file of that name is removed: it
would show other runs than the report's.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from experiments import records, study_figures
from experiments.run import RowResult
from vampjax.data import pipeline


def _drop_stale(path: str) -> None:
  if os.path.exists(path):
    os.remove(path)


def validation_section(results: list[RowResult], panel: str, warmup: float,
                       path: str) -> list[str]:
  """The curves of every row whose run (or record) logged validation lines, over all epochs
  and after the KL warm-up; the rows with none are named (a record re-entered by hand from a
  report keeps no curve, a run shorter than an epoch logs none)."""
  logged = [bool(study_figures.curves(r, "validation")) for r in results]
  drawn = [r for r, has in zip(results, logged) if has]
  missing = [r.row.label for r, has in zip(results, logged) if not has]
  lines = ["## Validation curves", ""]
  if drawn:
    figure = study_figures.plot_curves(
        drawn, [(panel, ("loss",)), (f"after the KL warm-up (epoch ≥ {warmup:g})", ("loss",))],
        "Validation −ELBO (β = 1, nats) per epoch, each model's first seed", path,
        split="validation", from_epoch=(0.0, warmup))
    lines += [f"![validation −ELBO]({os.path.basename(figure)})", ""]
  else:
    _drop_stale(path)
  if missing:
    lines += ["No validation line in the run or record of: " + "; ".join(missing) + ".", ""]
  return lines


IMAGES = ("samples", "pseudo", "pseudo_decoded")  # kept per row; the test images are shared


def keep_images(result: RowResult, records_dir: str,
                model_params: tuple[Any, Any] | None = None) -> None:
  """Draws the evaluated checkpoint's prior samples (and a VampPrior's pseudo-inputs and
  their decodings) and keeps them beside the row's record for `samples_section`."""
  images = study_figures.model_images(result, study_figures.COLUMNS, model_params)
  records.write_images(records_dir, result.row.key, result.seed,
                       {k: v for k, v in images.items() if k in IMAGES})


def samples_section(results: list[RowResult], records_dir: str, path: str) -> list[str]:
  """Test images, then each paper row's prior samples and, for a VampPrior, its pseudo-inputs
  and their decodings: the images kept for its first seed that has them (extra rows left
  out, unless no other row has images); the rows left without images are named."""
  kept: dict[str, tuple[RowResult, dict[str, np.ndarray]]] = {}
  for r in results:
    if r.row.key not in kept and (im := records.read_images(records_dir, r.row.key, r.seed)):
      kept[r.row.key] = (r, im)
  extras = all(r.row.extra for r, _ in kept.values())
  shown = [r for r in results if extras or not r.row.extra]
  drawn = [kept[key] for key in dict.fromkeys(r.row.key for r in shown) if key in kept]
  missing = list(dict.fromkeys(r.row.label for r in shown if r.row.key not in kept))
  named = (["No samples of: " + "; ".join(missing) + " (rows from records written before "
            "records kept their images).", ""] if missing else [])
  if not drawn:
    _drop_stale(path)
    return ["## Samples", "", *named] if named else []
  test = results[0].plan.dataset.test[:study_figures.COLUMNS]
  panels = [("binarized test images", pipeline.to_float(np.asarray(test)))]
  for r, im in drawn:
    panels.append((f"{r.row.label}: prior samples (pixel means)", im["samples"]))
    if "pseudo" in im:
      panels += [(f"{r.row.label}: pseudo-inputs", im["pseudo"]),
                 (f"{r.row.label}: their decodings", im["pseudo_decoded"])]
  figure = study_figures.plot_grids(panels, "Samples of the evaluated checkpoints", path)
  return ["## Samples", "", f"![samples]({os.path.basename(figure)})", "", *named]
