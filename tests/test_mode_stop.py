"""Ctrl-C in --mode=eval, sample or figures: one line naming what was kept whole, exit
status 130, no traceback and no half-written file; and these modes name their checkpoint."""

import os
import signal
import sys

import numpy as np
import pytest
from tqdm import tqdm

from benchmarks.stop_latency import Training
from tests.test_bad_input import tree
from tests.test_main import TINY, run_main
from tests.test_stop_latency import CACHE
from vampjax import figures, jsonio, modes
from vampjax.metrics import batch_cache, evaluate


def test_ctrl_c_during_eval_is_one_line_status_130_and_writes_no_output(tmp_path):
  workdir = str(tmp_path / "run")
  command = ["--config=configs/mnist_quickstart.py", f"--workdir={workdir}", *TINY,
             "--config.eval.num_examples=2000"]  # long enough that the signal lands in it
  trained = run_main(*command, "--config.num_train_steps=2")
  assert trained.returncode == 0, trained.stderr
  shown = run_main(*command, "--mode=figures")
  assert shown.returncode == 0, shown.stderr
  assert "(latest checkpoint, step 2)" in shown.stdout.splitlines()[-1], shown.stdout
  before = tree(workdir)

  evaluation = Training([*command, "--mode=eval"], env=CACHE)
  evaluation.wait_for_text("eval:")  # its progress bar: the evaluation has begun
  evaluation.stop(signal.SIGINT)
  assert "eval of the latest checkpoint, step 2: 2000 test images: " in evaluation.stdout
  assert evaluation.process.returncode == 130, evaluation.stderr
  assert "Traceback" not in evaluation.stderr, evaluation.stderr
  kept = batch_cache.BatchCache.existing(os.path.join(workdir, evaluate.PARTIAL_DIR))
  resume_note = (f"; the next --mode=eval resumes after the {len(kept)} batches it finished "
                 f"(kept in {workdir}/eval_partial)") if kept else ""
  assert evaluation.stderr.strip().splitlines()[-1] == (
      "stopped: --mode=eval interrupted (SIGINT); nothing written" + resume_note)
  assert [path for path in tree(workdir) if evaluate.PARTIAL_DIR not in path] == before


def test_an_interrupted_mode_names_the_files_it_wrote_whole(tmp_path, monkeypatch):
  """A picture written before the Ctrl-C is named; the one it was writing leaves nothing."""
  workdir = str(tmp_path)
  pixels = np.zeros((4, 8, 8, 1), np.float32)

  def interrupted_mode(config, workdir):
    del config
    figures.save_image_grid(os.path.join(workdir, figures.FIGURES_DIR, "a.png"), pixels)
    with jsonio.atomic_path(os.path.join(workdir, "b.png")) as tmp:
      figures.plt.imsave(tmp, pixels[0, ..., 0], format="png")
      raise KeyboardInterrupt

  monkeypatch.setitem(modes.MODES, "figures", interrupted_mode)
  with pytest.raises(modes.Interrupted) as stopped:
    modes.run_interruptible("figures", None, workdir)
  path = os.path.join(workdir, figures.FIGURES_DIR, "a.png")
  assert str(stopped.value) == (
      f"stopped: --mode=figures interrupted (SIGINT); kept the complete {path}")
  assert stopped.value.exit_status == 130
  assert tree(workdir) == [os.path.join(workdir, figures.FIGURES_DIR), path]


def test_an_interrupted_eval_says_where_its_finished_batches_are(tmp_path, monkeypatch):
  workdir = str(tmp_path)

  def interrupted_eval(config, workdir):
    del config
    cache = batch_cache.BatchCache(os.path.join(workdir, evaluate.PARTIAL_DIR), "key")
    for index in range(2):
      cache.put(index, {"sums": {"count": np.float32(5)}})
    raise KeyboardInterrupt

  monkeypatch.setitem(modes.MODES, "eval", interrupted_eval)
  with pytest.raises(modes.Interrupted) as stopped:
    modes.run_interruptible("eval", None, workdir)
  assert str(stopped.value) == (
      "stopped: --mode=eval interrupted (SIGINT); nothing written; the next --mode=eval "
      f"resumes after the 2 batches it finished (kept in {workdir}/eval_partial)")


def test_a_bar_left_open_by_the_ctrl_c_has_its_line_ended(monkeypatch, capsys):
  """A Ctrl-C landing while a progress bar is built (before its `with` can close it) leaves
  the bar drawn without its newline; the stop message must still start a line."""
  def interrupted_while_building_a_bar(config, workdir):
    del config, workdir
    bar = tqdm(total=250, desc="eval", file=sys.stderr)  # drawn, never closed
    raise KeyboardInterrupt(bar)  # keeps it alive, as the frame it was built in does

  monkeypatch.setitem(modes.MODES, "eval", interrupted_while_building_a_bar)
  with pytest.raises(modes.Interrupted) as stopped:  # holds the bar, as main's handler does
    modes.run_interruptible("eval", None, "unused")
  drawn = capsys.readouterr().err
  assert drawn.startswith("\reval:   0%") and drawn.endswith("\n"), (repr(drawn), stopped)
