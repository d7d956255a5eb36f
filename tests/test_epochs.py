"""Epoch-counted config keys become steps once the training set's size is known."""

from configs.paper import base
from vampjax import epochs


def test_paper_warmup_of_100_epochs_is_50000_steps():
  config = base.get_config()
  assert epochs.steps_per_epoch(config, 50_000) == 500
  resolved = epochs.resolve(config, 50_000)
  assert resolved.kl_warmup_steps == 50_000 and config.kl_warmup_steps == 0
  config.batch_size = 128  # drop-remainder epochs: 390 steps
  assert epochs.resolve(config, 50_000).kl_warmup_steps == 100 * 390


def test_step_keys_pass_through():
  config = base.get_config()
  config.kl_warmup_epochs, config.kl_warmup_steps = 0, 7
  assert epochs.resolve(config, 50_000).kl_warmup_steps == 7
