"""The seed rule of the paper reports: mean ± sd over seeds, the pooled standard deviation, and
claims decided (or undecided) by the difference of means against twice it."""

import numpy as np
import pytest
from scipy import stats

from experiments import paper_report, run, seeds, tables


def test_mean_sd_and_pooled_sd_against_numpy():
  a, b = [87.10, 87.25, 87.04], [87.40, 87.31, 87.55, 87.38]
  left, right = seeds.Spread(tuple(a)), seeds.Spread(tuple(b))
  assert left.mean == pytest.approx(np.mean(a)) and left.sd == pytest.approx(np.std(a, ddof=1))
  by_hand = np.sqrt(((3 - 1) * np.var(a, ddof=1) + (4 - 1) * np.var(b, ddof=1)) / (3 + 4 - 2))
  assert seeds.pooled_sd(left, right) == pytest.approx(by_hand)
  # The pooled sd is the one behind scipy's equal-variance t statistic.
  t = stats.ttest_ind(a, b).statistic
  assert abs(t) == pytest.approx(abs(left.mean - right.mean)
                                 / (by_hand * np.sqrt(1 / 3 + 1 / 4)))
  assert left.text() == f"{np.mean(a):.2f} ± {np.std(a, ddof=1):.2f} (n = 3)"


def test_decided_and_undecided_claims():
  low = seeds.Spread((86.0, 86.2, 86.1))       # sd 0.1
  high = seeds.Spread((86.5, 86.7, 86.6))      # sd 0.1, means 0.5 apart > 2 × 0.1
  near = seeds.Spread((86.15, 86.35, 86.25))   # 0.15 apart < 0.2
  assert seeds.decide("<", low, high).verdict == "holds"
  assert seeds.decide(">", low, high).verdict == "does not hold"
  undecided = seeds.decide("<", low, near)
  assert undecided.verdict == "undecided"
  assert undecided.gap == pytest.approx(0.15) and undecided.pooled_sd == pytest.approx(0.1)
  one = seeds.decide("<", seeds.Spread((86.2,)), near)  # one seed: the numbers alone
  assert (one.verdict, one.pooled_sd) == ("holds", None)


def test_seeded_rows_keep_seed_0s_workdir():
  row = next(r for r in tables.TABLES["paper"].rows if r.key == "vamp")
  assert seeds.seeded(row, 0) is row and seeds.seed_of(row) == 0
  assert seeds.seeded(row, 2).run_name == row.run_name + "_seed-2"
  assert seeds.seed_of(seeds.seeded(row, 2)) == 2


def paper_results(nlls: dict[str, list[float]]) -> list[run.RowResult]:
  rows = {row.key: row for row in tables.TABLES["paper"].rows}
  return [run.RowResult(seeds.seeded(rows[key], seed), None, 0, {"is_nll_nats": nll}, {})
          for key, values in nlls.items() for seed, nll in enumerate(values)]


def claim(word: str) -> tables.Claim:
  return next(c for c in tables.TABLES["paper"].claims if word in c.statement)


def test_paper_claim_lines_from_seeds():
  results = paper_results({"standard": [90.36, 90.20, 90.41], "vamp": [87.25, 87.55, 87.40],
                           "vamp_normgrad": [87.13, 87.35, 87.20], "hvae_vamp": [86.0]})
  spreads = seeds.spreads(results)
  labels = {r.row.key: r.row.label for r in results}
  line = paper_report.claim_line(claim("AdamNormGrad"), labels, spreads)
  assert ": undecided** — " in line and "87.23 ± 0.11 (n = 3)" in line
  assert "87.40 ± 0.15 (n = 3)" in line and "apart by 0.17" in line
  assert ": holds** — " in paper_report.claim_line(claim("one level)"), labels, spreads)
  line = paper_report.claim_line(claim("Two levels beat one (VampPrior)"), labels, spreads)
  assert ": holds** — " in line and "has one seed: no spread" in line
  assert paper_report.claim_line(claim("at two levels"), labels, spreads) is None


def test_claims_waiting_for_rows_asked_but_not_yet_evaluated():
  results = paper_results({"standard": [90.3], "vamp": [87.0], "hvae_vamp": [86.1]})
  lines = paper_report.claim_lines(tables.TABLES["paper"], seeds.spreads(results),
                                   asked={"standard", "vamp", "hvae_vamp", "hvae_standard"})
  waiting = [line for line in lines if ": waiting** — " in line]
  assert waiting == [
      "- **The VampPrior beats the standard prior at two levels: waiting** — no test NLL yet "
      "for two-level HVAE, standard prior.",
      "- **Two levels beat one (standard prior): waiting** — no test NLL yet for two-level "
      "HVAE, standard prior."]
  # A claim whose missing row was not asked for (here the extra rows) says nothing.
  assert not any("AdamNormGrad" in line or "logits" in line for line in lines)
  assert sum(": holds** — " in line for line in lines) == 2


def test_ablation_section_orders_the_priors():
  results = paper_results({"standard": [90.3, 90.4], "mog": [89.0, 89.2],
                           "vamp_data": [89.1, 89.3], "vamp": [87.2, 87.4]})
  rows = {r.row.key: r.row for r in results}
  lines = "\n".join(paper_report.ablation.section(rows, seeds.spreads(results)))
  assert "**a different order**" in lines  # the MoG (89.1) beats VampPrior data (89.2)
  assert "VampPrior data: K = 500 fixed training images beats MoG" in lines
  assert "fixed training images beats MoG prior, K = 500 free Gaussians: **undecided**" in lines
  assert "| VampPrior, K = 500 | 87.30 ± 0.14 (n = 2) | 3.05 | 2.99 |" in lines
  assert "started at training images" not in lines
  one_seed = paper_report.ablation.section(rows, seeds.spreads(paper_results(
      {"standard": [90.3], "mog": [89.0, 89.2]})))
  assert one_seed[-3] == ("- MoG prior, K = 500 free Gaussians beats standard prior N(0, I): "
                          "**holds** (gap +1.20 nats; standard prior N(0, I) has one seed: no "
                          "spread, decided by the numbers alone).")
  assert paper_report.ablation.section(rows, seeds.spreads(paper_results(
      {"standard": [90.0], "vamp": [87.0]}))) == []


def test_ablation_section_gives_the_other_reading_of_vampprior_data():
  results = paper_results({"standard": [90.3, 90.4], "vamp_data": [89.7, 89.8],
                           "vamp_data_learned": [87.0, 87.2], "vamp": [87.0, 87.1]})
  rows = {r.row.key: r.row for r in results}
  lines = paper_report.ablation.section(rows, seeds.spreads(results))
  other = next(i for i, line in enumerate(lines) if "The second reading" in line)
  assert "started at training images and learned (extra): 87.10 ± 0.14 (n = 2), a gain of " \
         "3.25 over the standard prior (+2.65 against the fixed images)." in lines[other]
  assert not any("started at training images" in line for line in lines[:other])
  # the fixed images trail; learned from them they tie with the VampPrior (87.10 vs 87.05)
  assert "Ours: standard prior N(0, I) (90.35) > VampPrior data" in "\n".join(lines[:other])
  assert ("With it in the paper's order, ours: standard prior N(0, I) (90.35) > VampPrior, "
          "K = 500, pseudo-inputs started at training images and learned (extra) (87.10) > "
          "VampPrior, K = 500 (87.05): **the same order**.") in lines[other]
  # pooled sd of sds 0.0707 and 0.1414 (n = 2 each): √((0.005 + 0.02) / 2) = 0.112
  assert lines[other + 2:] == [
      "- VampPrior, K = 500, pseudo-inputs started at training images and learned (extra) "
      "beats standard prior N(0, I): **holds** (gap +3.25 nats, twice the pooled sd 0.22).",
      "- VampPrior, K = 500 beats VampPrior, K = 500, pseudo-inputs started at training images "
      "and learned (extra): **undecided** (gap +0.05 nats, twice the pooled sd 0.22)."]
