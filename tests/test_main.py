"""The command line, as a user runs it: train, run again to resume, sample."""

import json
import os
import subprocess
import sys

from tests.conftest import ROOT

TINY = ["--config.latent_dim=4", "--config.num_components=4", "--config.batch_size=8",
        "--config.log_every_steps=1", "--config.eval_every_steps=0",
        "--config.num_eval_examples=16",
        "--config.checkpoint_every_steps=2", "--config.num_samples=4"]


def run_main(*args):
  env = {**os.environ, "VAMPJAX_COMPILATION_CACHE": os.path.join(ROOT, ".pytest_cache", "xla")}
  return subprocess.run([sys.executable, os.path.join(ROOT, "main.py"), *args],
                        capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)


def test_train_resume_and_sample(tmp_path):
  workdir = str(tmp_path / "run")
  common = ["--config=configs/mnist_vamp.py", f"--workdir={workdir}", *TINY]
  first = run_main(*common, "--config.num_train_steps=2")
  assert first.returncode == 0, first.stderr
  assert "train" in first.stderr and "img_s=" in first.stderr  # the progress bar
  second = run_main(*common, "--config.num_train_steps=3")
  assert second.returncode == 0, second.stderr
  assert "Resuming from the checkpoint at step 2" in second.stdout
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    records = [json.loads(line) for line in f]
  # Steps 1, 2 (then the final evaluation at 2), resumed: step 3 and its final evaluation.
  assert [(r["step"], r["split"]) for r in records] == [
      (1, "train"), (2, "train"), (2, "test"), (3, "train"), (3, "test")]
  sample = run_main(*common, "--mode=sample")
  assert sample.returncode == 0, sample.stderr
  assert f"wrote {workdir}/samples.png (latest checkpoint, step 3)" in sample.stdout
  assert os.path.getsize(os.path.join(workdir, "samples.png")) > 0


def test_sample_without_a_checkpoint_fails_clearly(tmp_path):
  result = run_main("--config=configs/mnist_vamp.py", f"--workdir={tmp_path}", "--mode=sample")
  assert result.returncode != 0
  assert "no checkpoint" in result.stderr
