"""The train state: its random streams, its creation, and its restore from a checkpoint."""

from __future__ import annotations

import os
from typing import NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax.training import train_state

from vampjax import checkpointing, networks, priors
from vampjax.optimizers import make_optimizer
from vampjax.models import build_model
from vampjax.vae import VAE


def rng_streams(seed: int) -> dict[str, jax.Array]:
  """Independent keys for init, training steps, evaluation and sampling."""
  names = ("init", "train", "eval", "sample")
  return dict(zip(names, jax.random.split(jax.random.key(seed), len(names))))


def _new_state(config: ml_collections.ConfigDict, model: VAE,
               rng: jax.Array) -> train_state.TrainState:
  dummy = jnp.zeros((1, *model.image_shape), jnp.float32)
  noise = jnp.zeros((1, 1, model.noise_dim), jnp.float32)
  # The parameters do not depend on the mesh; initialise without it (a batch of one).
  params = model.clone(mesh=None).init(rng, dummy, noise)["params"]
  return train_state.TrainState.create(
      apply_fn=model.apply, params=params, tx=make_optimizer(config))


def create_train_state(config: ml_collections.ConfigDict, model: VAE, rng: jax.Array,
                       train_images: np.ndarray | None = None) -> train_state.TrainState:
  """Initial parameters and Adam state. `pseudo_init='data'` and
  `decoder_bias_init='data_mean'` need `train_images`."""
  state_rng, pseudo_rng = jax.random.split(rng)
  state = jax.jit(lambda r: _new_state(config, model, r))(state_rng)
  params = dict(state.params)
  if model.is_vamp and config.pseudo_init == "data":
    if train_images is None:
      raise ValueError("pseudo_init='data' needs the training images.")
    pixels = priors.data_init_pixels(pseudo_rng, train_images, model.num_components,
                                     config.pseudo_init_std)
    params["vamp_prior"] = priors.stored_params(pixels, model.pseudo_param)
  if config.decoder_bias_init == "data_mean":
    if train_images is None:
      raise ValueError("decoder_bias_init='data_mean' needs the training images.")
    params["decoder"] = {**params["decoder"],
                         "output_bias": networks.mean_image_logits(train_images)}
  return state.replace(params=params, opt_state=state.tx.init(params))


def abstract_train_state(config: ml_collections.ConfigDict,
                         model: VAE) -> train_state.TrainState:
  """Shapes and dtypes of the train state, without computing it: a restore target."""
  return jax.eval_shape(lambda: _new_state(config, model, jax.random.key(0)))


class Checkpoint(NamedTuple):
  """Which checkpoint of a run is meant: its step, and `which` rule picked it."""

  step: int | None  # None: the run has no checkpoint
  which: str        # chosen | best | latest


def best_step(workdir: str) -> int | None:
  """The step of the best validation checkpoint in `workdir` (early stopping), if any."""
  if not os.path.isdir(os.path.join(workdir, checkpointing.BEST_CHECKPOINT_DIR)):
    return None
  return checkpointing.manager(workdir, best=True).best_step()


def latest_step(workdir: str) -> int | None:
  """The step of the newest regular checkpoint in `workdir`, if any."""
  if not os.path.isdir(os.path.join(workdir, checkpointing.CHECKPOINT_DIR)):
    return None
  return checkpointing.manager(workdir).latest_step()


def choose_checkpoint(workdir: str, step: int | None = None) -> Checkpoint:
  """The one rule for which checkpoint a run means: `step` when given ("chosen"), else the
  best validation checkpoint when early stopping saved one ("best"), else the latest."""
  if step is not None:
    return Checkpoint(step, "chosen")
  best = best_step(workdir)
  if best is not None:
    return Checkpoint(best, "best")
  return Checkpoint(latest_step(workdir), "latest")


def restore_model(config: ml_collections.ConfigDict, workdir: str, step: int | None = None,
                  best: bool = False, how_to_pick: str | None = None
                  ) -> tuple[VAE, train_state.TrainState]:
  """The model a config describes and its state from the checkpoint of `step` (default: the
  latest) in `workdir`, or with `best` from the best validation checkpoint. `how_to_pick`:
  how the caller picks another step, for the error on an unreadable checkpoint."""
  model = build_model(config)
  mngr = checkpointing.manager(workdir, config.max_checkpoints_to_keep, best=best)
  hint = {} if how_to_pick is None else {"how_to_pick": how_to_pick}
  return model, checkpointing.restore(mngr, abstract_train_state(config, model), step, **hint)


def restore_chosen(config: ml_collections.ConfigDict, workdir: str, step: int | None = None,
                   how_to_pick: str | None = None
                   ) -> tuple[VAE, train_state.TrainState, Checkpoint]:
  """The model, and its state from the checkpoint `choose_checkpoint(workdir, step)` picks."""
  chosen = choose_checkpoint(workdir, step)
  return (*restore_model(config, workdir, chosen.step, chosen.which == "best", how_to_pick),
          chosen)
