"""Every script of benchmarks/ runs, as `python -m benchmarks.<name>`, in its tiny mode (a few
images and components: seconds, numbers that mean nothing), so none can rot unseen. The
PyTorch ones need torch, which CI installs (.ci/run)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import ROOT


def run(name, *args, timeout=600):
  """stdout of `python -m benchmarks.<name> args` from the repository root; fails on an error."""
  done = subprocess.run([sys.executable, "-m", f"benchmarks.{name}", *args], cwd=ROOT,
                        capture_output=True, text=True, timeout=timeout, check=False)
  assert done.returncode == 0, done.stderr[-3000:]
  return done.stdout


def read(path):
  with open(path) as f:
    return json.load(f)


def test_benchmarks_is_a_package_without_path_edits():
  for name in os.listdir(os.path.join(ROOT, "benchmarks")):
    if name.endswith(".py"):
      with open(os.path.join(ROOT, "benchmarks", name)) as f:
        text = f.read()
      assert "sys.path" not in text and "python benchmarks/" not in text, name


def test_train_step(tmp_path):
  out = str(tmp_path / "step.json")
  run("train_step", "--tiny", "--configs=mnist_vamp", "--steps=2", f"--out={out}")
  result = read(out)["results"][0]
  assert (result["config"], result["batch_size"], result["num_components"]) == ("mnist_vamp", 4, 4)
  assert len(result["step_s"]) == 2 and result["gflop_per_step"] > 0


def test_evaluation_estimates_agree_with_the_original_approach(tmp_path):
  out = str(tmp_path / "evaluation.json")
  run("evaluation", "--tiny", "--images=4", "--baseline_images=2", "--samples=200",
      "--repeats=1", "--timed_chunks=2", f"--out={out}")
  report = read(out)
  assert len(report["results"]) == 3 and report["speedup"] > 0
  # Two independent 200-sample estimates of the same log p(x) of a fresh model.
  np.testing.assert_allclose(report["log_px_ours"], report["log_px_baseline"], atol=5.0)


@pytest.mark.parametrize("flags", [[], ["--nll_samples=8"]])
def test_op_profile(tmp_path, flags):
  out = str(tmp_path / "profile.json")
  run("op_profile", "--tiny", "--config=mnist_vamp", "--calls=1", "--top=3", f"--out={out}",
      *flags)
  profile = read(out)
  assert ("IS-NLL" in profile["program"]) == bool(flags) and profile["ops"]


def test_is_nll_variants_of_one_chunk_size_give_the_same_estimate(tmp_path):
  out = str(tmp_path / "is_nll.json")
  run("is_nll", "--tiny", "--configs=paper.vae_vamp", "--samples=8", "--rounds=1",
      "--variants=map4,loop4,bce4,logsig4,priordot4,map8", f"--out={out}")
  rows = {r["variant"]: r for r in read(out)["results"][0]["rows"]}
  assert all(len(r["seconds"]) == 1 and r["gflop_per_s"] > 0 for r in rows.values())
  for name in ("loop4", "bce4", "logsig4", "priordot4"):  # the same samples as map4
    assert rows[name]["max_abs_diff_nats"] < 1e-3, name
  for name in ("bce4", "logsig4", "priordot4"):  # ... through the replaced function
    assert rows[name]["replacement_traced"] > 0, name
  assert rows["map4"]["replacement_traced"] == rows["loop4"]["replacement_traced"] == 0
  assert rows["map8"]["max_abs_diff_nats"] > 1e-2  # other samples
  assert os.path.exists(str(tmp_path / "is_nll.md"))


def test_malloc_settings(tmp_path):
  out = str(tmp_path / "malloc.json")
  run("malloc_settings", "--tiny", "--configs=mnist_vamp", "--rounds=1", "--steps=1",
      f"--out={out}")
  settings = read(out)["results"][0]["settings"]
  assert len(settings) == 3 and all(len(s["step_s"]) == 1 for s in settings.values())
  assert os.path.exists(str(tmp_path / "malloc.md"))


def test_scaling(tmp_path):
  out = str(tmp_path / "scaling.json")
  run("scaling", "--tiny", "--devices=1,2", "--repeats=1", f"--out={out}")
  rows = read(out)["rows"]
  assert [(r["n"], r["K"], r["B"]) for r in rows] == [(1, 4, 4), (2, 4, 4)]


def test_time_to_first_step():
  assert "one step via main.py" in run("time_to_first_step", "--tiny", "--repeats=1")


@pytest.mark.parametrize("name", ["conv_layers", "transposed_conv_forms"])
def test_conv_timings(name):
  assert " ms" in run(name, "--tiny")


def test_data_pipeline():
  printed = run("data_pipeline", "--num_images=40", "--batch_size=4", "--steps=3")
  assert "mnist: load" in printed and "from the .npy cache" in printed


def test_vs_pytorch_check_and_timing(tmp_path):
  pytest.importorskip("torch")  # CI installs it (.ci/run)
  run("vs_pytorch", "--tiny", "--check", "--configs=mnist_vamp,paper.hvae_vamp")
  out = str(tmp_path / "vs.json")
  run("vs_pytorch", "--tiny", "--configs=mnist_vamp", "--rounds=1", "--steps=1", "--nocompile",
      f"--out={out}")
  result = read(out)["results"][0]
  assert set(result["step_s"]) == {"vampjax", "torch_eager"} and result["num_components"] == 4


def test_conv_vs_pytorch(tmp_path):
  pytest.importorskip("torch")  # CI installs it (.ci/run)
  out = str(tmp_path / "conv.json")
  run("conv_vs_pytorch", "--tiny", "--configs=celeba_vamp_resnet", "--rounds=1", "--steps=1",
      f"--out={out}")
  result = read(out)["results"][0]
  assert result["layers"] and set(result["step_s"]) == {"jax", "torch"}
