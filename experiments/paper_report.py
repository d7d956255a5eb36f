"""The markdown report of the VampPrior paper's MNIST benchmark: our test NLL of each model
beside the published figures, the table's claims decided from the numbers, the budget, the
commands, the validation −ELBO curves of every run and samples of every model."""

from __future__ import annotations

import os

from experiments import budgets as budgets_lib
from experiments import report, study_figures, tables
from experiments.run import RowResult
from experiments.tables import Claim, Table

REPORT = "paper_mnist.md"
FIGURE = "paper_mnist_validation.png"
SAMPLES = "paper_mnist_samples.png"
NOT_QUOTED = ("The paper's own rows for dynamically binarized MNIST were not available "
              "offline to quote; the references below are the figures we have, each with its "
              "source.")


def _epochs(result: RowResult, step: int) -> float:
  return step / max(1, result.plan.train_size // result.plan.config.batch_size)


def results_table(results: list[RowResult]) -> list[str]:
  lines = ["| model | test NLL (nats) | −ELBO (nats) | active units | epochs trained "
           "| best epoch (evaluated) | epoch time (median) | time in train steps "
           "| eval wall time |",
           "|---|---|---|---|---|---|---|---|---|"]
  for r in results:
    m, log = r.metrics, r.train_log
    stopped = " (early stop)" if log.get("stopped_early") else ""
    lines.append(
        f"| {r.row.label} | {report.fmt(m.get('is_nll_nats'), 2)} "
        f"| {report.fmt(m['neg_elbo_nats'], 2)} | {report.au_text(m)} "
        f"| {_epochs(r, log.get('steps', r.plan.total_steps)):.0f}{stopped} "
        f"| {_epochs(r, r.step):.0f} (step {r.step}, "
        f"{'best validation' if m['settings'].get('best') else 'last'} checkpoint) "
        f"| {log['epoch_seconds']:.1f} s | {report.duration(log['step_seconds'])} "
        f"| {report.duration(m['eval_seconds'])} |")
  return lines


def references_table(results: list[RowResult]) -> list[str]:
  lines = ["| model | reference | its test NLL (nats) | ours − reference |", "|---|---|---|---|"]
  for r in results:
    ours = r.metrics.get("is_nll_nats")
    for source, nll in r.row.references:
      gap = "—" if ours is None else f"{ours - nll:+.2f}"
      lines.append(f"| {r.row.label} | {source} | {nll:.2f} | {gap} |")
  return lines


def seed_spread(by_key: dict[str, RowResult]) -> float | None:
  """|test NLL(seed 0) − test NLL(seed 1)| of the one-level VampPrior, when both ran."""
  nlls = [by_key[k].metrics.get("is_nll_nats") if k in by_key else None
          for k in ("vamp", tables.SEED_REPLICATE)]
  return None if None in nlls else abs(nlls[0] - nlls[1])


def claim_line(claim: Claim, by_key: dict[str, RowResult],
               spread: float | None = None) -> str | None:
  """'**statement: holds** (a vs b nats, gap)' from the numbers; 'undecided' when the gap is
  within twice the seed-to-seed `spread`: the difference of two one-seed runs varies about
  as much as that of the two seeds, so twice it is about two standard deviations. None when
  a row is missing or has no test NLL."""
  (comp,) = claim.comparisons
  if comp.left not in by_key or comp.right not in by_key:
    return None
  left, right = (by_key[k].metrics.get("is_nll_nats") for k in (comp.left, comp.right))
  if left is None or right is None:
    return None
  holds = report.relation_holds(comp.relation, left, right)
  numbers = (f"{by_key[comp.left].row.label} {left:.2f} vs {by_key[comp.right].row.label} "
             f"{right:.2f} nats")
  if spread is not None and abs(right - left) <= 2 * spread:
    return (f"- **{claim.statement}: undecided** — {numbers} (apart by {abs(right - left):.2f}, "
            f"within twice the seed-to-seed spread, {2 * spread:.2f}).")
  return (f"- **{claim.statement}: {'holds' if holds else 'does not hold'}** — {numbers} "
          f"({'ahead' if holds else 'behind'} by {abs(right - left):.2f}).")


def verdict(table: Table, results: list[RowResult]) -> list[str]:
  """Each of the table's claims decided from our test NLLs, the one-level gap set beside the
  references' own, and each row's distance to its nearest reference."""
  by_key = {r.row.key: r for r in results}
  if all(r.metrics.get("is_nll_nats") is None for r in results):
    return ["No test NLL was computed at this budget: no verdict."]
  spread = seed_spread(by_key)
  lines = [line for claim in table.claims if (line := claim_line(claim, by_key, spread))]
  if spread is not None:
    lines.append(f"- Seed-to-seed spread: the one-level VampPrior's test NLL moves by "
                 f"{spread:.2f} nats between seeds 0 and 1. A difference between two one-seed runs "
                 "varies about as much, so a claim whose rows are closer than twice that "
                 f"({2 * spread:.2f} nats, about two standard deviations, estimated from this "
                 "one pair of seeds) is undecided.")
  standard, vamp = by_key.get("standard"), by_key.get("vamp")
  if standard and vamp:
    shared = [s for s, _ in vamp.row.references if s in dict(standard.row.references)]
    lines.append("- The references' one-level gap (standard − VampPrior): " + "; ".join(
        f"{dict(standard.row.references)[s] - dict(vamp.row.references)[s]:.2f} nats in {s}"
        for s in shared) + ".")
  for r in results:
    if not r.row.references or r.metrics.get("is_nll_nats") is None:
      continue
    nearest = min(r.row.references, key=lambda ref: abs(r.metrics["is_nll_nats"] - ref[1]))
    lines.append(f"- {r.row.label}: {r.metrics['is_nll_nats']:.2f} nats, "
                 f"{r.metrics['is_nll_nats'] - nearest[1]:+.2f} from the nearest reference "
                 f"({nearest[1]:.2f}, {nearest[0]}) after "
                 f"{_epochs(r, r.train_log.get('steps', r.plan.total_steps)):.0f} epochs.")
  return lines


def samples_figure(results: list[RowResult], path: str) -> str:
  """Test images, then each paper row's prior samples and, for a VampPrior, its pseudo-inputs
  and their decodings, all from the evaluated checkpoint (extra rows left out, unless the
  report has no other)."""
  drawn = [r for r in results if not r.row.extra] or results
  images = [(r, study_figures.model_images(r, study_figures.COLUMNS)) for r in drawn]
  panels = [("binarized test images", images[0][1]["data"])]
  for r, im in images:
    panels.append((f"{r.row.label}: prior samples (pixel means)", im["samples"]))
    if "pseudo" in im:
      panels += [(f"{r.row.label}: pseudo-inputs", im["pseudo"]),
                 (f"{r.row.label}: their decodings", im["pseudo_decoded"])]
  return study_figures.plot_grids(panels, "Samples of the evaluated checkpoints", path)


def write_report(table: Table, budget: budgets_lib.Budget, results: list[RowResult],
                 out_dir: str) -> str:
  os.makedirs(out_dir, exist_ok=True)
  family = budget.family(table.family)
  warmup = results[0].plan.config.kl_warmup_epochs
  figure = study_figures.plot_curves(
      results, [("10 000 mnist_binary validation images", ("loss",)),
                (f"the same, after the KL warm-up (epoch {warmup:g} on)", ("loss",))],
      "Validation −ELBO (β = 1, nats) per epoch",
      os.path.join(out_dir, FIGURE), split="validation", from_epoch=(0.0, warmup))
  samples = samples_figure(results, os.path.join(out_dir, SAMPLES))
  first = results[0].metrics
  total = len(results[0].plan.dataset.test)
  lines = [
      *report.header(f"{table.title} — budget `{budget.name}`", "of ours below"),
      "- **Data:** mnist_binary: MNIST dynamically binarized for training (50 000 images), the "
      "original code's fixed binarization of the validation (10 000) and test (10 000) "
      "images.",
      f"- **Budget `{budget.name}`:** {family.summary}.",
      f"- **Machine:** {report.machine()}.",
      "- **Protocol (the paper's):** validation −ELBO (β = 1) after every epoch, early "
      "stopping, and the test set scored with the best validation checkpoint.", "",
      "## Results", "", *results_table(results), "",
      f"Test NLL: importance sampling with S = {first['settings']['is_samples']} samples over "
      f"{report.test_images(first['is_examples'], total)}; −ELBO and active units "
      f"(Var_x E_q[z_d] > {first['au_threshold']}) over "
      f"{report.test_images(first['num_examples'], total)}. Epoch time: "
      f"{results[0].plan.train_size} images at the median images/s of the run's logged "
      "training intervals (validation passes left out). Time in train steps: those intervals "
      "summed over every session of the run (time paused or shared with other runs counts in "
      "full).", "", *report.rows_left_out(table, results),
      "## Against the published figures", "", NOT_QUOTED, "", *references_table(results), "",
      "## Verdict", "", *verdict(table, results), "",
      "## Validation curves", "", f"![validation −ELBO]({os.path.basename(figure)})", "",
      "## Samples", "", f"![samples]({os.path.basename(samples)})", "",
      "## Commands", "", "Each model's training, then the evaluation of its best checkpoint:", ""]
  for r in results:
    eval_keys = {"eval.num_examples": family.eval_examples,
                 "eval.is_samples": family.is_samples}
    nll_keys = {"eval.num_examples": family.is_examples, "eval.is_samples": family.is_samples}
    commands = [report.command(r.row, r.plan)]
    if family.is_examples == family.eval_examples:
      commands.append(report.command(r.row, r.plan, "eval", eval_keys))
    else:  # the metrics on every test image, the NLL on the first is_examples
      commands += [report.command(r.row, r.plan, "eval", {**eval_keys, "eval.is_samples": 0}),
                   report.command(r.row, r.plan, "eval", nll_keys)]
    lines += [f"**{r.row.label}**", "", "```bash", *commands, "```", ""]
  path = os.path.join(out_dir, REPORT)
  with open(path, "w") as f:
    f.write("\n".join(lines))
  return path
