"""`train_step` and the training loop (logging, periodic test loss, validation and early
stopping, checkpoints, resume).

Everything random is a function of `config.seed` and the step: the rng of step s is
fold_in(train_key, s) and its batch is recomputed from (seed, s), so a resumed run
continues exactly where the checkpoint left it. The loop holds the workdir's lock
(run_lock) and stops cleanly on SIGTERM / SIGINT (preemption).
"""

from __future__ import annotations

import os
import time
from typing import Callable

import jax
import jax.numpy as jnp
import ml_collections
import optax
from flax.training import train_state
from tqdm import tqdm

from vampjax import checkpointing, config_validation, data, epochs, objective
from vampjax import preemption, run_lock, run_text, sharding
from vampjax.step_dispatch import InFlight, call_chunks
from vampjax import workdir as workdir_lib
from vampjax.data import on_device
from vampjax.grad_accum import accumulated_grad
from vampjax.metric_writers import MetricsWriter, TensorBoardWriter
from vampjax.metrics import masked_eval
from vampjax.nonfinite import NonFiniteGuard, all_finite
from vampjax.pictures import make_picture_writer
from vampjax.state import abstract_train_state, create_train_state, rng_streams
from vampjax.models import build_model
from vampjax.vae import VAE
from vampjax.validation import Validator

Metrics = dict[str, jax.Array]
TrainStep = Callable[[train_state.TrainState, jax.Array, jax.Array],
                     tuple[train_state.TrainState, Metrics]]


def _batch_metrics(terms: Metrics, beta: jax.Array) -> Metrics:
  metrics = {name: jnp.mean(value) for name, value in terms.items()}
  metrics["kl_share"] = objective.kl_share(metrics["loss"], metrics["kl"], beta)
  metrics["beta"] = beta
  return metrics


def make_train_step(config: ml_collections.ConfigDict, model: VAE | None = None) -> TrainStep:
  """train_step(state, batch, rng) -> (state, metrics): one Adam step on the mean loss of
  `model` (default: the config's, `build_model(config)`; its noise shape and whether its
  prior is learned are asked of it).

  metrics["finite"] says whether the loss terms and the gradients were all finite; with
  `skip_nonfinite_steps` such a step leaves parameters and Adam state unchanged.
  """
  beta_at = objective.beta_schedule(config)
  model = model if model is not None else build_model(config)

  def train_step(state, batch, rng):
    beta = jnp.asarray(beta_at(state.step), jnp.float32)
    noise = objective.sample_noise(rng, model, config, batch.shape[0])

    def loss_fn(params, x, eps, prior):
      terms = objective.loss_terms(state.apply_fn({"params": params}, x, eps, prior), beta)
      return jnp.mean(terms["loss"]), terms

    prior_fn = (lambda p: state.apply_fn({"params": p}, method="prior_components")
                ) if model.prior_is_learned else None
    grads, terms = accumulated_grad(loss_fn, state.params, batch, noise,
                                    config.grad_accum_steps, prior_fn)
    metrics = _batch_metrics(terms, beta)
    metrics["grad_norm"] = optax.tree.norm(grads)
    metrics["finite"] = all_finite(metrics)
    new_state = state.apply_gradients(grads=grads)
    if config.skip_nonfinite_steps:
      new_state = jax.tree.map(lambda new, old: jnp.where(metrics["finite"], new, old),
                               new_state, state).replace(step=state.step + 1)
    return new_state, metrics

  return train_step


MultiStep = Callable[[train_state.TrainState, jax.Array, jax.Array, jax.Array | None],
                     tuple[train_state.TrainState, Metrics]]


def make_multi_step(config: ml_collections.ConfigDict, model: VAE | None = None) -> MultiStep:
  """multi_step(state, block, first_step, images) -> (state, metrics): the train steps
  first_step, first_step + 1, ... in one call (`jax.lax.scan` over `make_train_step`), one
  per leading entry of `block` (see vampjax.data.on_device); metrics stacked over them.

  Step s draws its rng as fold_in(train key, s) and its batch from pipeline step s − 1,
  as the one-step loop did, so a run does not depend on how its steps are cut into calls.
  """
  train_step = make_train_step(config, model)
  train_key = rng_streams(config.seed)["train"]

  def one_step(state, images, data, step):
    batch = on_device.batch_of(config, images, data, step - 1)
    return train_step(state, batch, jax.random.fold_in(train_key, step))

  def multi_step(state, block, first_step, images):
    if block.shape[0] == 1:  # no loop: XLA:CPU runs conv nets far slower inside a while loop
      state, metrics = one_step(state, images, block[0], first_step)
      return state, jax.tree.map(lambda m: m[None], metrics)
    steps = first_step + jnp.arange(block.shape[0], dtype=jnp.int32)
    return jax.lax.scan(lambda s, xs: one_step(s, images, *xs), state, (block, steps))

  return multi_step


def _call_periods(config: ml_collections.ConfigDict, validate_every: int) -> list[int]:
  """The periods at which a call must end (see `call_chunks`). A stop is asked for at every
  call's end (several processes agree at the first call end past their schedule)."""
  return [config.steps_per_call, config.log_every_steps, config.eval_every_steps,
          config.checkpoint_every_steps, validate_every]


def _every(step: int, period: int, last: int) -> bool:
  return step == last or (period > 0 and step % period == 0)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       overwrite: bool = False,
                       dataset: data.Dataset | None = None) -> train_state.TrainState:
  """Trains for `num_train_steps`, resuming from the latest checkpoint in `workdir`.

  The caller has validated the config (`config_validation.validate`) and joined a
  multi-host run (`sharding.initialize_distributed`), as main.py does; the checks that need
  the data run here, before anything is written. A workdir holding a run of another
  config, or in use by another training, is refused (WorkdirError; the first unless
  `overwrite`). `dataset`: the config's, if already loaded. On SIGTERM or SIGINT the
  step in flight is saved and `preemption.Preempted` raised.
  """
  workdir = os.path.abspath(workdir)
  if dataset is None:  # before the lock: bad data leaves no trace in the workdir
    dataset = data.get_dataset(config)
  config_validation.validate_with_data(config, len(dataset.train))
  with run_lock.lock_run(workdir):
    return _train(config, workdir, overwrite, dataset)


def _train(config: ml_collections.ConfigDict, workdir: str, overwrite: bool,
           dataset: data.Dataset) -> train_state.TrainState:
  """train_and_evaluate, holding the workdir's lock."""
  lead = jax.process_index() == 0  # one process writes the workdir's files; orbax saves on all
  mesh = sharding.make_mesh()
  if lead:
    workdir_lib.prepare(workdir, config, overwrite)
  config = epochs.resolve(config, len(dataset.train))  # config.json keeps the epoch keys
  model = build_model(config, mesh)
  keys = rng_streams(config.seed)

  mngr = checkpointing.manager(workdir, config.max_checkpoints_to_keep)
  if mngr.latest_step() is None:
    state = create_train_state(config, model, keys["init"], dataset.train)
  else:
    state = checkpointing.restore(mngr, abstract_train_state(config, model), fallback=True)
  state = sharding.put_replicated(state, mesh)
  start = int(state.step)
  validator = Validator(config, workdir, dataset, state, mngr, keys["eval"])
  if start >= config.num_train_steps or validator.state.stop:  # nothing to compute
    if lead:
      print(run_text.complete_text(workdir, start, config.num_train_steps,
                                   validator.best_text() if validator.state.stop else None))
    return state
  if lead:
    if start:
      print(f"Resuming from the checkpoint at step {start} in {workdir}.")
    print(run_text.start_text(config, dataset), flush=True)
  tensorboard = TensorBoardWriter(workdir, start) if lead else None
  writers = [MetricsWriter(workdir, start), tensorboard] if lead else []
  guard = NonFiniteGuard(config.skip_nonfinite_steps, workdir)

  repl = sharding.replicated(mesh)
  multi_step = jax.jit(make_multi_step(config, model), donate_argnums=0,
                       in_shardings=(repl, on_device.block_sharding(config, mesh), repl, repl),
                       out_shardings=(repl, repl))
  eval_step = jax.jit(masked_eval.make_eval_step(model, config))
  beta_at = objective.beta_schedule(config)
  test_images = (dataset.test if config.num_eval_examples < 0
                 else dataset.test[:config.num_eval_examples])
  write_pictures = make_picture_writer(model, config.num_samples, mesh, test_images,
                                       keys["sample"])

  last, began = config.num_train_steps, time.perf_counter()
  logged_step, logged_time, tested = start, began, None
  chunks = lambda: call_chunks(start, last, _call_periods(config, validator.every))
  feed = on_device.train_feed(config, dataset.train, start,
                              (end - first + 1 for first, end in chunks()), mesh)
  try:
    with preemption.StopRequest(config.preemption_sync_seconds) as stop, tqdm(
        initial=start, total=last, desc="train", unit="step", dynamic_ncols=True, miniters=1,
        disable=not lead) as bar:
      in_flight = InFlight(bar)
      for first, step in chunks():
        state, metrics = multi_step(state, next(feed.blocks), first, feed.images)
        guard.add(first, metrics)
        in_flight.add(metrics, step - first + 1)
        log, evaluate_now, save = (_every(step, config.log_every_steps, last),
                                   _every(step, config.eval_every_steps, last),
                                   _every(step, config.checkpoint_every_steps, last))
        signum = stop.stop_signal(step) if step < last else 0
        validate = validator.due(step)
        if log or evaluate_now or save or signum or validate:
          guard.check(mngr.latest_step())  # waits for `step`
          in_flight.all_done()
        if log:
          metrics = {name: values[-1] for name, values in jax.device_get(metrics).items()}
          now = time.perf_counter()
          metrics["images_per_sec"] = (step - logged_step) * config.batch_size / (now - logged_time)
          metrics["skipped_steps"] = guard.skipped
          logged_step, logged_time = step, now
          for writer in writers:
            writer.write(step, "train", metrics)
          bar.set_postfix_str(run_text.bar_text(step, metrics))
        if evaluate_now:
          results = masked_eval.loss_means(model, state.params, test_images, config,
                                           jax.random.fold_in(keys["eval"], step),
                                           float(beta_at(step)), mesh, eval_step)
          write_pictures(step, state.params, tensorboard)
          for writer in writers:
            writer.write(step, "test", results)
          tested = step, results
          bar.write(f"step {step}: test loss {run_text.loss_terms(results)}")
        best, early_stop = (validator.validate(step, model, state.params, config, mesh,
                                               eval_step, writers) if validate else (False, False))
        if evaluate_now or validate:
          logged_step, logged_time = step, time.perf_counter()  # images/s leaves eval out
        if save or signum or best or early_stop:
          checkpointing.save(mngr, step, state)
        if best:
          validator.save_best(step, state, mngr)
        if signum:
          raise preemption.Preempted(step, signum)  # once the save below is complete
        if early_stop:
          bar.write(f"step {step}: early stopping; {validator.best_text()}.")
          break
  finally:
    checkpointing.finish(mngr)  # a failure still leaves the last good checkpoint complete
    if tensorboard:
      tensorboard.close()
  if lead:
    print(run_text.end_text(workdir, start, step, time.perf_counter() - began, tested,
                            len(test_images)))
  return state
