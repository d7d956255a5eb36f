"""The device check's dry run: every part runs at tiny sizes and is summarised in one line."""

import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

from tests.conftest import ROOT

# The parts issue 32 asks for (the script is not imported: its absl flags would clash with
# other benchmark scripts' flags in one test process).
PARTS = ["tests", "train_step_float32", "train_step_bfloat16", "vs_pytorch", "is_nll",
         "steps_per_call", "convhvae_vamp_nll"]


def test_dry_run_runs_every_part_and_writes_the_summary(tmp_path):
  out = tmp_path / "check"
  # A run an earlier check left in the convHVAE part's workdir (device_check._run_dir), of
  # a config since changed, must neither refuse the part nor be summarised: it starts afresh.
  digest = hashlib.sha1(str(out.resolve()).encode()).hexdigest()[:12]
  stale = pathlib.Path(tempfile.gettempdir()) / f"convhvae_vamp_{digest}"
  stale.mkdir(exist_ok=True)
  (stale / "config.json").write_text(json.dumps({"pseudo_param": "logits"}))
  (stale / "metrics.jsonl").write_text(json.dumps({"step": 4, "split": "train"}) + "\n")
  (stale / "eval.json").write_text(json.dumps({"is_nll_nats": 12345.0}))
  done = subprocess.run([sys.executable, "-m", "benchmarks.device_check", "--dry-run",
                         f"--out={out}", "--budget_s=1800"], cwd=ROOT, capture_output=True,
                        text=True, timeout=2000, check=False)
  assert done.returncode == 0, done.stderr[-3000:]
  with open(out / "summary.json") as f:
    report = json.load(f)
  assert [r["part"] for r in report["parts"]] == PARTS
  for result in report["parts"]:
    assert result["status"] == "ok", result
    assert os.path.exists(out / f"{result['part']}.log")
  lines = {r["part"]: r["summary"] for r in report["parts"]}
  assert "1 passed" in lines["tests"]
  assert lines["train_step_float32"].startswith("paper.vae_vamp ")
  assert "paper.vae_vamp@2" in lines["steps_per_call"]
  assert lines["convhvae_vamp_nll"].startswith("step 4:") and "nll" in lines["convhvae_vamp_nll"]
  assert "12345" not in lines["convhvae_vamp_nll"]
  # ... and the part ran in the workdir seeded above (a path formula drifted from
  # device_check._run_dir's would leave it untouched and test nothing).
  assert json.loads((stale / "eval.json").read_text())["is_nll_nats"] != 12345.0
  shutil.rmtree(stale)
  with open(out / "summary.md") as f:
    assert f.read().count("\n| ") == len(PARTS) + 1  # header and one row a part
  assert done.stdout.count(" s  ") >= len(PARTS)  # one printed line a part
