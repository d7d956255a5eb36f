"""Failures a long run must survive: SIGKILL, SIGTERM or SIGINT at any step (on one or two
processes), a kill during a save, NaN steps, bad configs, a checkpoint or workdir of another
config, and a second training on a workdir in use."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time

import jax
import ml_collections
import numpy as np
import pytest

from tests.conftest import ROOT, tiny_config
from vampjax import checkpointing, config_validation, train
from vampjax.models import build_model
from vampjax.checkpointing import CheckpointError
from vampjax.config_validation import ConfigError
from vampjax.data import pipeline
from vampjax.nonfinite import NonFiniteError
from vampjax.state import create_train_state, restore_model
from vampjax.workdir import CONFIG_FILE, WorkdirError, prepare as prepare_workdir

RUN = ["--config=configs/mnist_vamp.py", "--config.latent_dim=4", "--config.num_components=4",
       "--config.batch_size=8", "--config.log_every_steps=1", "--config.eval_every_steps=0",
       "--config.num_eval_examples=8", "--config.checkpoint_every_steps=3",
       "--config.num_train_steps=12"]


def main_process(workdir, *extra, env=None, **kwargs):
  env = {**os.environ, "VAMPJAX_COMPILATION_CACHE": os.path.join(ROOT, ".pytest_cache", "xla"),
         **(env or {})}
  return subprocess.Popen([sys.executable, "main.py", *RUN, f"--workdir={workdir}", *extra],
                          cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, **kwargs)


def logged_steps(workdir):
  path = os.path.join(workdir, "metrics.jsonl")
  if not os.path.exists(path):
    return 0
  with open(path) as f:
    steps = [json.loads(line)["step"] for line in f if line.endswith("\n")]
  return max(steps, default=0)


def final_params(workdir):
  config = tiny_config(latent_dim=4, num_components=4)
  return restore_model(config, workdir)[1].params


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
  """The parameters of RUN, uninterrupted."""
  workdir = str(tmp_path_factory.mktemp("straight"))
  assert main_process(workdir).wait(timeout=300) == 0
  return jax.tree.leaves(final_params(workdir))


def wait_for_step(workdir, process, step):
  deadline = time.time() + 240
  while logged_steps(workdir) < step and process.poll() is None and time.time() < deadline:
    time.sleep(0.02)


def train_steps(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [r["step"] for r in map(json.loads, f) if r["split"] == "train"]


def resume_and_compare(workdir, reference, label):
  """Runs RUN again in `workdir` to its end: parameters bitwise those of `reference`."""
  assert main_process(workdir).wait(timeout=300) == 0
  for got, want in zip(jax.tree.leaves(final_params(workdir)), reference, strict=True):
    np.testing.assert_array_equal(got, want)  # bitwise
  assert train_steps(workdir) == list(range(1, 13)), label


def test_sigkill_at_random_steps_then_resume_gives_identical_parameters(straight, tmp_path):
  kill_points = sorted(np.random.default_rng(0).choice(np.arange(2, 12), 3, replace=False))
  for kill_at in kill_points:
    workdir = str(tmp_path / f"killed_at_{kill_at}")
    process = main_process(workdir)
    wait_for_step(workdir, process, kill_at)
    process.send_signal(signal.SIGKILL)
    process.wait()
    resume_and_compare(workdir, straight, f"killed at {kill_at}")


def stopped_step(stderr, signum):
  """The step of main.py's last line `stopped at step N (SIG...); ...`."""
  line = stderr.strip().splitlines()[-1]
  match = re.fullmatch(rf"stopped at step (\d+) \({signal.Signals(signum).name}\); checkpoint "
                       "saved; run the same command to resume", line)
  assert match, stderr
  return int(match[1])


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_saves_the_step_in_flight_then_resume_gives_identical_parameters(
    straight, tmp_path, signum):
  """The step in flight ends and is saved; exit status 128 + the signal, within seconds."""
  kill_at = int(np.random.default_rng(signum).integers(2, 9))
  workdir = str(tmp_path / "run")
  process = main_process(workdir)
  wait_for_step(workdir, process, kill_at)
  sent = time.perf_counter()
  process.send_signal(signum)
  _, stderr = process.communicate(timeout=120)
  exit_s = time.perf_counter() - sent
  assert process.returncode == 128 + signum, stderr
  step = stopped_step(stderr, signum)
  assert kill_at <= step < 12 and exit_s < 30, (kill_at, step, exit_s)
  assert checkpointing.manager(workdir).latest_step() == step
  assert train_steps(workdir) == list(range(1, step + 1))
  print(f"{signal.Signals(signum).name} after step {kill_at}: stopped at step {step}, exited "
        f"{exit_s:.2f} s after the signal")
  resume_and_compare(workdir, straight, f"{signal.Signals(signum).name} at {kill_at}")


def free_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def two_processes(workdir, *extra):
  """RUN on 2 processes of one CPU device each, joined by jax.distributed on localhost."""
  port = free_port()
  return [main_process(workdir, *extra, env={
      "JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{port}", "JAX_NUM_PROCESSES": "2",
      "JAX_PROCESS_ID": str(i)}) for i in range(2)]


def test_a_signal_to_one_of_two_processes_stops_both_at_the_same_saved_step(tmp_path):
  workdir = str(tmp_path / "run")
  sync = "--config.preemption_sync_seconds=0"
  processes = two_processes(workdir, sync)
  try:
    wait_for_step(workdir, processes[0], 3)
    sent = time.perf_counter()
    processes[1].send_signal(signal.SIGTERM)  # only the second: the first learns it from it
    outputs = [p.communicate(timeout=120) for p in processes]
    exit_s = time.perf_counter() - sent
  finally:
    for p in processes:
      p.kill()
  assert [p.returncode for p in processes] == [143, 143], outputs
  steps = [stopped_step(stderr, signal.SIGTERM) for _, stderr in outputs]
  assert steps[0] == steps[1] and 3 <= steps[0] < 12, steps
  assert checkpointing.manager(workdir).latest_step() == steps[0]
  print(f"2 processes, SIGTERM to one after step 3: both stopped at step {steps[0]}, exited "
        f"{exit_s:.2f} s after the signal")
  resumed = two_processes(workdir, sync)
  assert [p.wait(timeout=300) for p in resumed] == [0, 0]
  assert checkpointing.manager(workdir).latest_step() == 12
  assert train_steps(workdir) == list(range(1, 13))


def tree_snapshot(root):
  """{path: (size, mtime)} of every file under `root`."""
  paths = [os.path.join(folder, name) for folder, _, names in os.walk(root) for name in names]
  return {path: (os.path.getsize(path), os.path.getmtime(path)) for path in paths}


def test_second_training_on_a_workdir_in_use_is_refused_and_writes_nothing(tmp_path):
  workdir = str(tmp_path / "run")
  first = main_process(workdir, "--config.num_train_steps=100000")
  try:
    wait_for_step(workdir, first, 1)
    first.send_signal(signal.SIGSTOP)  # frozen: the workdir does not change meanwhile
    before = tree_snapshot(workdir)
    second = main_process(workdir, "--config.num_train_steps=100000")
    _, stderr = second.communicate(timeout=120)
    assert second.returncode == 2
    assert re.fullmatch(rf"error: {re.escape(workdir)} is in use by another training \(pid {first.pid} on "
                        r"\S+, since [\d\- :]+\); wait for it to end, or use another "
                        r"--workdir\.", stderr.strip().splitlines()[-1]), stderr
    assert tree_snapshot(workdir) == before
  finally:
    first.send_signal(signal.SIGKILL)
    first.send_signal(signal.SIGCONT)
    first.wait()


SLOW_SAVE = textwrap.dedent("""
    import sys, numpy as np
    from vampjax import checkpointing
    mngr = checkpointing.manager(sys.argv[1])
    small = {"w": np.full((4,), 1.0, np.float32)}
    if sys.argv[2] == "first":
      checkpointing.save(mngr, 1, small); mngr.wait_until_finished()
    else:
      noise = np.random.default_rng(0).random((100_000_000,), np.float32)  # incompressible
      big = {"w": np.zeros((4,), np.float32), "pad": noise}
      print("saving", flush=True)
      checkpointing.save(mngr, 2, big); mngr.wait_until_finished()
""")


def test_kill_during_a_save_keeps_the_previous_checkpoint(tmp_path):
  workdir = str(tmp_path)
  run = lambda which: subprocess.Popen([sys.executable, "-c", SLOW_SAVE, workdir, which],
                                       cwd=ROOT, stdout=subprocess.PIPE, text=True)
  assert run("first").wait(timeout=120) == 0
  process = run("second")
  assert process.stdout.readline().strip() == "saving"
  directory = os.path.join(workdir, "checkpoints")
  deadline = time.time() + 60
  while not any("tmp" in name for name in os.listdir(directory)) and time.time() < deadline:
    time.sleep(0.002)
  process.send_signal(signal.SIGKILL)  # inside the 400 MB write
  process.wait()
  leftovers = os.listdir(directory)
  assert any("tmp" in name for name in leftovers), leftovers  # the save was cut half way
  mngr = checkpointing.manager(workdir)
  assert mngr.latest_step() == 1
  restored = checkpointing.restore(mngr, {"w": np.zeros((4,), np.float32)})
  np.testing.assert_array_equal(restored["w"], np.ones(4, np.float32))


def inject_nan_at(monkeypatch, bad_step):
  real = pipeline.train_batches

  def batches(images, batch_size, seed, start_step=0):
    for step, batch in enumerate(real(images, batch_size, seed, start_step),
                                 start=start_step + 1):
      yield np.full_like(batch, np.nan) if step == bad_step else batch

  monkeypatch.setattr(pipeline, "train_batches", batches)


def test_nan_stops_training_naming_the_step_and_never_saves_it(tmp_path, monkeypatch):
  inject_nan_at(monkeypatch, 3)
  config = tiny_config(num_train_steps=6, log_every_steps=0, checkpoint_every_steps=2)
  with pytest.raises(NonFiniteError, match=r"step 3: non-finite loss=nan.*step 2"):
    train.train_and_evaluate(config, str(tmp_path))
  mngr = checkpointing.manager(str(tmp_path))
  assert mngr.all_steps() == [2]
  _, state = restore_model(config, str(tmp_path))
  assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(state.params))


def test_skip_nonfinite_steps_skips_and_counts_them(tmp_path, monkeypatch):
  inject_nan_at(monkeypatch, 3)
  config = tiny_config(num_train_steps=4, log_every_steps=1, skip_nonfinite_steps=True)
  state = train.train_and_evaluate(config, str(tmp_path))
  assert int(state.step) == 4
  assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(state.params))
  with open(os.path.join(tmp_path, "metrics.jsonl")) as f:
    skipped = [r["skipped_steps"] for r in map(json.loads, f) if r["split"] == "train"]
  assert skipped == [0, 0, 1, 1]


def test_skipped_step_leaves_the_state_unchanged(tiny):
  config = tiny(skip_nonfinite_steps=True, pseudo_init="random", decoder_bias_init="zero")
  state = create_train_state(config, build_model(config), jax.random.key(0))
  before = jax.tree.map(np.asarray, state.params)
  step = jax.jit(train.make_train_step(config))
  new, metrics = step(state, np.full((8, 32, 32, 1), np.nan, np.float32), jax.random.key(1))
  assert not bool(metrics["finite"]) and int(new.step) == 1
  for got, want in zip(jax.tree.leaves(new.params), jax.tree.leaves(before)):
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("overrides, message", [
    ({"data.image_size": 40}, "data.image_size=40 must be a positive multiple of 16"),
    ({"latent_dim": 0}, "latent_dim=0 must be > 0"),
    ({"num_components": 0}, "num_components=0 must be > 0"),
    ({"beta": -0.5}, "beta=-0.5 must be >= 0"),
    ({"prior": "gaussian"}, "prior='gaussian'; use one of"),
    ({"architecture": "vit"}, "architecture='vit'; use one of"),
    ({"likelihood": "bernoulli", "likelihood_scale_mode": "learned_global"},
     "likelihood='bernoulli' has no scale to learn"),
    ({"likelihood": "gaussian", "likelihood_scale_mode": "learned_pixel", "likelihood_scale": 2.0},
     "a learned σ needs 0 < likelihood_scale_min=0.01 < likelihood_scale=2.0"),
])
def test_each_config_rule_names_the_key(tiny, overrides, message):
  with pytest.raises(ConfigError, match=message):
    config_validation.validate(tiny(**overrides))


def test_values_of_the_wrong_type_are_refused(tiny):
  """ConfigDict refuses a type change by assignment; a config built from a dict is checked."""
  config = ml_collections.ConfigDict({**tiny().to_dict(), "latent_dim": 4.5})
  with pytest.raises(ConfigError, match="latent_dim=4.5 has type float; it must be int"):
    config_validation.validate(config)


def test_unknown_key_suggests_the_close_one(tiny):
  config = tiny()
  config.unlock()
  config.leraning_rate = 0.1
  with pytest.raises(ConfigError, match="unknown config key 'leraning_rate'; did you mean "
                                        "'learning_rate'"):
    config_validation.validate(config)


def test_batch_size_must_divide_over_the_devices(tiny):
  with pytest.raises(ConfigError, match="batch_size=12 must be a positive multiple of the 8 "):
    config_validation.validate(tiny(batch_size=12), num_devices=8)


def test_data_init_needs_enough_training_images(tiny):
  with pytest.raises(ConfigError, match="num_components=600 exceeds the 500 training images"):
    config_validation.validate_with_data(tiny(num_components=600), 500)


@pytest.mark.parametrize("args, message", [
    (["--config.latent_dim=-3"], "error: latent_dim=-3 must be > 0"),
    (["--config.lattent_dim=3"], "error: unknown config key 'lattent_dim'; did you mean"),
    (["--config.latent_dim=x"], "error: flag --config.latent_dim=x"),
])
def test_command_line_errors_exit_2_with_one_line(tmp_path, args, message):
  process = main_process(str(tmp_path / "w"), *args)
  _, stderr = process.communicate(timeout=120)
  assert process.returncode == 2
  assert stderr.strip().splitlines()[-1].startswith(message)
  assert not os.path.exists(tmp_path / "w" / "checkpoints")


def test_checkpoint_of_another_architecture_names_the_parameter(tmp_path):
  train.train_and_evaluate(tiny_config(num_train_steps=1), str(tmp_path))
  with pytest.raises(CheckpointError, match=r"params/decoder/Dense_0/kernel has shape \(8, 1024\)"
                                            r" in the checkpoint but \(6, 1024\) here"):
    restore_model(tiny_config(latent_dim=6), str(tmp_path))


def test_workdir_whose_run_wrote_only_its_config_is_reused(tmp_path):
  """A run that died before its first log line or checkpoint leaves nothing to protect."""
  prepare_workdir(str(tmp_path), tiny_config(latent_dim=6))
  state = train.train_and_evaluate(tiny_config(num_train_steps=1), str(tmp_path))
  assert int(state.step) == 1
  with open(tmp_path / CONFIG_FILE) as f:
    assert json.load(f)["latent_dim"] == 8


def test_run_written_before_a_key_was_added_resumes(tmp_path):
  """A config.json without a key added since (here the prior's newest ones) is the run's
  config with that key at its default: the run resumes instead of being refused."""
  workdir = str(tmp_path)
  train.train_and_evaluate(tiny_config(num_train_steps=1), workdir)
  with open(tmp_path / CONFIG_FILE) as f:
    saved = json.load(f)
  for key in ("pseudo_param", "train_pseudo_inputs"):
    del saved[key]
  with open(tmp_path / CONFIG_FILE, "w") as f:
    json.dump(saved, f)
  assert int(train.train_and_evaluate(tiny_config(num_train_steps=2), workdir).step) == 2


def test_workdir_of_another_config_is_refused_unless_overwrite(tmp_path):
  workdir = str(tmp_path)
  train.train_and_evaluate(tiny_config(num_train_steps=2), workdir)
  before = sorted(os.listdir(workdir))
  with pytest.raises(WorkdirError, match=r"latent_dim \(8 -> 6\).*--overwrite"):
    train.train_and_evaluate(tiny_config(latent_dim=6, num_train_steps=2), workdir)
  assert sorted(os.listdir(workdir)) == before
  assert checkpointing.manager(workdir).all_steps() == [2]
  state = train.train_and_evaluate(tiny_config(latent_dim=6, num_train_steps=1), workdir,
                                   overwrite=True)
  assert int(state.step) == 1 and state.params["encoder"]["mu"]["kernel"].shape == (1024, 6)
