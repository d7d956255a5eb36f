"""The paper report's figures and their sections: each model's validation −ELBO curve and
samples of every model from its evaluated checkpoint.

A figure with nothing to draw is not written, and an older file of that name is removed: it
would show other runs than the report's.
"""

from __future__ import annotations

import os

from experiments import study_figures
from experiments.run import RowResult


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


def samples_section(results: list[RowResult], path: str) -> list[str]:
  """Test images, then each paper row's prior samples and, for a VampPrior, its pseudo-inputs
  and their decodings, all from the evaluated checkpoint (extra rows left out, unless the
  report has no other; rows from records have no weights to draw with)."""
  live = [r for r in results if r.record is None]
  drawn = [r for r in live if not r.row.extra] or live
  if not drawn:
    _drop_stale(path)
    return []
  images = [(r, study_figures.model_images(r, study_figures.COLUMNS)) for r in drawn]
  panels = [("binarized test images", images[0][1]["data"])]
  for r, im in images:
    panels.append((f"{r.row.label}: prior samples (pixel means)", im["samples"]))
    if "pseudo" in im:
      panels += [(f"{r.row.label}: pseudo-inputs", im["pseudo"]),
                 (f"{r.row.label}: their decodings", im["pseudo_decoded"])]
  figure = study_figures.plot_grids(panels, "Samples of the evaluated checkpoints", path)
  return ["## Samples", "", f"![samples]({os.path.basename(figure)})", ""]
