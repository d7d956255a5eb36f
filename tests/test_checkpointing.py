"""Damaged checkpoints of a real (tiny) run: one line naming the step and the file; eval and
sample name the readable steps, training resumes from the newest readable one."""

import os
import re
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest

from tests.conftest import ROOT, tiny_config
from vampjax import checkpointing, train
from vampjax.state import restore_model
from vampjax.checkpointing import CHECKSUM_FILE, CheckpointError, UnreadableCheckpointError

CONFIG = dict(eval_every_steps=0, log_every_steps=1)  # checkpoints at steps 2 and 4


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  """A finished 4-step run and its step-4 parameters."""
  workdir = str(tmp_path_factory.mktemp("run"))
  state = train.train_and_evaluate(tiny_config(**CONFIG), workdir)
  return workdir, jax.device_get(state.params)


def copy_of(run, tmp_path):
  workdir = str(tmp_path / "run")
  shutil.copytree(run[0], workdir)
  return workdir


def data_files(workdir, step):
  """The step's array data files, smallest first (orbax's OCDBT chunks)."""
  folder = os.path.join(workdir, "checkpoints", str(step), "default", "ocdbt.process_0", "d")
  return sorted((os.path.join(folder, name) for name in os.listdir(folder)), key=os.path.getsize)


def zero_64_bytes(path):
  with open(path, "r+b") as f:
    f.seek(os.path.getsize(path) // 2)
    f.write(bytes(64))


def truncate(path):
  with open(path, "r+b") as f:
    f.truncate(os.path.getsize(path) // 2)


DAMAGE = {  # name: (how, which data file, what the message says)
    "zeroed_largest": (zero_64_bytes, -1, "is damaged"),
    "zeroed_smallest": (zero_64_bytes, 0, "is damaged"),  # orbax alone reads it without error
    "truncated": (truncate, -1, "has "),
    "removed": (os.remove, -1, "is missing"),
}


def test_training_records_a_checksum_of_every_file(run):
  mngr = checkpointing.manager(run[0])
  assert mngr.all_steps() == [2, 4]
  for step in mngr.all_steps():
    assert os.path.exists(os.path.join(checkpointing.step_dir(mngr, step), CHECKSUM_FILE))
    checkpointing.verify(mngr, step)


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_latest_checkpoint_names_step_file_and_readable_steps(run, tmp_path, damage):
  how, which, problem = DAMAGE[damage]
  workdir = copy_of(run, tmp_path)
  path = data_files(workdir, 4)[which]
  how(path)
  with pytest.raises(UnreadableCheckpointError) as error:
    restore_model(tiny_config(**CONFIG), workdir)
  message = str(error.value)
  assert "\n" not in message
  assert message.startswith("the checkpoint of step 4 in ")
  assert f"{path} {problem}" in message
  assert message.endswith("the saved steps [2] pass their checksums: pick one with "
                          "--config.eval.checkpoint_step=2.")
  _, state = restore_model(tiny_config(**CONFIG), workdir, 2)  # the named way out
  assert int(state.step) == 2


def test_checkpoint_saved_without_checksums_reports_orbax_error_in_one_line(run, tmp_path):
  workdir = copy_of(run, tmp_path)
  os.remove(os.path.join(workdir, "checkpoints", "4", CHECKSUM_FILE))
  truncate(data_files(workdir, 4)[-1])  # zeroed bytes can land where orbax does not look
  with pytest.raises(UnreadableCheckpointError,
                     match=r"^the checkpoint of step 4 in .*: \w+Error: .*Error reading "
                           r"\"(params|opt_state)\..*checkpoint_step=2\.$"):
    restore_model(tiny_config(**CONFIG), workdir)


def test_training_resumes_from_the_newest_readable_checkpoint(run, tmp_path, capsys):
  workdir = copy_of(run, tmp_path)
  damaged = data_files(workdir, 4)[-1]
  zero_64_bytes(damaged)
  state = train.train_and_evaluate(tiny_config(**CONFIG), workdir)
  warning = capsys.readouterr().err
  assert f"warning: the checkpoint of step 4 in {workdir}/checkpoints cannot be read: " \
         f"{damaged} is damaged" in warning
  assert "Resuming from step 2, the newest readable checkpoint" in warning
  kept = damaged.replace(f"{os.sep}checkpoints{os.sep}",
                         f"{os.sep}checkpoints{checkpointing.UNREADABLE_SUFFIX}{os.sep}")
  assert os.path.exists(kept)  # set aside for inspection, not deleted
  for got, want in zip(jax.tree.leaves(state.params), jax.tree.leaves(run[1]), strict=True):
    np.testing.assert_array_equal(np.asarray(got), want)  # steps 3-4 again, bitwise
  mngr = checkpointing.manager(workdir)
  assert mngr.all_steps() == [2, 4]
  checkpointing.verify(mngr, 4)


def test_training_never_starts_over_when_no_checkpoint_is_readable(run, tmp_path):
  workdir = copy_of(run, tmp_path)
  for step in (2, 4):
    os.remove(data_files(workdir, step)[-1])
  before = sorted(os.listdir(workdir))
  with pytest.raises(CheckpointError, match=r"no checkpoint in .* can be read \(the checkpoint "
                                            r"of step 4 .* is missing; the checkpoint of step 2"):
    train.train_and_evaluate(tiny_config(**CONFIG), workdir)
  assert sorted(os.listdir(workdir)) == before


def test_mode_sample_on_a_damaged_checkpoint_exits_2_with_one_line(run, tmp_path):
  workdir = copy_of(run, tmp_path)
  damaged = data_files(workdir, 4)[-1]
  zero_64_bytes(damaged)
  process = subprocess.run(
      [sys.executable, "main.py", "--config=configs/mnist_vamp.py", "--config.latent_dim=8",
       "--config.num_components=8", f"--workdir={workdir}", "--mode=sample"],
      cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
  assert process.returncode == 2
  assert re.fullmatch(rf"error: the checkpoint of step 4 in {re.escape(workdir)}/checkpoints "
                      rf"cannot be read: {re.escape(damaged)} is damaged \(.*\); the saved steps "
                      r"\[2\] pass their checksums: pick one with "
                      r"--config\.eval\.checkpoint_step=2\.", process.stderr.strip().splitlines()[-1])
  assert "Traceback" not in process.stderr
  assert not os.path.exists(os.path.join(workdir, "samples.png"))
