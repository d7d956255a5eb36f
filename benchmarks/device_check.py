"""The accelerator check: every measurement issue 32 asks of a lent GPU, in one command.

  python -m benchmarks.device_check                # on the GPU: at most ~8 minutes
  python -m benchmarks.device_check --dry-run      # tiny sizes, on any machine (CI)

Parts, each in a process of its own with its own time limit (so that one failure or
overrun leaves the others running): the accelerator-relevant tests; the train step of the
study configs and the paper models in float32 and bfloat16 (benchmarks/train_step.py);
vampjax against PyTorch eager and torch.compile side by side (benchmarks/vs_pytorch.py);
the importance-sampled NLL's speed (S = 5000, `is_nll_speed`); a steps_per_call sweep
(benchmarks/steps_per_call.py); a short convhvae_vamp training and its NLL on 1000 test
images (main.py). Everything lands in one folder (--out): each part's log and JSON or
markdown, and summary.json / summary.md with one line per part, also printed. How to
run it on a lent machine (wheels to carry, the command): docs/device_check.md.
"""

from __future__ import annotations

import dataclasses
import datetime
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Callable

from absl import app, flags

flags.DEFINE_bool("dry-run", False, "Tiny sizes: checks that every part runs, in seconds.")
flags.DEFINE_string("out", None, "Results folder; default benchmarks/results/device_check_"
                    "<date> (dry run: a temporary one under /tmp).")
flags.DEFINE_float("budget_s", 480, "Time for all parts together; each also has its own.")
flags.DEFINE_list("only", [], "Run only these parts (default: all).")
flags.DEFINE_string("is_nll_worker", None, "Internal: the is_nll part, writing into this folder.")
FLAGS = flags.FLAGS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STUDY = ["mnist_vae", "mnist_vamp", "celeba_vae_conv", "celeba_vamp_conv",
         "celeba_vamp_resnet"]
PAPER = ["paper.vae_standard", "paper.vae_vamp", "paper.hvae_standard", "paper.hvae_vamp",
         "paper.convhvae_standard", "paper.convhvae_vamp"]
TESTS = ["tests/test_code_paths.py", "tests/test_multi_step.py", "tests/test_fast_convs.py",
         "tests/test_numerics.py", "tests/test_hvae.py", "tests/test_likelihoods.py"]


@dataclasses.dataclass
class Part:
  """One measurement: its command (full and dry-run), time limit and one-line summary."""

  name: str
  command: Callable[[str, bool], list[str]]  # (folder, dry_run) -> argv
  limit_s: float
  summary: Callable[[str, str], str]  # (folder, stdout) -> one line


def _module(name: str, *args: str) -> list[str]:
  return [sys.executable, "-m", f"benchmarks.{name}", *args]


def _last_line(_: str, stdout: str) -> str:
  """The last line of `stdout` that is not an absl log line (I1205 12:00:00.0 ...)."""
  lines = [line for line in stdout.splitlines()
           if line.strip() and not re.match(r"[IWE]\d{4} \d", line)]
  return lines[-1].strip() if lines else "(no output)"


def _json(path: str) -> dict:
  with open(path) as f:
    return json.load(f)


def _train_step_summary(dtype: str) -> Callable[[str, str], str]:
  def summary(folder: str, stdout: str) -> str:
    path = os.path.join(folder, f"train_step_{dtype}.json")
    if not os.path.exists(path):
      return _last_line(folder, stdout)
    return ", ".join(f"{r['config']} {1e3 * r['step_median_s']:.2f} ms"
                     for r in _json(path)["results"])
  return summary


def _vs_pytorch_summary(folder: str, stdout: str) -> str:
  path = os.path.join(folder, "vs_pytorch.json")
  if not os.path.exists(path):
    return _last_line(folder, stdout)
  return ", ".join(f"{r['config']} " + " ".join(f"{name} {q['median']:.2f}×"
                                                 for name, q in r["ratio"].items())
                   for r in _json(path)["results"]) + " (PyTorch time / vampjax time)"


def _steps_per_call_summary(folder: str, stdout: str) -> str:
  path = os.path.join(folder, "steps_per_call.json")
  if not os.path.exists(path):
    return _last_line(folder, stdout)
  return ", ".join(f"{r['config']}@{r['steps_per_call']} {r['steps_per_s']:.0f} steps/s"
                   for r in _json(path)["rows"])


def _train_and_eval(folder: str, dry: bool) -> list[str]:
  """convhvae_vamp: a short training (100 steps a call) and the test NLL of 1000 images
  (S = 1000 importance samples, to fit the check's time; the paper's 5000 in is_nll);
  its checkpoints stay out of the results folder."""
  workdir = _run_dir(folder)
  steps, images, samples = (4, 10, 10) if dry else (2000, 1000, 1000)
  common = [f"--config={ROOT}/configs/paper/convhvae_vamp.py", f"--workdir={workdir}",
            f"--config.num_train_steps={steps}", "--config.steps_per_call=100",
            f"--config.eval.num_examples={images}", f"--config.eval.is_samples={samples}",
            "--config.log_every_steps=100", "--config.num_samples=16"]
  main = [sys.executable, os.path.join(ROOT, "main.py")]
  if dry:
    common += ["--config.batch_size=8", "--config.num_components=8",
               "--config.checkpoint_every_steps=2", "--config.eval_every_steps=0"]
  # One shell line: a fresh workdir (a run left by an earlier check would be resumed, or
  # refused if the config changed since), train, then evaluate it.
  return ["bash", "-c", f"rm -rf {_quote(workdir)} && " + " ".join(map(_quote, main + common))
          + " && " + " ".join(map(_quote, main + common + ["--mode=eval"]))]


def _quote(arg: str) -> str:
  return "'" + arg.replace("'", "'\\''") + "'"


def _run_dir(folder: str) -> str:
  """The convHVAE part's workdir, outside the results `folder` and named after its whole path
  (two checks into folders of the same name must not share, or delete, each other's run)."""
  digest = hashlib.sha1(os.path.abspath(folder).encode()).hexdigest()[:12]
  return os.path.join(tempfile.gettempdir(), f"convhvae_vamp_{digest}")


def _nll_summary(folder: str, stdout: str) -> str:
  """The NLL from eval.json, which is copied into `folder` with the run's metrics."""
  for name in ("eval.json", "metrics.jsonl"):
    if os.path.exists(os.path.join(_run_dir(folder), name)):
      shutil.copy(os.path.join(_run_dir(folder), name),
                  os.path.join(folder, f"convhvae_vamp_{name}"))
  path = os.path.join(folder, "convhvae_vamp_eval.json")
  if not os.path.exists(path):
    return _last_line(folder, stdout)
  results = _json(path)
  nll = {k: v for k, v in results.items() if "nll" in k.lower() and isinstance(v, float)}
  return (f"step {results.get('checkpoint_step')}: " +
          ", ".join(f"{k} {v:.2f}" for k, v in nll.items()))


def is_nll_speed(folder: str, dry: bool) -> None:
  """The importance-sampled NLL's speed (S = 5000, the paper's) for paper.vae_vamp and
  paper.convhvae_vamp on 100 images, from a fresh init (the cost does not depend on
  training), with a projection to the 10k test images; writes <folder>/is_nll.json."""
  import importlib  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from vampjax.metrics import likelihood, masked_eval  # pylint: disable=g-import-not-at-top
  from vampjax.models import build_model  # pylint: disable=g-import-not-at-top
  from vampjax.state import create_train_state  # pylint: disable=g-import-not-at-top

  images, samples = (8, 100) if dry else (100, 5000)
  results = []
  for name in ("paper.vae_vamp", "paper.convhvae_vamp"):
    config = importlib.import_module(f"configs.{name}").get_config()
    config.pseudo_init = "random"
    model = build_model(config)
    params = create_train_state(config, model, jax.random.key(0)).params
    x = (np.random.default_rng(0).random((images, 28, 28, 1)) < 0.2).astype(np.float32)
    prior = masked_eval.prior_components_fn(model)(params)
    estimate = lambda i: jax.block_until_ready(likelihood.vae_log_likelihood(  # pylint: disable=cell-var-from-loop
        model, params, x, jax.random.key(i), prior, config, samples, config.eval.is_chunk))
    start = time.perf_counter()
    estimate(0)
    first_s = time.perf_counter() - start
    seconds = []
    for i in range(1 if dry else 3):
      start = time.perf_counter()
      estimate(i + 1)
      seconds.append(time.perf_counter() - start)
    per_image = float(np.median(seconds)) / images
    results.append({"config": name, "images": images, "samples": samples,
                    "first_call_s": first_s, "seconds": seconds,
                    "ms_per_image": 1e3 * per_image, "test_10k_s": 1e4 * per_image})
  with open(os.path.join(folder, "is_nll.json"), "w") as f:
    json.dump({"device": str(jax.devices()[0]), "results": results}, f, indent=2)


def _is_nll_summary(folder: str, stdout: str) -> str:
  path = os.path.join(folder, "is_nll.json")
  if not os.path.exists(path):
    return _last_line(folder, stdout)
  return ", ".join(f"{r['config']} S={r['samples']} {r['ms_per_image']:.2f} ms/image "
                   f"({r['test_10k_s']:.0f} s for 10k)" for r in _json(path)["results"])


def parts() -> list[Part]:
  def train_step(dtype: str, limit_s: float) -> Part:
    return Part(f"train_step_{dtype}", lambda folder, dry: _module(
        "train_step", f"--configs={'paper.vae_vamp' if dry else ','.join(STUDY + PAPER)}",
        f"--steps={1 if dry else 10}", f"--dtype={dtype}",
        f"--out={folder}/train_step_{dtype}.json"), limit_s, _train_step_summary(dtype))

  return [
      Part("tests", lambda folder, dry: [
          sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
          *(["tests/test_code_paths.py::test_an_unknown_backend_name_is_refused"] if dry
            else TESTS)], 60, _last_line),
      train_step("float32", 80),
      train_step("bfloat16", 60),
      Part("vs_pytorch", lambda folder, dry: _module(
          "vs_pytorch", f"--configs={'paper.vae_vamp' if dry else ','.join(STUDY + PAPER)}",
          f"--rounds={1 if dry else 3}", f"--steps={1 if dry else 5}",
          f"--out={folder}/vs_pytorch.json"), 90, _vs_pytorch_summary),
      Part("is_nll", lambda folder, dry: _module(
          "device_check", f"--is_nll_worker={folder}", *(["--dry-run"] if dry else [])),
           45, _is_nll_summary),
      Part("steps_per_call", lambda folder, dry: _module(
          "steps_per_call",
          f"--configs={'paper.vae_vamp' if dry else 'paper.vae_vamp,paper.hvae_vamp'}",
          f"--steps_per_call={'1,2' if dry else '1,10,100'}", f"--steps={2 if dry else 500}",
          f"--rounds={1 if dry else 3}", f"--out={folder}/steps_per_call.json"),
           45, _steps_per_call_summary),
      Part("convhvae_vamp_nll", _train_and_eval, 100, _nll_summary),
  ]


def run_part(part: Part, folder: str, dry: bool, limit_s: float) -> dict:
  """Runs one part to its end or its limit; its output goes to <folder>/<name>.log."""
  env = {**os.environ, "PYTHONUNBUFFERED": "1",
         "PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.path.join(ROOT, "benchmarks"),
                                                     os.environ.get("PYTHONPATH")]))}
  start = time.perf_counter()
  try:
    done = subprocess.run(part.command(folder, dry), cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=limit_s, check=False)
    status, stdout, stderr = ("ok" if done.returncode == 0 else f"exit {done.returncode}",
                              done.stdout, done.stderr)
  except subprocess.TimeoutExpired as stopped:
    status = f"timeout after {limit_s:.0f} s"
    stdout, stderr = (_text(stopped.stdout), _text(stopped.stderr))
  seconds = time.perf_counter() - start
  with open(os.path.join(folder, f"{part.name}.log"), "w") as f:
    f.write(f"$ {' '.join(part.command(folder, dry))}\n{stdout}\n--- stderr ---\n{stderr}")
  try:
    summary = part.summary(folder, stdout)
  except Exception as error:  # pylint: disable=broad-except
    summary = f"no summary ({type(error).__name__}: {error})"
  if status != "ok":
    summary = f"{summary} | {_last_line(folder, stderr)}"
  return {"part": part.name, "status": status, "seconds": round(seconds, 1),
          "summary": summary}


def _text(output: bytes | str | None) -> str:
  return output.decode(errors="replace") if isinstance(output, bytes) else (output or "")


def to_markdown(report: dict) -> str:
  lines = [f"# Device check {report['date']}{' (dry run)' if report['dry_run'] else ''}", "",
           f"{report['python']}; JAX {report['jax']} on {report['device']}", "",
           "| part | status | seconds | summary |", "|---|---|---|---|"]
  lines += [f"| {r['part']} | {r['status']} | {r['seconds']} | {r['summary']} |"
            for r in report["parts"]]
  return "\n".join(lines) + "\n"


def main(_):
  import jax  # pylint: disable=g-import-not-at-top  (after absl parsed the flags)

  dry = FLAGS["dry-run"].value
  if FLAGS.is_nll_worker:
    is_nll_speed(FLAGS.is_nll_worker, dry)
    return
  folder = FLAGS.out or (os.path.join("/tmp", f"device_check_dry_{os.getpid()}") if dry else
                         os.path.join(ROOT, "benchmarks", "results",
                                      f"device_check_{datetime.date.today().isoformat()}"))
  os.makedirs(folder, exist_ok=True)
  report = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "dry_run": dry,
            "python": sys.version.split()[0], "jax": jax.__version__,
            "device": str(jax.devices()[0]), "parts": []}
  deadline = time.perf_counter() + FLAGS.budget_s
  for part in parts():
    if FLAGS.only and part.name not in FLAGS.only:
      continue
    left = deadline - time.perf_counter()
    limit = left if dry else min(part.limit_s, left)  # a CPU's dry run: sizes, not speed
    result = (run_part(part, folder, dry, limit) if left > 5 else
              {"part": part.name, "status": "skipped: budget spent", "seconds": 0,
               "summary": ""})
    report["parts"].append(result)
    print(f"{result['part']:18s} {result['status']:>12s} {result['seconds']:6.1f} s  "
          f"{result['summary']}", flush=True)
  with open(os.path.join(folder, "summary.json"), "w") as f:
    json.dump(report, f, indent=2)
  with open(os.path.join(folder, "summary.md"), "w") as f:
    f.write(to_markdown(report))
  print(f"wrote {folder}/summary.md ({len(glob.glob(os.path.join(folder, '*')))} files)")


if __name__ == "__main__":
  app.run(main)
