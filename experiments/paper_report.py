"""The markdown report of the VampPrior paper's MNIST benchmark: our test NLL of each model
beside the published figures, the table's claims decided from the numbers, the budget, the
commands, the validation −ELBO curves of every run and samples of every model."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from experiments import budgets as budgets_lib
from experiments import ablation, paper_figures, records, report, study_figures
from experiments import seeds as seeds_lib
from experiments.run import RowResult
from experiments.tables import CONFIDENCE, Claim, Table
from vampjax.data import pipeline

REPORT = "paper_mnist.md"
FIGURE = "paper_mnist_validation.png"
SAMPLES = "paper_mnist_samples.png"
NOT_QUOTED = ("The paper's own rows for dynamically binarized MNIST were not available "
              "offline to quote; the references below are the figures we have, each with its "
              "source.")
MNIST_DATA = ("mnist_binary: MNIST dynamically binarized for training (50 000 images), the "
              "original code's fixed binarization of the validation (10 000) and test "
              "(10 000) images")
FASHION_DATA = ("fashion_mnist_binary: Fashion-MNIST with the same protocol, dynamically "
                "binarized for training (the first 50 000 training images), the last 10 000 "
                "training images (validation) and the 10 000 test images binarized once with "
                "a fixed seed")
# Per table: (report file stem, data, validation images, what the references are).
OUTPUTS = {
    "paper": ("paper_mnist", MNIST_DATA, "10 000 mnist_binary validation images", NOT_QUOTED),
    "fashion": ("paper_fashion_mnist", FASHION_DATA,
                "10 000 fashion_mnist_binary validation images",
                "The VampPrior paper has no Fashion-MNIST row; the references are the "
                "Exemplar-VAE paper's dynamically binarized Fashion-MNIST figures."),
}


def output_names(table: Table) -> tuple[str, str, str]:
  """The report's, the validation figure's and the samples figure's file names."""
  stem = OUTPUTS[table.number][0]
  return f"{stem}.md", f"{stem}_validation.png", f"{stem}_samples.png"


def _epochs(result: RowResult, step: int) -> float:
  return step / max(1, result.plan.train_size // result.plan.config.batch_size)


def own_budget(result: RowResult, family: budgets_lib.FamilyBudget) -> str:
  """' (its own budget: ...)' for a row whose run has a smaller budget than the table's."""
  own = result.plan.family
  if own == family:
    return ""
  parts = [f"{own.epochs:g} epochs" if own.epochs != family.epochs else "",
           f"IS-NLL S = {own.is_samples} on "
           f"{'all' if own.is_examples < 0 else f'the first {own.is_examples}'} test images"
           if (own.is_samples, own.is_examples) != (family.is_samples, family.is_examples)
           else ""]
  parts = [part for part in parts if part]
  return f" (its own budget: {'; '.join(parts)})" if parts else ""


def results_table(results: list[RowResult], family: budgets_lib.FamilyBudget) -> list[str]:
  lines = ["| model | seed | test NLL (nats) | −ELBO (nats) | active units | epochs trained "
           "| best epoch (evaluated) | epoch time (median) | time in train steps "
           "| eval wall time |",
           "|---|---|---|---|---|---|---|---|---|---|"]
  for r in results:
    m, log = r.metrics, r.train_log
    stopped = " (early stop)" if log.get("stopped_early") else ""
    lines.append(
        f"| {r.row.label}{own_budget(r, family)} | {r.seed} "
        f"| {report.fmt(m.get('is_nll_nats'), 2)} "
        f"| {report.fmt(m['neg_elbo_nats'], 2)} | {report.au_text(m)} "
        f"| {_epochs(r, log.get('steps', r.plan.total_steps)):.0f}{stopped} "
        f"| {_epochs(r, r.step):.0f} (step {r.step}, "
        f"{'best validation' if m['settings'].get('best') else 'last'} checkpoint) "
        f"| {log['epoch_seconds']:.1f} s | {report.duration(log['step_seconds'])} "
        f"| {report.duration(m['eval_seconds'])} |")
  return lines


def first_seeds(results: list[RowResult]) -> list[RowResult]:
  """One result per row: its first seed's (the figures draw one run of each model)."""
  return list({r.row.key: r for r in reversed(results)}.values())[::-1]


def seeds_table(results: list[RowResult], spreads: dict[str, seeds_lib.Spread]) -> list[str]:
  """Each row's test NLL over its seeds: mean ± sample standard deviation, n, and each seed."""
  lines = ["| model | seeds | test NLL (nats), mean ± sd | each seed |", "|---|---|---|---|"]
  for r in first_seeds(results):
    if r.row.key not in spreads:
      continue
    runs = [x for x in results if x.row.key == r.row.key and "is_nll_nats" in x.metrics]
    each = ", ".join(f"{x.metrics['is_nll_nats']:.2f} (seed {x.seed})" for x in runs)
    lines.append(f"| {r.row.label} | {len(runs)} | {spreads[r.row.key].text()} | {each} |")
  return lines


def references_table(results: list[RowResult], spreads: dict[str, seeds_lib.Spread]
                     ) -> list[str]:
  lines = ["| model | reference | its test NLL (nats) | ours (mean over seeds) − reference |",
           "|---|---|---|---|"]
  firsts = first_seeds(results)
  for r in firsts:
    ours = spreads.get(r.row.key)
    for source, nll in r.row.references:
      gap = "—" if ours is None else f"{ours.mean - nll:+.2f}"
      lines.append(f"| {r.row.label} | {source} | {nll:.2f} | {gap} |")
  sources = dict.fromkeys(s for r in firsts for s, _ in r.row.references)
  if sources:
    lines += ["", "How sure we are of each reference:", "",
              *(f"- {source}: {CONFIDENCE[source]}." for source in sources)]
  return lines


def claim_line(claim: Claim, labels: dict[str, str],
               spreads: dict[str, seeds_lib.Spread]) -> str | None:
  """'**statement: holds | does not hold | undecided**' from the rows' mean test NLLs and
  their seeds' pooled standard deviation (`seeds.decide`); None when a row is missing."""
  (comp,) = claim.comparisons
  if comp.left not in spreads or comp.right not in spreads:
    return None
  left, right = spreads[comp.left], spreads[comp.right]
  decision = seeds_lib.decide(comp.relation, left, right)
  numbers = (f"{labels[comp.left]} {left.text()} vs {labels[comp.right]} {right.text()} "
             "nats")
  if decision.pooled_sd is None:
    why = seeds_lib.one_seed_text({labels[comp.left]: left, labels[comp.right]: right})
  else:
    why = f"twice the pooled standard deviation: {2 * decision.pooled_sd:.2f}"
  if decision.verdict == "undecided":
    return (f"- **{claim.statement}: undecided** — {numbers} (apart by {decision.gap:.2f}, "
            f"under {why}).")
  ahead = "ahead" if decision.verdict == "holds" else "behind"
  return (f"- **{claim.statement}: {decision.verdict}** — {numbers} ({ahead} by "
          f"{decision.gap:.2f}; {why}).")


SEED_RULE = ("- Rule: a claim compares the rows' mean test NLLs over their seeds; when both "
             "rows have two seeds or more it is undecided if the means are closer than twice "
             "the pooled standard deviation of the seeds, √(((n₁−1)s₁² + (n₂−1)s₂²) / "
             "(n₁+n₂−2)); a row with one seed has no spread, and the numbers alone decide.")


def waiting_line(claim: Claim, labels: dict[str, str], have: set[str],
                 asked: set[str]) -> str | None:
  """'**statement: waiting**' naming the claim's rows that were asked for (`asked`) but have
  no test NLL yet (`have`); None when the claim is decided, or a row of it was not asked."""
  rows = [key for comp in claim.comparisons for key in (comp.left, comp.right)]
  missing = [key for key in rows if key not in have]
  if not missing or not set(missing) <= asked:
    return None
  return (f"- **{claim.statement}: waiting** — no test NLL yet for "
          f"{' and '.join(labels[key] for key in missing)}.")


def claim_lines(table: Table, spreads: dict[str, seeds_lib.Spread], asked: set[str]
                ) -> list[str]:
  """Each of the table's claims decided from the rows' test NLLs over seeds (`spreads`), or
  waiting for rows asked for (`asked`) that have none yet."""
  labels = {row.key: row.label for row in table.rows}
  return [line for claim in table.claims
          if (line := claim_line(claim, labels, spreads)
              or waiting_line(claim, labels, set(spreads), asked))]


def verdict(table: Table, results: list[RowResult], asked: set[str] = frozenset()
            ) -> list[str]:
  """The table's claims (`claim_lines`), the one-level gap set beside the references' own,
  and each row's distance to its nearest reference."""
  spreads = seeds_lib.spreads(results)
  if not spreads:
    return ["No test NLL was computed at this budget: no verdict."]
  lines = claim_lines(table, spreads, asked)
  lines.append(SEED_RULE)
  by_key = {r.row.key: r for r in first_seeds(results)}
  standard, vamp = by_key.get("standard"), by_key.get("vamp")
  if standard and vamp:
    shared = [s for s, _ in vamp.row.references if s in dict(standard.row.references)]
    lines.append("- The references' one-level gap (standard − VampPrior): " + "; ".join(
        f"{dict(standard.row.references)[s] - dict(vamp.row.references)[s]:.2f} nats in {s}"
        for s in shared) + ".")
  for r in by_key.values():
    if not r.row.references or r.row.key not in spreads:
      continue
    ours = spreads[r.row.key].mean
    nearest = min(r.row.references, key=lambda ref: abs(ours - ref[1]))
    lines.append(f"- {r.row.label}: {ours:.2f} nats (mean of {spreads[r.row.key].n}), "
                 f"{ours - nearest[1]:+.2f} from the nearest reference "
                 f"({nearest[1]:.2f}, {nearest[0]}) after "
                 f"{_epochs(r, r.train_log.get('steps', r.plan.total_steps)):.0f} epochs.")
  return lines


def pseudo_input_stats(result: RowResult, model_params: tuple[Any, Any] | None = None
                       ) -> dict[str, float] | None:
  """The median, 99th percentile and share ≥ 0.5 of a VampPrior run's pseudo-input pixels
  (None for other priors), from the evaluated checkpoint."""
  pixels = study_figures.pseudo_input_pixels(result, model_params)
  if pixels is None:
    return None
  return {"median": float(np.median(pixels)), "p99": float(np.percentile(pixels, 99)),
          "share_at_half": float(np.mean(pixels >= 0.5))}


def pseudo_inputs_table(results: list[RowResult],
                        stats_by_row: list[dict[str, float] | None]) -> list[str]:
  """How far each VampPrior run moved its pseudo-inputs from their start: their pixels'
  median, 99th percentile and share at 0.5 or above, beside the test images' own (a digit is
  mostly 0 with a stroke of 1s; pseudo-inputs that stay near their start of 0.05 are faint)."""
  lines = ["| model | seed | pseudo-inputs | pixel median | 99th percentile | pixels ≥ 0.5 |",
           "|---|---|---|---|---|---|"]
  for r, stats in zip(results, stats_by_row):
    if stats is None:
      continue
    config = r.plan.config
    how = (f"{config.pseudo_param}, {'learned' if config.train_pseudo_inputs else 'fixed'}, "
           f"{config.pseudo_init} init")
    lines.append(f"| {r.row.label} | {r.seed} | {how} | {stats['median']:.3f} "
                 f"| {stats['p99']:.3f} | {stats['share_at_half']:.1%} |")
  if len(lines) == 2:
    return []
  test = pipeline.to_float(np.asarray(results[0].plan.dataset.test))
  return ["## Pseudo-inputs", "", "Each VampPrior run's K pseudo-inputs at the evaluated "
          "checkpoint, as pixel values (the figure below draws the first of them):", "",
          *lines, f"| binarized test images (for comparison) | — | — | {np.median(test):.3f} "
          f"| {np.percentile(test, 99):.3f} | {np.mean(test >= 0.5):.1%} |", ""]


def from_records(results: list[RowResult]) -> list[str]:
  """A line naming the rows that come from their records, and the records' sources."""
  kept = [r for r in results if r.record is not None]
  if not kept:
    return []
  return ["Rows from their records, not from runs in the workdir root (`--reuse-records`, "
          "`--records-only`): " + "; ".join(
              f"{r.row.label}, seed {r.seed} ({r.record['source']})" for r in kept) + ".", ""]


def seeds_left_out(results: list[RowResult], asked: list[tuple[str, int]]) -> list[str]:
  """A line naming the seeds asked for (`asked`: (row key, seed)) of the rows in the report
  that it has no result for (`--records-only` before they are evaluated)."""
  have = {(r.row.key, r.seed) for r in results}
  labels = {r.row.key: r.row.label for r in results}
  missing: dict[str, list[int]] = {}
  for key, seed in asked:
    if key in labels and (key, seed) not in have:
      missing.setdefault(key, []).append(seed)
  if not missing:
    return []
  return ["Seeds not yet evaluated, left out: " + "; ".join(
      f"{labels[key]}, seed{'s' * (len(s) > 1)} {', '.join(map(str, s))}"
      for key, s in missing.items()) + ".", ""]


def keep_record(result: RowResult, records_dir: str) -> None:
  """Writes an evaluated row's record and its figure images at once, so that a machine lost
  before the report is written loses no finished evaluation (`--reuse-records` takes it
  from there)."""
  model_params = study_figures.restored(result)  # restored once for the stats and the images
  records.write(records_dir, records.make(
      result.row.key, result.seed, result.step, result.metrics, result.train_log,
      {split: study_figures.curves(result, split) for split in ("validation",)},
      pseudo_input_stats(result, model_params), result.plan.workdir, result.plan.config))
  paper_figures.keep_images(result, records_dir, model_params)


def write_report(table: Table, budget: budgets_lib.Budget, results: list[RowResult],
                 out_dir: str, asked: list[tuple[str, int]] = ()) -> str:
  """Writes the report of `results` (and its figures) in `out_dir`; `asked`: every (row key,
  seed) the command asked for, to name those it has no result for."""
  os.makedirs(out_dir, exist_ok=True)
  family = budget.family(table.family)
  report_name, figure_name, samples_name = output_names(table)
  _, data_text, validation_text, references_text = OUTPUTS[table.number]
  records_dir = records.directory(out_dir, OUTPUTS[table.number][0])
  # each row's record: the one it came from, or the one keep_record wrote when it was evaluated
  pseudo_stats = [(r.record or records.read(records_dir, r.row.key, r.seed, r.plan.config)
                   )["pseudo_inputs"] for r in results]
  spreads = seeds_lib.spreads(results)
  first_runs = first_seeds(results)
  figures = paper_figures.validation_section(
      first_runs, validation_text, results[0].plan.config.kl_warmup_epochs,
      os.path.join(out_dir, figure_name))
  figures += paper_figures.samples_section(results, records_dir,
                                           os.path.join(out_dir, samples_name))
  first = results[0].metrics
  total = len(results[0].plan.dataset.test)
  lines = [
      *report.header(f"{table.title} — budget `{budget.name}`", "of ours below"),
      f"- **Data:** {data_text}.",
      f"- **Budget `{budget.name}`:** {family.summary}.",
      f"- **Machine:** {report.machine()}.",
      "- **Protocol (the paper's):** validation −ELBO (β = 1) after every epoch, early "
      "stopping, and the test set scored with the best validation checkpoint.", "",
      "## Results", "", *results_table(results, family), "",
      f"Test NLL: importance sampling with S = {first['settings']['is_samples']} samples over "
      f"{report.test_images(first['is_examples'], total)}; −ELBO and active units "
      f"(Var_x E_q[z_d] > {first['au_threshold']}) over "
      f"{report.test_images(first['num_examples'], total)}. Epoch time: "
      f"{results[0].plan.train_size} images at the median images/s of the run's logged "
      "training intervals (validation passes left out). Time in train steps: those intervals "
      "summed over every session of the run (time paused or shared with other runs counts in "
      "full).", "", *report.rows_left_out(table, results),
      *seeds_left_out(results, asked), *from_records(results),
      "## Against the published figures", "", references_text, "", *references_table(results, spreads), "",
      "## Test NLL over seeds", "", *seeds_table(results, spreads), "",
      "## Verdict", "", *verdict(table, results, {key for key, _ in asked}), "",
      *ablation.section({r.row.key: r.row for r in results}, spreads), "",
      *pseudo_inputs_table(results, pseudo_stats),
      *figures,
      "## Commands", "", "Each model's training, then the evaluation of its best checkpoint:", ""]
  for r in results:
    own = r.plan.family
    eval_keys = {"eval.num_examples": own.eval_examples, "eval.is_samples": own.is_samples}
    nll_keys = {"eval.num_examples": own.is_examples, "eval.is_samples": own.is_samples}
    commands = [report.command(r.row, r.plan)]
    if own.is_examples == own.eval_examples:
      commands.append(report.command(r.row, r.plan, "eval", eval_keys))
    else:  # the metrics on every test image, the NLL on the first is_examples
      commands += [report.command(r.row, r.plan, "eval", {**eval_keys, "eval.is_samples": 0}),
                   report.command(r.row, r.plan, "eval", nll_keys)]
    lines += [f"**{r.row.label}, seed {r.seed}**", "", "```bash", *commands, "```", ""]
  path = os.path.join(out_dir, report_name)
  with open(path, "w") as f:
    f.write("\n".join(lines))
  return path
