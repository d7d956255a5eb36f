"""TrainState, `train_step`, `evaluate` and the training loop (logging, checkpoints, resume).

Everything random is a function of `config.seed` and the step: the rng of step s is
fold_in(train_key, s) and its batch is recomputed from (seed, s), so a resumed run
continues exactly where the checkpoint left it.
"""

from __future__ import annotations

import functools
import json
import os
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax.training import train_state
from tqdm import tqdm

from vampjax import checkpointing, config_validation, data, networks, objective, priors, sharding
from vampjax import workdir as workdir_lib
from vampjax.data import pipeline
from vampjax.vae import VAE, build_model

Metrics = dict[str, jax.Array]
TrainStep = Callable[[train_state.TrainState, jax.Array, jax.Array],
                     tuple[train_state.TrainState, Metrics]]


def rng_streams(seed: int) -> dict[str, jax.Array]:
  """Independent keys for init, training steps, evaluation and sampling."""
  names = ("init", "train", "eval", "sample")
  return dict(zip(names, jax.random.split(jax.random.key(seed), len(names))))


def _new_state(config: ml_collections.ConfigDict, model: VAE,
               rng: jax.Array) -> train_state.TrainState:
  dummy = jnp.zeros((1, *model.image_shape), jnp.float32)
  noise = jnp.zeros((1, 1, model.latent_dim), jnp.float32)
  # The parameters do not depend on the mesh; initialise without it (a batch of one).
  params = model.clone(mesh=None).init(rng, dummy, noise)["params"]
  return train_state.TrainState.create(
      apply_fn=model.apply, params=params, tx=optax.adam(config.learning_rate))


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
    logits = priors.data_init_logits(pseudo_rng, train_images, model.num_components,
                                     config.pseudo_init_std)
    params["vamp_prior"] = {"pseudo_logits": logits}
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


def _batch_metrics(terms: Metrics, beta: jax.Array) -> Metrics:
  metrics = {name: jnp.mean(value) for name, value in terms.items()}
  metrics["kl_share"] = objective.kl_share(metrics["loss"], metrics["kl"], beta)
  metrics["beta"] = beta
  return metrics


GUARDED_TERMS = ("loss", "reconstruction", "kl", "grad_norm")


def micro_batches(tree: Any, num: int, axis: int = 0) -> Any:
  """Splits `axis` of every leaf into `num` strided micro-batches, stacked on a new axis 0.

  Strided (row r goes to micro-batch r mod num) so that each micro-batch takes an equal
  share of every device's rows when the batch is split over devices.
  """

  def split(x):
    x = jnp.moveaxis(x, axis, 0)
    x = x.reshape(x.shape[0] // num, num, *x.shape[1:]).swapaxes(0, 1)
    return jnp.moveaxis(x, 1, axis + 1)

  return jax.tree.map(split, tree)


def accumulated_grad(loss_fn: Callable, params: Any, batch: jax.Array, noise: jax.Array,
                     num_micro_batches: int,
                     prior_fn: Callable[[Any], priors.Mixture] | None = None
                     ) -> tuple[Any, Metrics]:
  """Gradient of the mean loss over the batch, computed over micro-batches in a scan.

  loss_fn(params, x, noise, prior) -> (mean loss, terms); prior None: the model's own.
  With equal micro-batches the mean of their mean-loss gradients is the whole batch's
  gradient: only memory changes, not the result. With `prior_fn` (params -> the
  VampPrior's components), the pseudo-inputs are encoded once per step rather than once
  per micro-batch: the micro-batches' gradients with respect to the components are
  summed and sent back through that one encoding (the chain rule; the same gradient).

  On XLA:CPU the scan is unrolled: inside a loop its conv kernel gradients run 20–100×
  slower (celeba_vae_conv with 2 micro-batches took 2.2 s a step, 0.092 s unrolled;
  `benchmarks/train_step.py --grad_accum_steps=2`), at the cost of some of the memory saved.
  """
  grad_fn = jax.grad(loss_fn, has_aux=True)
  if num_micro_batches == 1:
    return grad_fn(params, batch, noise, None)

  if prior_fn is None:
    components, prior_vjp, as_prior = (), None, lambda c: None
  else:
    def components_and_mask(p):
      mixture = prior_fn(p)
      return (mixture.mu, mixture.logvar), mixture.mask

    components, prior_vjp, mask = jax.vjp(components_and_mask, params, has_aux=True)
    as_prior = lambda c: priors.Mixture(*c, mask)
  # d/d(params, components) of one micro-batch's loss; () components: no second gradient.
  micro_grad = jax.grad(lambda p, c, x, eps: loss_fn(p, x, eps, as_prior(c)),
                        argnums=(0, 1), has_aux=True)

  def body(carry, micro):
    grads, terms = micro_grad(params, components, *micro)
    return jax.tree.map(jnp.add, carry, grads), terms

  zeros = jax.tree.map(jnp.zeros_like, (params, components))
  micro = (micro_batches(batch, num_micro_batches), micro_batches(noise, num_micro_batches, 1))
  (grads, component_grads), terms = jax.lax.scan(body, zeros, micro,
                                                 unroll=jax.default_backend() == "cpu")
  if prior_vjp is not None:
    grads = jax.tree.map(jnp.add, grads, prior_vjp(component_grads)[0])
  grads = jax.tree.map(lambda g: g / num_micro_batches, grads)
  return grads, jax.tree.map(lambda t: t.reshape(-1), terms)


def make_train_step(config: ml_collections.ConfigDict) -> TrainStep:
  """train_step(state, batch, rng) -> (state, metrics): one Adam step on the mean loss.

  metrics["finite"] says whether the loss terms and the gradients were all finite; with
  `skip_nonfinite_steps` such a step leaves parameters and Adam state unchanged.
  """
  beta_at = objective.beta_schedule(config)

  def train_step(state, batch, rng):
    beta = jnp.asarray(beta_at(state.step), jnp.float32)
    noise = objective.sample_noise(rng, config, batch.shape[0])

    def loss_fn(params, x, eps, prior):
      out = state.apply_fn({"params": params}, x, eps, prior)
      terms = objective.loss_terms(out, x, beta, config)
      return jnp.mean(terms["loss"]), terms

    prior_fn = (lambda p: state.apply_fn({"params": p}, method=VAE.prior_components)
                ) if config.prior == "vamp" else None
    grads, terms = accumulated_grad(loss_fn, state.params, batch, noise,
                                    config.grad_accum_steps, prior_fn)
    metrics = _batch_metrics(terms, beta)
    metrics["grad_norm"] = optax.tree.norm(grads)
    metrics["finite"] = jnp.all(jnp.isfinite(jnp.stack([metrics[t] for t in GUARDED_TERMS])))
    new_state = state.apply_gradients(grads=grads)
    if config.skip_nonfinite_steps:
      new_state = jax.tree.map(lambda new, old: jnp.where(metrics["finite"], new, old),
                               new_state, state).replace(step=state.step + 1)
    return new_state, metrics

  return train_step


@functools.lru_cache(maxsize=None)
def prior_components_fn(model: VAE) -> Callable[[Any], Any]:
  """params -> the prior's components, jitted once per model (not once per evaluation)."""
  return jax.jit(lambda params: model.apply({"params": params}, method=VAE.prior_components))


def masked_loss_sums(model: VAE, params: Any, batch: jax.Array, mask: jax.Array,
                     rng: jax.Array, prior: Any, beta: jax.Array,
                     config: ml_collections.ConfigDict) -> tuple[Metrics, Any]:
  """Sums over the unmasked examples of every loss term, and the model's outputs."""
  noise = objective.sample_noise(rng, config, batch.shape[0])
  out = model.apply({"params": params}, batch, noise, prior)
  terms = objective.loss_terms(out, batch, beta, config)
  return {name: jnp.sum(jnp.where(mask, value, 0.0)) for name, value in terms.items()}, out


def make_eval_step(model: VAE, config: ml_collections.ConfigDict) -> Callable[..., Metrics]:
  """eval_step(params, batch, mask, rng, prior, beta) -> masked sums of every term.

  The prior's components are computed once per evaluation and passed in, not re-encoded
  for every batch.
  """

  def eval_step(params, batch, mask, rng, prior, beta):
    sums, _ = masked_loss_sums(model, params, batch, mask, rng, prior, beta, config)
    sums["count"] = jnp.sum(mask.astype(jnp.float32))
    return sums

  return eval_step


def evaluate(model: VAE, params: Any, images: np.ndarray, config: ml_collections.ConfigDict,
             rng: jax.Array, beta: float, mesh: jax.sharding.Mesh,
             eval_step: Callable[..., Metrics] | None = None) -> dict[str, float]:
  """Mean of every loss term over `images`, each image counted exactly once."""
  eval_step = eval_step or jax.jit(make_eval_step(model, config))
  prior = prior_components_fn(model)(params)
  beta = jnp.asarray(beta, jnp.float32)
  totals = None
  for i, (batch, mask) in enumerate(pipeline.eval_batches(images, config.batch_size)):
    batch, mask = sharding.put_batch((batch, mask), mesh)
    sums = eval_step(params, batch, mask, jax.random.fold_in(rng, i), prior, beta)
    totals = sums if totals is None else jax.tree.map(jnp.add, totals, sums)
  totals = {name: float(value) for name, value in jax.device_get(totals).items()}
  count = totals.pop("count")
  means = {name: value / count for name, value in totals.items()}
  means["kl_share"] = float(objective.kl_share(means["loss"], means["kl"], beta))
  means["num_examples"] = int(count)
  return means


class NonFiniteError(FloatingPointError):
  """A step produced NaN or inf; the message names the step and the terms."""


class MetricsWriter:
  """Appends one JSON object per logged step to `<workdir>/metrics.jsonl`."""

  def __init__(self, workdir: str, resume_step: int):
    self.path = os.path.join(workdir, workdir_lib.METRICS_FILE)
    self._drop_after(resume_step)

  def _drop_after(self, step: int) -> None:
    """On resume, forget lines logged after the checkpoint: those steps are run again."""
    if not os.path.exists(self.path):
      return
    with open(self.path) as f:
      kept = [line for line in f if line.strip() and json.loads(line)["step"] <= step]
    with open(self.path + ".tmp", "w") as f:
      f.writelines(kept)
    os.replace(self.path + ".tmp", self.path)

  def write(self, step: int, split: str, metrics: dict[str, Any]) -> None:
    record = {"step": step, "split": split,
              **{name: float(value) for name, value in metrics.items()}}
    with open(self.path, "a") as f:
      f.write(json.dumps(record) + "\n")


class NonFiniteGuard:
  """Collects each step's `finite` flag without a device sync, and checks them in bulk
  before anything is logged or saved: training stops at the first bad step (naming it and
  its bad terms), or, with `skip`, counts the skipped steps."""

  def __init__(self, skip: bool, workdir: str):
    self.skip, self.workdir = skip, workdir
    self.pending: list[tuple[int, Metrics]] = []
    self.skipped = 0

  def add(self, step: int, metrics: Metrics) -> None:
    self.pending.append((step, metrics))

  def check(self, last_good_checkpoint: int | None) -> None:
    flags = jax.device_get([m["finite"] for _, m in self.pending])
    bad = [(step, m) for (step, m), ok in zip(self.pending, flags) if not ok]
    self.pending = []
    if bad and not self.skip:
      step, metrics = bad[0]
      values = jax.device_get({t: metrics[t] for t in GUARDED_TERMS})
      terms = ", ".join(f"{'gradients' if t == 'grad_norm' else t}={float(values[t])}"
                        for t in GUARDED_TERMS if not np.isfinite(values[t]))
      kept = (f"the last good checkpoint (step {last_good_checkpoint}) is kept"
              if last_good_checkpoint is not None else "no checkpoint was written")
      raise NonFiniteError(
          f"step {step}: non-finite {terms}; training stopped and {kept} in {self.workdir}. "
          "Lower learning_rate, or set skip_nonfinite_steps=True to skip such steps.")
    self.skipped += len(bad)


def _every(step: int, period: int, last: int) -> bool:
  return step == last or (period > 0 and step % period == 0)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       overwrite: bool = False) -> train_state.TrainState:
  """Trains for `num_train_steps`, resuming from the latest checkpoint in `workdir`.

  The config is checked before anything is written; a workdir holding a run of another
  config is refused unless `overwrite`.
  """
  sharding.initialize_distributed(config)  # multi-host: before any other JAX call
  workdir = os.path.abspath(workdir)
  lead = jax.process_index() == 0  # one process writes the workdir's files; orbax saves on all
  mesh = sharding.make_mesh()
  config_validation.validate(config, mesh.size)
  dataset = data.get_dataset(config)
  config_validation.validate_with_data(config, len(dataset.train))
  if lead:
    workdir_lib.prepare(workdir, config, overwrite)
  model = build_model(config, mesh)
  keys = rng_streams(config.seed)

  mngr = checkpointing.manager(workdir, config.max_checkpoints_to_keep)
  if mngr.latest_step() is None:
    state = create_train_state(config, model, keys["init"], dataset.train)
  else:
    state = checkpointing.restore(mngr, abstract_train_state(config, model))
    print(f"Resuming from the checkpoint at step {int(state.step)} in {workdir}.")
  state = sharding.put_replicated(state, mesh)
  start = int(state.step)
  writer = MetricsWriter(workdir, start) if lead else None
  guard = NonFiniteGuard(config.skip_nonfinite_steps, workdir)

  repl, batch_sh = sharding.replicated(mesh), sharding.batch_sharded(mesh)
  train_step = jax.jit(make_train_step(config), donate_argnums=0,
                       in_shardings=(repl, batch_sh, repl), out_shardings=(repl, repl))
  eval_step = jax.jit(make_eval_step(model, config))
  beta_at = objective.beta_schedule(config)
  test_images = (dataset.test if config.num_eval_examples < 0
                 else dataset.test[:config.num_eval_examples])
  batches = pipeline.prefetch(
      pipeline.train_batches(dataset.train, config.batch_size, config.seed, start,
                             config.data.dynamic_binarization),
      transform=lambda b: sharding.put_batch(b, mesh))

  last = config.num_train_steps
  logged_step, logged_time = start, time.perf_counter()
  try:
    with tqdm(initial=start, total=last, desc="train", unit="step", dynamic_ncols=True,
              disable=not lead) as bar:
      for step in range(start + 1, last + 1):
        state, metrics = train_step(state, next(batches), jax.random.fold_in(keys["train"], step))
        guard.add(step, metrics)
        log, evaluate_now, save = (_every(step, config.log_every_steps, last),
                                   _every(step, config.eval_every_steps, last),
                                   _every(step, config.checkpoint_every_steps, last))
        if log or evaluate_now or save:
          guard.check(mngr.latest_step())
        if log:
          metrics = jax.device_get(metrics)
          now = time.perf_counter()
          metrics["images_per_sec"] = (step - logged_step) * config.batch_size / (now - logged_time)
          metrics["skipped_steps"] = guard.skipped
          logged_step, logged_time = step, now
          if writer:
            writer.write(step, "train", metrics)
          bar.set_postfix(loss=f"{metrics['loss']:.2f}", kl=f"{metrics['kl']:.2f}",
                          img_s=f"{metrics['images_per_sec']:.0f}")
        if evaluate_now:
          results = evaluate(model, state.params, test_images, config,
                             jax.random.fold_in(keys["eval"], step), float(beta_at(step)),
                             mesh, eval_step)
          if writer:
            writer.write(step, "test", results)
          bar.write(f"step {step}: test loss {results['loss']:.3f} "
                    f"(reconstruction {results['reconstruction']:.3f}, KL {results['kl']:.3f})")
          logged_step, logged_time = step, time.perf_counter()  # images/s leaves eval out
        if save:
          checkpointing.save(mngr, step, state)
        bar.update(1)
  finally:
    mngr.wait_until_finished()  # a failure still leaves the last good checkpoint complete
  return state


def restore_model(config: ml_collections.ConfigDict, workdir: str,
                  step: int | None = None) -> tuple[VAE, train_state.TrainState]:
  """The model a config describes and its state from the (latest) checkpoint in `workdir`."""
  model = build_model(config)
  mngr = checkpointing.manager(workdir, config.max_checkpoints_to_keep)
  return model, checkpointing.restore(mngr, abstract_train_state(config, model), step)
