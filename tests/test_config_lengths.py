"""Configs make sense at their own length: every shipped config validates, a KL warm-up
longer than the training is refused (or, across units, warned about), and the CelebA
configs' length and warm-up, in epochs, are the same share of training on any data."""

import glob
import importlib
import os

import pytest

from tests.conftest import ROOT, tiny_config
from vampjax import config_validation, epochs
from vampjax.config_validation import ConfigError

CONFIG_FILES = sorted(
    os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
    for path in glob.glob(os.path.join(ROOT, "configs", "*.py"))
    + glob.glob(os.path.join(ROOT, "configs", "paper", "*.py"))
    if not path.endswith("__init__.py"))


def test_every_config_file_is_found():
  assert {"configs.celeba_vamp_resnet", "configs.mnist_quickstart",
          "configs.paper.vae_vamp"} <= set(CONFIG_FILES)


@pytest.mark.parametrize("module", CONFIG_FILES)
def test_every_config_validates(module):
  config_validation.validate(importlib.import_module(module).get_config())


@pytest.mark.parametrize("overrides, message", [
    ({"num_train_steps": 100, "kl_warmup_steps": 101},
     r"kl_warmup_steps=101 is longer than num_train_steps=100, so β never reaches beta=1; "
     r"set kl_warmup_steps <= 100 or train longer\."),
    ({"num_train_steps": -1, "num_train_epochs": 2.0, "kl_warmup_epochs": 2.5},
     r"kl_warmup_epochs=2.5 is longer than num_train_epochs=2, so β never reaches beta=1; "),
    ({"num_train_epochs": 2.0},
     r"num_train_steps=4 and num_train_epochs=2.0: set one length"),
    ({"num_train_steps": -1}, r"num_train_steps=-1 and num_train_epochs=0.0: set one length"),
])
def test_lengths_and_warmups_that_cannot_work_are_refused(overrides, message):
  with pytest.raises(ConfigError, match=message):
    config_validation.validate(tiny_config(**overrides))


def test_a_warmup_in_epochs_longer_than_a_length_in_steps_is_a_warning(capsys):
  config = tiny_config(num_train_steps=3, kl_warmup_epochs=1.0)  # 1 epoch of 100 images: 12
  config_validation.validate(config)
  config_validation.validate_with_data(config, 100)
  assert capsys.readouterr().err == (
      "warning: the KL warm-up (12 steps) is longer than the training (3 steps) on 100 "
      "images, so β stays below beta=1; shorten the warm-up or train longer.\n")


@pytest.mark.parametrize("train_images", [899, 162_770])
def test_celeba_warmup_is_the_studys_share_of_30_epochs_on_any_data(train_images):
  config = importlib.import_module("configs.celeba_vamp_resnet").get_config()
  resolved = epochs.resolve(config, train_images)
  per_epoch = train_images // 64
  assert resolved.num_train_steps == 30 * per_epoch
  # The study: 10 000 warm-up steps of its 30 epochs of full CelebA (2543 steps each).
  assert resolved.kl_warmup_steps == round(10_000 / (30 * 2543) * resolved.num_train_steps)
