"""Config keys counted in epochs, converted to steps once the training set's size is known.

An epoch is `num_train_images // batch_size` steps (the pipeline drops the remainder), so
the paper's "warm-up over 100 epochs" stays 100 epochs whatever the batch size.
"""

from __future__ import annotations

import ml_collections


def steps_per_epoch(config: ml_collections.ConfigDict, num_train_images: int) -> int:
  return max(1, num_train_images // config.batch_size)


def resolve(config: ml_collections.ConfigDict,
            num_train_images: int) -> ml_collections.ConfigDict:
  """A copy of `config` whose `kl_warmup_steps` and `num_train_steps` come from
  `kl_warmup_epochs` and `num_train_epochs` when those are set (config_validation allows
  only one of each pair)."""
  config = config.copy_and_resolve_references()
  per_epoch = steps_per_epoch(config, num_train_images)
  if config.kl_warmup_epochs > 0:
    config.kl_warmup_steps = round(config.kl_warmup_epochs * per_epoch)
  if config.num_train_epochs > 0:
    config.num_train_steps = round(config.num_train_epochs * per_epoch)
  return config
