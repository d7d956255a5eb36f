"""experiments/reproduce.py end to end on the smoke budget: every table, every row, a report."""

from __future__ import annotations

import json
import os
import re
import signal
import sys

import matplotlib.image
import numpy as np
import pytest

import vampjax
from experiments import budgets, paper_report, records, reproduce, run, run_eval, tables
from experiments.report import claim_distance, claim_section, closeness_section, command
from vampjax import preemption
from vampjax.data import fashion_mnist
from vampjax.metrics import batch_cache
from vampjax.workdir import WorkdirError


@pytest.fixture(scope="module")
def dirs(tmp_path_factory) -> tuple[str, str]:
  root = tmp_path_factory.mktemp("reproduce")
  return str(root / "runs"), str(root / "results")


@pytest.mark.parametrize("number", [1, 2, 3])
def test_smoke_table_report(dirs: tuple[str, str], number: int):
  runs, results = dirs
  argv = ["--table", str(number), "--budget", "smoke", "--workdir-root", runs,
          "--results-dir", results]
  path = reproduce.main(argv + (["--figures"] if number != 3 else []))
  assert path == os.path.join(results, f"table{number}.md")
  with open(path) as f:
    report = f.read()
  table = tables.TABLES[number]
  study_rows = [row for row in table.rows if not row.extra]  # smoke leaves the extras out
  result_lines = [line for line in report.splitlines()
                  if line.startswith("| ") and re.search(r"\| \d+/\d+ \|", line)]
  assert [line.split(" | ")[0][2:] for line in result_lines] == [r.label for r in study_rows]
  for row in study_rows:
    assert f"**{row.label}**" in report  # its commands
    assert f"{row.study_lpips:.4f}" in report
  assert report.count("python main.py --config=configs/") == 2 * len(study_rows)
  keys = {row.key for row in study_rows}
  claims = [claim for claim in table.claims  # those over study rows; smoke has no others
            if all(k in keys for c in claim.comparisons for k in (c.left, c.right))]
  assert claims
  for claim in claims:
    assert f"### {claim.statement}" in report
  assert len(re.findall(r"\*\*Our runs: (supported|partly supported|not supported)\.\*\*",
                        report)) == len(claims)
  if number > 1:
    assert "999-image sample" in report and "NOT the study's data" in report
  if number == 3:  # the 'epoch 1' row is an earlier checkpoint of the same run
    assert re.search(r"\| ResNet, epoch 1 \| 3 \| .* \| step 2 ", report)
  else:
    figures = [name for name in os.listdir(results) if name.startswith(f"table{number}_fig")]
    assert len(figures) == (3 if number == 1 else 5)
    assert all(os.path.getsize(os.path.join(results, name)) < 200_000 for name in figures)
    assert all(f"]({name})" in report for name in figures)


def test_commands_parse_with_main_flags(dirs: tuple[str, str]):
  """The report's command lines use only config keys that main.py accepts."""
  from vampjax import config_validation  # pylint: disable=import-outside-toplevel
  runs, _ = dirs
  args = reproduce.parse_args(["--table", "3", "--budget", "cpu", "--workdir-root", runs])
  table = tables.TABLES[3]
  group = [row for row in table.rows if row.config == "celeba_vamp_resnet"]
  plan = run.plan_run(table, group, budgets.CPU, args, runs)
  assert plan.total_steps == 30 * (899 // 64) and plan.config.num_components == 100
  assert plan.eval_steps == {"resnet_1": 899 // 64, "resnet": plan.total_steps}
  assert plan.config.max_checkpoints_to_keep > plan.total_steps // 140
  line = command(group[0], plan)
  keys = [arg.strip('"') for arg in line.split() if arg.strip('"').startswith("--config.")]
  config_validation.check_override_keys(keys)


def test_a_row_with_its_own_budget(dirs: tuple[str, str]):
  """The convHVAE's cpu budget: 5 epochs with a warm-up of 1, one seed, S = 100 on the first
  1000 test images; its report line names that budget. The other rows keep the table's."""
  runs, _ = dirs
  args = reproduce.parse_args(["--table", "paper", "--budget", "cpu", "--seeds", "0", "1", "2"])
  table = tables.TABLES["paper"]
  conv, vamp = (next(r for r in table.rows if r.key == key) for key in ("convhvae_vamp", "vamp"))
  assert run.row_seeds(budgets.CPU, table, conv, args.seeds) == [0]
  assert run.row_seeds(budgets.CPU, table, vamp, args.seeds) == [0, 1, 2]
  assert run.row_seeds(budgets.FULL, table, conv, None) == [0]
  plan = run.plan_run(table, [conv], budgets.CPU, args, runs)
  per_epoch = run.steps_per_epoch(plan.train_size, plan.config.batch_size)
  assert plan.total_steps == 5 * per_epoch and plan.config.kl_warmup_epochs == 1
  assert run_eval.evaluation_settings(plan.family, 1, True)["is_samples"] == 100
  assert plan.overrides["kl_warmup_epochs"] == 1  # in the report's command line
  result = run.RowResult(conv, plan, plan.total_steps, {}, {})
  table_family = budgets.CPU.family("paper")
  assert paper_report.own_budget(result, table_family) == (
      " (its own budget: 5 epochs; IS-NLL S = 100 on the first 1000 test images)")
  full_plan = run.plan_run(table, [conv], budgets.FULL, args, runs)
  assert full_plan.family == budgets.FULL.family("paper")
  assert paper_report.own_budget(run.RowResult(conv, full_plan, 1, {}, {}),
                                 budgets.FULL.family("paper")) == ""


@pytest.mark.parametrize("flags, keys", [
    ([], ["standard", "vamp", "mog", "vamp_data", "vamp_data_learned", "vamp_normgrad",
          "vamp_logits", "hvae_standard", "hvae_vamp", "hvae_vamp_logits", "convhvae_vamp"]),
    (["--no-extras"], ["standard", "vamp", "mog", "vamp_data", "hvae_standard", "hvae_vamp"]),
    (["--rows", "vamp", "vamp_normgrad"], ["vamp", "vamp_normgrad"]),
    (["--rows", "vamp", "vamp_normgrad", "--no-extras"], ["vamp"])])
def test_rows_selected_by_rows_and_no_extras(flags: list[str], keys: list[str]):
  args = reproduce.parse_args(["--table", "paper", "--budget", "cpu", *flags])
  rows = run.selected_rows(tables.TABLES["paper"], budgets.CPU, args)
  assert [row.key for row in rows] == keys
  smoke = run.selected_rows(tables.TABLES["paper"], budgets.SMOKE, args)
  extras = {row.key for row in tables.TABLES["paper"].rows if row.extra}
  assert extras == {"vamp_data_learned", "vamp_normgrad", "vamp_logits", "hvae_vamp_logits",
                    "convhvae_vamp"}
  assert [row.key for row in smoke] == [key for key in keys if key not in extras]


def test_docs_list_every_budget_override():
  with open(os.path.join(reproduce.ROOT, "docs", "reproduce.md")) as f:
    doc = f.read()
  for budget in budgets.BUDGETS.values():
    for family in (budget.mnist, budget.celeba, budget.paper):
      for key, value in family.overrides.items():
        assert f"`{key}={value}`" in doc, (budget.name, key)


def test_smoke_paper_report(dirs: tuple[str, str]):
  """--table paper: one row trained alone first (--rows, --train-only) is reused by the full
  command, which writes paper_mnist.md with every published figure and a verdict."""
  runs, results = dirs
  argv = ["--table", "paper", "--budget", "smoke", "--workdir-root", runs,
          "--results-dir", results]
  assert reproduce.main(argv + ["--rows", "vamp", "--train-only"]) is None
  vamp_log = os.path.join(runs, "smoke", "mnist_binary", "paper.vae_vamp", run.TRAIN_LOG)
  with open(vamp_log) as f:
    trained = f.read()
  path = reproduce.main(argv)
  assert path == os.path.join(results, paper_report.REPORT)
  with open(vamp_log) as f:
    assert f.read() == trained  # reused, not trained again
  with open(path) as f:
    report = f.read()
  for row in (r for r in tables.TABLES["paper"].rows if not r.extra):
    assert f"**{row.label}, seed 0**" in report
    for source, nll in row.references:
      assert f"| {row.label} | {source} | {nll:.2f} |" in report
      assert f"- {source}: {tables.CONFIDENCE[source]}." in report
  assert paper_report.NOT_QUOTED in report
  assert re.search(r"\*\*The VampPrior beats the standard prior \(one level\): "
                   r"(holds|does not hold)\*\*", report)
  assert re.search(r"\*\*Two levels beat one \(VampPrior\): (holds|does not hold)\*\*", report)
  rows = [row for row in tables.TABLES["paper"].rows if not row.extra]  # smoke: no extras
  assert report.count("python main.py --config=configs/paper/") == 2 * len(rows)
  # smoke runs are shorter than an epoch: no validation line, so no empty figure either
  assert not os.path.exists(os.path.join(results, paper_report.FIGURE))
  assert "## Validation curves\n\nNo validation line in the run or record of: " in report
  assert f"![samples]({paper_report.SAMPLES})" in report
  samples = matplotlib.image.imread(os.path.join(results, paper_report.SAMPLES))
  # image tiles were drawn (near-black pixels), not a blank white canvas
  assert samples[..., :3].min() < 0.05 and samples[..., :3].max() > 0.95
  # every VampPrior run's pseudo-inputs, their pixel median as load_run gives them
  pseudo = vampjax.load_run(os.path.dirname(vamp_log)).pseudo_inputs()
  assert re.search(rf"\| VampPrior, K = 500 \| 0 \| pixels, learned, random init "
                   rf"\| {np.median(pseudo):.3f} \| {np.percentile(pseudo, 99):.3f} \|", report)
  assert "| VampPrior data: K = 500 fixed training images | 0 | pixels, fixed, data init |" \
      in report

  partial = os.path.join(results, "one_level")  # --rows: a report of those rows, cached evals
  path = reproduce.main(argv[:-1] + [partial, "--rows", "standard"])
  with open(path) as f:
    report = f.read()
  assert [line.split(" | ")[0][2:] for line in _results_lines(report)] == [
      "standard prior N(0, I)"]
  left_out = [row.label for row in tables.TABLES["paper"].rows if row.key != "standard"]
  assert f"not in this report: {'; '.join(left_out)}." in report
  assert "beat" not in report  # every claim needs a row this report leaves out
  assert re.search(r"- standard prior N\(0, I\): [0-9.]+ nats \(mean of 1\), [+-][0-9.]+ from "
                   r"the nearest reference", report)


def test_a_finished_run_of_another_config_is_not_reused(dirs: tuple[str, str]):
  """A row whose config changed (here its pseudo-inputs' parametrisation) refuses the
  finished run of the old config in its workdir instead of reusing its results."""
  runs, _ = dirs
  args = reproduce.parse_args(["--table", "paper", "--budget", "smoke", "--workdir-root", runs])
  table = tables.TABLES["paper"]
  vamp = next(row for row in table.rows if row.key == "vamp")
  plan = run.plan_run(table, [vamp], budgets.SMOKE, args, runs)
  run.train_until(plan, plan.total_steps)  # trained here unless an earlier test did
  path = os.path.join(plan.workdir, "config.json")
  with open(path) as f:
    saved = f.read()
  try:
    with open(path, "w") as f:
      json.dump({**json.loads(saved), "pseudo_param": "logits"}, f)
    with pytest.raises(WorkdirError, match="pseudo_param"):
      run.train_until(plan, plan.total_steps)
  finally:
    with open(path, "w") as f:
      f.write(saved)


def _results_lines(report: str) -> list[str]:
  return report.split("## Results\n\n")[1].split("\n\n")[0].splitlines()[2:]


def test_paper_report_written_again_from_records(dirs: tuple[str, str], tmp_path):
  """--reuse-records: a row whose run is gone comes from the record its report committed
  (same numbers, pseudo-inputs and validation curve), is not trained again, and is named."""
  runs, results = dirs
  argv = ["--table", "paper", "--budget", "smoke", "--workdir-root", runs,
          "--results-dir", results, "--rows", "standard", "vamp"]
  vamp = os.path.join(runs, "smoke", "mnist_binary", "paper.vae_vamp")
  reproduce.main(argv + ["--train-only"])  # trained here unless an earlier test did
  validation = {"step": 3, "split": "validation", "loss": 543.25}  # smoke runs validate none
  metrics = os.path.join(vamp, "metrics.jsonl")
  with open(metrics) as f:
    logged = f.read()
  with open(metrics, "a") as f:
    f.write(json.dumps(validation) + "\n")
  samples = os.path.join(results, paper_report.SAMPLES)
  try:
    with open(reproduce.main(argv)) as f:
      before = f.read()
    drawn_before = matplotlib.image.imread(samples)
  finally:  # the module's other tests share this run
    with open(metrics, "w") as f:
      f.write(logged)
  moved = str(tmp_path / "vamp_run")
  os.rename(vamp, moved)
  try:
    with open(reproduce.main(argv + ["--reuse-records"])) as f:
      after = f.read()
    assert not os.path.exists(vamp)  # not trained again
  finally:
    os.rename(moved, vamp)
  assert _results_lines(after) == _results_lines(before)
  # the VampPrior's samples and pseudo-inputs are drawn from the images kept with its record
  assert f"![samples]({paper_report.SAMPLES})" in after and "No samples of" not in after
  np.testing.assert_array_equal(matplotlib.image.imread(samples), drawn_before)
  figure = f"![validation −ELBO]({paper_report.FIGURE})"
  for text in (before, after):  # the one row with a validation line drawn, the other named
    assert figure in text
    assert "No validation line in the run or record of: standard prior N(0, I).\n" in text
  pseudo = [line for line in before.splitlines() if line.startswith("| VampPrior, K = 500 | 0 |")]
  assert len(pseudo) == 2 and all(line in after for line in pseudo)  # seeds + pseudo-inputs
  assert re.search(r"Rows from their records.*: VampPrior, K = 500, seed 0 \(its run in "
                   rf"{re.escape(vamp)}, recorded [0-9-]+\)\.", after)
  record_path = os.path.join(results, "paper_mnist_records", "vamp_seed0.json")
  with open(record_path) as f:
    record = json.load(f)
  assert record["curves"] == {"validation": [validation]}
  with open(record_path, "w") as f:  # a record of another config than the row's now
    json.dump({**record, "config": {**record["config"], "pseudo_param": "logits"}}, f)
  os.rename(vamp, moved)
  try:
    with pytest.raises(records.RecordError, match="pseudo_param"):
      reproduce.main(argv + ["--reuse-records"])
  finally:
    os.rename(moved, vamp)


def test_each_evaluated_row_keeps_its_record_at_once(dirs: tuple[str, str], tmp_path,
                                                    monkeypatch):
  """A table stopped before its report (here a Ctrl-C in the second row's evaluation, as a
  lost machine would) has already kept the first row's record for --reuse-records."""
  runs, _ = dirs
  results = str(tmp_path / "results")
  argv = ["--table", "paper", "--budget", "smoke", "--workdir-root", runs,
          "--results-dir", results, "--rows", "standard", "vamp"]
  evaluate, evaluated = run.evaluate_run, []

  def evaluate_one_then_stop(plan, *rest):
    if evaluated:
      raise KeyboardInterrupt
    evaluated.append((plan, evaluate(plan, *rest)))
    return evaluated[0][1]

  monkeypatch.setattr(run, "evaluate_run", evaluate_one_then_stop)
  with pytest.raises(KeyboardInterrupt):
    reproduce.main(argv)
  kept = os.path.join(results, "paper_mnist_records")
  [name] = [name for name in os.listdir(kept) if name.endswith(".json")]
  row_key = name.removesuffix("_seed0.json")
  assert sorted(os.listdir(kept)) == [name, f"{row_key}_seed0_images.npz"]
  [(plan, metrics)] = evaluated
  record = records.read(kept, row_key, 0, plan.config)
  assert record["source"].startswith(f"its run in {plan.workdir}, recorded ")
  assert record["metrics"] == json.loads(json.dumps(metrics))
  assert not os.path.exists(os.path.join(results, paper_report.REPORT))


def test_records_only_reports_what_has_a_record_and_trains_nothing(dirs: tuple[str, str],
                                                                   tmp_path):
  """--records-only: the rows and seeds with a record make the report (the same lines as
  their runs gave), the others are named and neither trained nor evaluated."""
  runs, _ = dirs
  results = str(tmp_path / "results")
  argv = ["--table", "paper", "--budget", "smoke", "--workdir-root", runs,
          "--results-dir", results, "--rows", "standard", "vamp"]
  with open(reproduce.main(argv)) as f:
    before = f.read()
  os.remove(os.path.join(results, "paper_mnist_records", "vamp_seed0.json"))
  tree = _tree(runs)
  with open(reproduce.main(argv + ["--records-only", "--seeds", "0", "1"])) as f:
    after = f.read()
  assert _tree(runs) == tree  # nothing trained, evaluated or cached
  assert _results_lines(after) == _results_lines(before)[:1]  # standard, seed 0
  assert "Seeds not yet evaluated, left out: standard prior N(0, I), seed 1.\n" in after
  assert "Rows of this table not in this report: VampPrior, K = 500;" in after
  with pytest.raises(records.RecordError, match="no row of this selection has a record"):
    reproduce.main(argv[:-2] + ["vamp", "--records-only"])


def _tree(root: str) -> dict[str, float]:
  return {os.path.join(d, f): os.path.getmtime(os.path.join(d, f))
          for d, _, files in os.walk(root) for f in files}


def test_status_reads_the_runs_and_writes_nothing(dirs: tuple[str, str], tmp_path, capsys):
  """--status: rows not trained say so; an evaluated run gives the report's test NLL; an
  interrupted evaluation, its kept batches; no file is written or touched."""
  runs, results = dirs
  absent = str(tmp_path / "absent")
  reproduce.main(["--table", "paper", "--budget", "smoke", "--workdir-root", absent, "--status"])
  out = capsys.readouterr().out
  lines = [line for line in out.splitlines() if line.startswith("| ")][1:]
  rows = [row for row in tables.TABLES["paper"].rows if not row.extra]  # smoke: no extras
  assert lines == [f"| {row.label} | 0 | not started | — | — |" for row in rows]
  assert out.endswith(f"{len(rows)} runs: 0 evaluated, 0 from records, 0 training now, "
                      f"0 to resume, 0 to evaluate, {len(rows)} not started.\n")
  assert not os.path.exists(absent)

  argv = ["--table", "paper", "--budget", "smoke", "--workdir-root", runs,
          "--results-dir", results, "--rows", "standard", "vamp"]
  with open(reproduce.main(argv)) as f:  # evaluated here unless an earlier test did
    report = f.read()
  before = _tree(runs)
  reproduce.main(argv + ["--status"])
  out = capsys.readouterr().out
  assert _tree(runs) == before
  assert out.endswith("2 runs: 2 evaluated, 0 from records, 0 training now, 0 to resume, "
                      "0 to evaluate, 0 not started.\n")
  for label in ("standard prior N(0, I)", "VampPrior, K = 500"):
    nll = re.search(rf"\n\| {re.escape(label)} \| 1 \| ([0-9.]+) \(n = 1\)", report).group(1)
    assert re.search(rf"\| {re.escape(label)} \| 0 \| [0-9.e-]+ of [0-9.e-]+ epochs \| — \| "
                     rf"done: test NLL {nll} \|", out), (label, out)

  evaluated = os.path.join(runs, "smoke", "mnist_binary", "paper.vae_vamp", run_eval.EVAL_DIR)
  (cached,) = [f for f in os.listdir(evaluated) if f.endswith(".json")]
  partial = os.path.join(evaluated, cached[:-len(".json")] + "_partial_nll")
  os.rename(os.path.join(evaluated, cached), str(tmp_path / cached))
  try:  # as an evaluation stopped after two batches leaves it
    os.makedirs(partial)
    for i in range(2):
      open(os.path.join(partial, f"batch_{'0' * 32}_{i:05d}.npz"), "w").close()
    reproduce.main(argv + ["--status"])
    assert "| VampPrior, K = 500 | 0 | " in (out := capsys.readouterr().out)
    assert "| started: 2 batches kept |" in out and "1 evaluated, " in out
    assert ", 1 to evaluate, " in out
  finally:
    batch_cache.remove(partial)
    os.rename(str(tmp_path / cached), os.path.join(evaluated, cached))


@pytest.mark.parametrize("raised, status, message", [
    (preemption.Preempted(7, signal.SIGTERM), 143,
     "stopped at step 7 (SIGTERM); checkpoint saved; run the same command to resume"),
    (KeyboardInterrupt(), 130, reproduce.INTERRUPTED),
    (records.RecordError("the record of vamp, seed 0 was made with another config"), 2,
     "error: the record of vamp, seed 0 was made with another config"),
])
def test_the_command_line_stops_in_one_line(monkeypatch, capsys, raised, status, message):
  """A stop (SIGTERM or Ctrl-C while training or evaluating) or a user's error: one line on
  stderr and the exit status, no traceback."""
  def stopped(*args):
    raise raised
  monkeypatch.setattr(run, "run_table", stopped)
  monkeypatch.setattr(sys, "argv", ["reproduce", "--table", "paper", "--budget", "smoke"])
  with pytest.raises(SystemExit) as exit_info:
    reproduce.cli()
  assert exit_info.value.code == status
  assert capsys.readouterr().err == message + "\n"


def test_step_timing_sums_logged_intervals(tmp_path):
  """Each train row's interval at its images/s; validation rows and rows without a rate
  (none logged) are skipped; the epoch time is at the median rate."""
  rows = [{"step": 100, "split": "train", "images_per_sec": 1000.0},
          {"step": 100, "split": "validation", "loss": 90.0},
          {"step": 200, "split": "train", "images_per_sec": 500.0},
          {"step": 400, "split": "train", "images_per_sec": 250.0}]
  with open(tmp_path / "metrics.jsonl", "w") as f:
    f.write("".join(json.dumps(r) + "\n" for r in rows))
  timing = run.step_timing(str(tmp_path), batch_size=10, train_size=5000)
  assert timing["step_seconds"] == pytest.approx(100 * 10 / 1000 + 100 * 10 / 500
                                                 + 200 * 10 / 250)
  assert timing["epoch_seconds"] == pytest.approx(5000 / 500)
  assert run.step_timing(str(tmp_path / "none"), 10, 5000)["step_seconds"] == 0.0


def measured_results(table: tables.Table, measured: dict[str, tuple[int, float]]
                     ) -> list[run.RowResult]:
  """Results of the table's rows in `measured` (key: (active units, LPIPS)), without runs."""
  return [run.RowResult(row, None, 0, {"active_units": measured[row.key][0],
                                       "lpips": measured[row.key][1]}, {})
          for row in table.rows if row.key in measured]


def test_closest_setting_is_the_smallest_relative_gap_to_the_study():
  """Table 1's settings ranked by Σ |ΔAU|/latent + |ΔLPIPS|/LPIPS_study, computed here by hand."""
  table = tables.TABLES[1]
  measured = {  # key: (active units, LPIPS alex); the study: vae 14/40, 0.0394; vamp 34/40, 0.0372
      "vae": (0, 0.0900), "vamp": (0, 0.0880),
      "vae_s03": (12, 0.0400), "vamp_s03": (30, 0.0370),
      "vae_s01": (40, 0.0200), "vamp_s01": (40, 0.0190),
      "vae_bernoulli": (20, 0.0500), "vamp_bernoulli": (36, 0.0450)}
  results = measured_results(table, measured)
  by_key = {r.row.key: r for r in results}
  expected_s03 = 2 / 40 + 0.0006 / 0.0394 + 4 / 40 + 0.0002 / 0.0372
  setting_s03 = next(c for c in table.claims if "σ = 0.3" in c.statement)
  assert claim_distance(setting_s03, by_key) == pytest.approx(expected_s03)
  lines = closeness_section(list(table.claims), results)
  assert lines[-2] == f"Closest: **{setting_s03.statement}**"
  assert sum(line.startswith("| ") and "distance" not in line for line in lines) == 4


def test_a_claim_between_two_collapsed_models_does_not_hold():
  """Two models at 0 active units both decode the mean image: a lower LPIPS by noise alone
  is not the claim holding."""
  table = tables.TABLES[1]
  measured = {"vae": (0, 0.28694), "vamp": (0, 0.28690)}
  results = measured_results(table, measured)
  lines = claim_section(table.claims[0], results)
  assert "**Our runs: not supported.**" in lines
  assert sum("does not hold (both collapsed)" in line for line in lines) == 2


@pytest.mark.skipif(not os.path.isdir(fashion_mnist.DEFAULT_PATH),
                    reason="dataset-fashion-mnist is not installed (apt-get install "
                    "dataset-fashion-mnist)")
def test_smoke_fashion_report_with_two_seeds(dirs: tuple[str, str]):
  """--table fashion --seeds 0 1: each row trained per seed in its own workdir, the report
  beside the Exemplar-VAE figures with each row's test NLL as mean ± sd over n = 2."""
  runs, results = dirs
  path = reproduce.main(["--table", "fashion", "--budget", "smoke", "--seeds", "0", "1",
                         "--workdir-root", runs, "--results-dir", results])
  assert path == os.path.join(results, "paper_fashion_mnist.md")
  assert sorted(os.listdir(os.path.join(runs, "smoke", "fashion_mnist_binary"))) == [
      "paper.vae_standard", "paper.vae_standard_seed-1", "paper.vae_vamp",
      "paper.vae_vamp_seed-1"]
  with open(path) as f:
    report = f.read()
  for row in tables.TABLES["fashion"].rows:
    (source, nll), = row.references
    assert f"| {row.label} | {source} | {nll:.2f} |" in report
    assert re.search(rf"\| {re.escape(row.label)} \| 2 \| [0-9.]+ ± [0-9.]+ \(n = 2\) \|",
                     report)
    assert f"**{row.label}, seed 1**" in report
  assert re.search(r"\*\*The VampPrior beats the standard prior \(Fashion-MNIST\): "
                   r"(holds|does not hold|undecided)\*\*", report)
  assert "fashion_mnist_binary" in report and "Exemplar-VAE" in report


def test_kept_images_come_back_as_the_8_bit_pixels_a_figure_shows(tmp_path):
  images = {"samples": np.random.default_rng(0).uniform(-0.1, 1.1, (16, 28, 28, 1)),
            "pseudo": np.linspace(0.0, 1.0, 8 * 784).reshape(8, 28, 28, 1)}
  records.write_images(str(tmp_path), "vamp", 2, images)
  back = records.read_images(str(tmp_path), "vamp", 2)
  assert back.keys() == images.keys()
  for name, original in images.items():
    assert back[name].shape == original.shape
    np.testing.assert_allclose(back[name], np.clip(original, 0, 1), atol=0.5 / 255 + 1e-7)
  assert records.read_images(str(tmp_path), "vamp", 1) is None
