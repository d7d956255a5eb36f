"""The VampPrior paper's prior ablation at one level, decided from our test NLLs: the paper
found, from worst to best, the standard prior, the MoG, the VampPrior with pseudo-inputs
fixed to training images ("VampPrior data") and the VampPrior."""

from __future__ import annotations

from experiments import seeds as seeds_lib
from experiments.tables import PAPER_TABLE, Row

PAPER_ORDER = ("standard", "mog", "vamp_data", "vamp")  # worst to best, the paper's finding
# The other reading of "VampPrior data": the original code's `--use_training_data_init`
# starts the pseudo-inputs at K training images (+ noise) and goes on learning them.
OTHER_READING = "vamp_data_learned"


def order_lines(keys: list[str], rows: dict[str, Row],
                spreads: dict[str, seeds_lib.Spread]) -> tuple[str, list[str]]:
  """'the same order' or 'a different order' of `keys` (the paper's order, worst to best)
  against ours, and each step of it decided by the seed rule."""
  ours = sorted(keys, key=lambda k: -spreads[k].mean)
  order = (" > ".join(f"{rows[k].label} ({spreads[k].mean:.2f})" for k in ours)
           + f": **{'the same order' if ours == keys else 'a different order'}**")
  steps = []
  for worse, better in zip(keys, keys[1:]):
    d = seeds_lib.decide("<", spreads[better], spreads[worse])
    pair = {rows[k].label: spreads[k] for k in (better, worse)}
    steps.append(f"- {rows[better].label} beats {rows[worse].label}: **{d.verdict}** "
                 f"(gap {spreads[worse].mean - spreads[better].mean:+.2f} nats"
                 + (f"; {seeds_lib.one_seed_text(pair)}" if d.pooled_sd is None
                    else f", twice the pooled sd {2 * d.pooled_sd:.2f}") + ").")
  return order, steps


def section(rows: dict[str, Row], spreads: dict[str, seeds_lib.Spread]) -> list[str]:
  """The ablation's rows in the paper's order beside ours, each one's gain over the standard
  prior beside the paper's where we have its figure, and each step of the order decided by
  the seed rule; nothing unless an ablation row (MoG or VampPrior data) was evaluated. The
  order is decided again with the other reading of "VampPrior data" when it was run."""
  present = [k for k in PAPER_ORDER if k in spreads]
  if not {"mog", "vamp_data"} & set(present) or "standard" not in present:
    return []
  paper_nll = {k: dict(rows[k].references).get(PAPER_TABLE) for k in present}
  base, paper_base = spreads["standard"].mean, paper_nll["standard"]
  order, steps = order_lines(present, rows, spreads)
  lines = ["## The prior ablation (one level)", "",
           "The paper's order, worst to best test NLL: "
           + " > ".join(rows[k].label for k in present) + f". Ours: {order}.", "",
           "| model | ours: test NLL (nats) | ours: gain over the standard prior "
           "| the paper's gain |", "|---|---|---|---|"]
  for k in present:
    paper = ("—" if paper_nll[k] is None or paper_base is None
             else f"{paper_base - paper_nll[k]:.2f}")
    lines.append(f"| {rows[k].label} | {spreads[k].text()} | {base - spreads[k].mean:.2f} "
                 f"| {paper} |")
  lines += ["", "Each step of the paper's order (the better row has the lower mean; the seed "
            "rule of the verdict):", "", *steps,
            "", f"The paper's gains use its one-level table ({PAPER_TABLE}) where we "
            "quote a figure for the row; '—' where we have none."]
  if OTHER_READING in spreads and "vamp_data" in present:
    other, fixed = spreads[OTHER_READING], spreads["vamp_data"]
    order, steps = order_lines([OTHER_READING if k == "vamp_data" else k for k in present],
                               rows, spreads)
    lines += ["", "The paper's text was not at hand to say whether its \"VampPrior data\" "
              "keeps the training images fixed (our `vamp_data`, as specified) or only starts "
              "the pseudo-inputs there and learns them (the original code's "
              "`--use_training_data_init`). The second reading, "
              f"{rows[OTHER_READING].label}: {other.text()}, a gain of "
              f"{base - other.mean:.2f} over the standard prior "
              f"({fixed.mean - other.mean:+.2f} against the fixed images). With it in the "
              f"paper's order, ours: {order}.", "", *steps]
  return lines
