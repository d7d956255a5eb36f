"""Checks a config before any work starts, so a bad key fails in a second, not an hour in.

Every rule raises `ConfigError` with one line naming the key and its valid values;
`main.py` prints it and exits with status 2.
"""

from __future__ import annotations

import difflib
import sys
from typing import Any

import ml_collections

from vampjax import default_config, epochs, likelihoods
from vampjax.optimizers import OPTIMIZERS
from vampjax.networks import DOWNSAMPLING
from vampjax.priors import PSEUDO_PARAMS

CHOICES = {
    "prior": ("standard", "vamp", "mog"),
    "architecture": ("conv", "resnet", "gated_mlp", "hvae_mlp", "hvae_conv"),
    "likelihood": likelihoods.LIKELIHOODS,
    "likelihood_scale_mode": likelihoods.SCALE_MODES,
    "decoder_bias_init": ("data_mean", "zero"),
    "pseudo_init": ("random", "data"),
    "pseudo_param": PSEUDO_PARAMS,
    "dtype": ("float32", "bfloat16"),
    "optimizer": OPTIMIZERS,
}


class ConfigError(ValueError):
  """A config value that cannot work; the message names the key and the valid values."""


def _flatten(config: ml_collections.ConfigDict, prefix: str = "") -> dict[str, Any]:
  flat = {}
  for key, value in config.items():
    if isinstance(value, ml_collections.ConfigDict):
      flat.update(_flatten(value, f"{prefix}{key}."))
    else:
      flat[f"{prefix}{key}"] = value
  return flat


def _same_type(value: Any, reference: Any) -> bool:
  if isinstance(reference, bool) or isinstance(value, bool):
    return isinstance(value, bool) and isinstance(reference, bool)
  if isinstance(reference, float):
    return isinstance(value, (int, float))
  if isinstance(reference, (tuple, list)):
    return isinstance(value, (tuple, list))
  return isinstance(value, type(reference))


def _check_known(key: str, reference: dict[str, Any]) -> None:
  if key not in reference:
    close = difflib.get_close_matches(key, reference, n=1)
    hint = (f"did you mean {close[0]!r}?" if close
            else "see vampjax/default_config.py for every key.")
    raise ConfigError(f"unknown config key {key!r}; {hint}")


def check_override_keys(argv: list[str]) -> None:
  """Unknown `--config.KEY=...` overrides, named before the flag parser fails on them."""
  reference = _flatten(default_config.get_config())
  for arg in argv:
    if arg.startswith("--config."):
      _check_known(arg[len("--config."):].split("=", 1)[0], reference)


def check_keys_and_types(config: ml_collections.ConfigDict) -> None:
  """Unknown keys (typos) and values of the wrong type."""
  reference = _flatten(default_config.get_config())
  for key, value in _flatten(config).items():
    _check_known(key, reference)
    if not _same_type(value, reference[key]):
      raise ConfigError(f"{key}={value!r} has type {type(value).__name__}; "
                        f"it must be {type(reference[key]).__name__} "
                        f"(default {reference[key]!r}).")


def _require(ok: bool, message: str) -> None:
  if not ok:
    raise ConfigError(message)


def validate(config: ml_collections.ConfigDict, num_devices: int = 1) -> None:
  """All the checks that need only the config (and the device count)."""
  check_keys_and_types(config)
  for key, choices in CHOICES.items():
    _require(config[key] in choices, f"{key}={config[key]!r}; use one of {choices}.")
  size = config.data.image_size
  if config.architecture in ("conv", "resnet"):
    _require(size > 0 and size % DOWNSAMPLING == 0,
             f"data.image_size={size} must be a positive multiple of {DOWNSAMPLING} (four "
             f"stride-2 convs), e.g. {max(DOWNSAMPLING, size // DOWNSAMPLING * DOWNSAMPLING)}, "
             "or use architecture='gated_mlp'.")
  else:
    _require(size > 0, f"data.image_size={size} must be positive.")
  _require(config.decoder_bias_init == "zero" or config.architecture in ("conv", "resnet"),
           f"decoder_bias_init='data_mean' needs the study's conv/resnet decoder; set "
           f"decoder_bias_init='zero' for architecture={config.architecture!r}.")
  if config.architecture == "gated_mlp":
    _require(len(config.mlp_hidden) > 0 and all(units > 0 for units in config.mlp_hidden),
             f"mlp_hidden={tuple(config.mlp_hidden)} must be a non-empty list of positive sizes.")
  if config.data.name in ("mnist_binary", "fashion_mnist_binary"):
    _require(config.data.dynamic_binarization,
             f"data.name={config.data.name!r} trains on intensities binarized at every step; "
             "set data.dynamic_binarization=True.")
  _require(config.data.channels in (1, 3), f"data.channels={config.data.channels}; use 1 or 3.")
  _require(config.latent_dim > 0, f"latent_dim={config.latent_dim} must be > 0.")
  if config.prior != "standard":
    _require(config.num_components > 0,
             f"num_components={config.num_components} must be > 0 for "
             f"prior={config.prior!r}.")
  _require(config.beta >= 0, f"beta={config.beta} must be >= 0.")
  _require(config.kl_warmup_steps >= 0,
           f"kl_warmup_steps={config.kl_warmup_steps} must be >= 0 (0: no annealing).")
  _require(config.kl_warmup_epochs >= 0 and not (config.kl_warmup_epochs
                                                 and config.kl_warmup_steps),
           f"kl_warmup_epochs={config.kl_warmup_epochs} must be >= 0, and set only one of "
           f"it and kl_warmup_steps={config.kl_warmup_steps}.")
  _require(config.early_stopping.patience_epochs >= 0,
           f"early_stopping.patience_epochs={config.early_stopping.patience_epochs} must be "
           ">= 0 (0: off).")
  _require(config.kl_samples >= 1, f"kl_samples={config.kl_samples} must be >= 1.")
  _require(config.learning_rate > 0, f"learning_rate={config.learning_rate} must be > 0.")
  _check_length(config)
  _require(config.preemption_sync_seconds >= 0,
           f"preemption_sync_seconds={config.preemption_sync_seconds} must be >= 0 (0: agree "
           "at every step).")
  _require(config.logvar_min < config.logvar_max,
           f"logvar_min={config.logvar_min} must be < logvar_max={config.logvar_max}.")
  _check_likelihood_scale(config)
  _require(config.steps_per_call >= 1,
           f"steps_per_call={config.steps_per_call} must be >= 1 (1: one step per call).")
  _require(config.grad_accum_steps >= 1,
           f"grad_accum_steps={config.grad_accum_steps} must be >= 1 (1: no accumulation).")
  unit = num_devices * config.grad_accum_steps
  _require(config.batch_size > 0 and config.batch_size % unit == 0,
           f"batch_size={config.batch_size} must be a positive multiple of the {num_devices} "
           f"devices × grad_accum_steps={config.grad_accum_steps}, e.g. "
           f"{max(1, config.batch_size // unit) * unit}.")


def _check_length(config: ml_collections.ConfigDict) -> None:
  """One length (steps or epochs), and a KL warm-up that ends within it."""
  steps, epochs_ = config.num_train_steps, config.num_train_epochs
  _require(epochs_ >= 0 and (steps >= 0) != (epochs_ > 0) and steps >= -1,
           f"num_train_steps={steps} and num_train_epochs={epochs_}: set one length, "
           "num_train_steps >= 0 with num_train_epochs=0, or num_train_epochs > 0 with "
           "num_train_steps=-1.")
  for warmup, length, unit in ((config.kl_warmup_steps, steps, "steps"),
                               (config.kl_warmup_epochs, epochs_, "epochs")):
    _require(not (warmup and length > 0 and warmup > length),
             f"kl_warmup_{unit}={warmup:g} is longer than num_train_{unit}={length:g}, so β "
             f"never reaches beta={config.beta:g}; set kl_warmup_{unit} <= {length:g} or "
             f"train longer.")


def _check_likelihood_scale(config: ml_collections.ConfigDict) -> None:
  scale, low, high = (config.likelihood_scale, config.likelihood_scale_min,
                      config.likelihood_scale_max)
  if config.likelihood not in likelihoods.SCALED:
    _require(config.likelihood_scale_mode == "fixed",
             f"likelihood={config.likelihood!r} has no scale to learn; use "
             f"likelihood='gaussian' or 'discretized_logistic' with "
             f"likelihood_scale_mode={config.likelihood_scale_mode!r}.")
  _require(scale > 0, f"likelihood_scale={scale} must be > 0.")
  if config.likelihood_scale_mode != "fixed":
    _require(0 < low < scale < high,
             f"a learned σ needs 0 < likelihood_scale_min={low} < likelihood_scale={scale} "
             f"< likelihood_scale_max={high} (it starts at likelihood_scale).")


def validate_with_data(config: ml_collections.ConfigDict, num_train_images: int) -> None:
  """The checks that need the size of the training set. A warm-up and a length in different
  units are compared here, with a warning: short runs of long recipes (tests, smoke
  budgets) do it on purpose."""
  resolved = epochs.resolve(config, num_train_images)
  if resolved.kl_warmup_steps > resolved.num_train_steps > 0:
    print(f"warning: the KL warm-up ({resolved.kl_warmup_steps} steps) is longer than the "
          f"training ({resolved.num_train_steps} steps) on {num_train_images} images, so β "
          f"stays below beta={config.beta:g}; shorten the warm-up or train longer.",
          file=sys.stderr)
  if config.prior == "vamp" and config.pseudo_init == "data":
    _require(config.num_components <= num_train_images,
             f"num_components={config.num_components} exceeds the {num_train_images} training "
             "images for pseudo_init='data'; lower num_components or use pseudo_init='random'.")
  _require(config.batch_size <= num_train_images,
           f"batch_size={config.batch_size} exceeds the {num_train_images} training images.")
