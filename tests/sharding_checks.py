"""The many-device halves of tests/test_sharding.py, run in subprocesses with simulated CPU
devices, so that JAX starts with 8 devices while the test process keeps its one.

  XLA_FLAGS=--xla_force_host_platform_device_count=8 \
      python tests/sharding_checks.py sharded OUT_DIR --ckpt_1=DIR
  JAX_COORDINATOR_ADDRESS=localhost:PORT JAX_NUM_PROCESSES=2 JAX_PROCESS_ID=i \
      XLA_FLAGS=--xla_force_host_platform_device_count=4 \
      python tests/sharding_checks.py multiprocess OUT_DIR

`sharded` runs every 8-device check in one process (JAX starts and compiles once), saving
parameters and gradients as .npz and its measurements as OUT_DIR/results.json; the test
compares them with single-device references computed in its own process at the same time
(the two halves run in parallel on 2 cores). `multiprocess` is one of 2 processes × 4
devices taking the same train step: the multi-host path (jax.distributed, per-process
batch rows, make_array_from_process_local_data) on one machine.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time
from typing import Any, Callable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import jax  # pylint: disable=wrong-import-position
import jax.numpy as jnp  # pylint: disable=wrong-import-position
import numpy as np  # pylint: disable=wrong-import-position
import optax  # pylint: disable=wrong-import-position
from flax.training import train_state  # pylint: disable=wrong-import-position

from tests.conftest import tiny_config  # pylint: disable=wrong-import-position
from vampjax import (objective, priors, sharding, train,  # pylint: disable=wrong-import-position
                     xla_cpu)
from vampjax.data import pipeline  # pylint: disable=wrong-import-position
from vampjax.state import create_train_state, restore_model  # pylint: disable=wrong-import-position
from vampjax.models import build_model  # pylint: disable=wrong-import-position
from vampjax.vae import VAE

xla_cpu.use_compilation_cache(os.path.join(ROOT, ".pytest_cache", "xla"))

# One train step per case: config overrides and the batch size (K = 6: not a multiple of 8).
STEP_CASES = {
    **{f"{prior}_{arch}": ({"prior": prior, "architecture": arch}, 8)
       for prior in ("standard", "vamp") for arch in ("conv", "resnet")},
    # Two micro-batches of one image per device, the pseudo-inputs encoded once per step.
    "vamp_conv_2_micro_batches": ({"prior": "vamp", "architecture": "conv",
                                   "grad_accum_steps": 2}, 16),
    # The paper's two-level model: the VampPrior on z2 through q(z2|·), sharded the same way.
    "vamp_hvae_mlp": ({"prior": "vamp", "architecture": "hvae_mlp"}, 8),
    # The paper's MoG baseline: K free Gaussians, replicated like the networks' parameters.
    "mog_conv": ({"prior": "mog", "architecture": "conv"}, 8),
    # A learned σ per pixel: one more replicated parameter, with the Gaussian likelihood.
    "vamp_conv_learned_scale": ({"prior": "vamp", "architecture": "conv",
                                 "likelihood": "gaussian",
                                 "likelihood_scale_mode": "learned_pixel"}, 8),
}
PRIOR_K = 12  # padded to 16 on 8 devices
FLOPS_K = 64


def case_config(name: str):
  overrides, batch_size = STEP_CASES[name]
  return tiny_config(num_components=6, pseudo_init="random", batch_size=batch_size,
                     **overrides)


def case_batch(name: str) -> np.ndarray:
  batch_size = STEP_CASES[name][1]
  return np.random.default_rng(batch_size).uniform(size=(batch_size, 32, 32, 1)).astype(
      np.float32)


def save_tree(path: str, tree: Any) -> None:
  np.savez(path, *[np.asarray(x) for x in jax.tree.leaves(jax.device_get(tree))])


def load_leaves(path: str) -> list[np.ndarray]:
  with np.load(path) as f:
    return [f[f"arr_{i}"] for i in range(len(f.files))]


@functools.lru_cache(maxsize=None)
def _vamp_init(architecture: str, k: int) -> dict:
  config = tiny_config(architecture=architecture, num_components=k, pseudo_init="random",
                       decoder_bias_init="zero")
  return jax.device_get(create_train_state(config, build_model(config),
                                                 jax.random.key(0)).params)


def initial_state(config) -> train_state.TrainState:
  """The fixed init of a case, without compiling an init per case: parameter names fix
  their rngs in flax, so the standard prior's parameters are the VampPrior's minus
  `vamp_prior`, the MoG's have `mog_prior` instead (random means and log-variances, so that
  its components differ), a VampPrior of another K differs only in its pseudo-inputs, and a
  learned σ per pixel adds its parameters (random, so that σ differs between pixels)."""
  params = dict(_vamp_init(config.architecture, 6))
  if config.prior != "vamp":
    del params["vamp_prior"]
  if config.prior == "mog":
    rng, shape = np.random.default_rng(0), (config.num_components, config.latent_dim)
    params["mog_prior"] = {"means": rng.normal(size=shape).astype(np.float32),
                           "logvars": rng.normal(scale=0.5, size=shape).astype(np.float32)}
  elif config.prior == "vamp" and config.num_components != 6:
    logits = np.random.default_rng(config.num_components).normal(
        size=(config.num_components, 32, 32, 1)).astype(np.float32)
    params["vamp_prior"] = {"pseudo_logits": logits}
  if config.likelihood_scale_mode == "learned_pixel":
    log_scale_logit = np.random.default_rng(0).normal(size=(32, 32, 1)).astype(np.float32)
    params["pixel_scale"] = {"log_scale_logit": log_scale_logit}
  return train_state.TrainState.create(apply_fn=build_model(config).apply, params=params,
                                       tx=optax.adam(config.learning_rate))


def step_and_grad(config, model: VAE) -> Callable:
  """(state, batch, rng) -> (parameters after one train step, gradient of the loss at
  `state`), in one program: one compilation."""
  step = train.make_train_step(config)

  def fn(state, x, rng):
    noise = objective.sample_noise(rng, model, config, x.shape[0])

    def loss(p):
      terms = model.apply({"params": p}, x, noise)
      return jnp.mean(objective.loss_terms(terms, jnp.float32(1.0))["loss"])

    return step(state, x, rng)[0].params, jax.grad(loss)(state.params)

  return fn


def one_step(config, mesh, batch: np.ndarray) -> tuple[Any, Any]:
  """Parameters after one step from the fixed init, and the gradient of that step's loss
  (without accumulation), on `mesh` (or on one device when None)."""
  state, rng, model = initial_state(config), jax.random.key(1), build_model(config, mesh)
  if mesh is None:
    return jax.jit(step_and_grad(config, model))(state, batch, rng)
  repl, split = sharding.replicated(mesh), sharding.batch_sharded(mesh)
  state = sharding.put_replicated(state.replace(apply_fn=model.apply), mesh)
  return jax.jit(step_and_grad(config, model), in_shardings=(repl, split, repl),
                 out_shardings=repl)(state, sharding.put_batch(batch, mesh), rng)


def run_steps(mesh, out_dir: str, suffix: str) -> None:
  for name in STEP_CASES:
    params, grads = one_step(case_config(name), mesh, case_batch(name))
    save_tree(os.path.join(out_dir, f"{name}_params_{suffix}.npz"), params)
    save_tree(os.path.join(out_dir, f"{name}_grads_{suffix}.npz"), grads)


def prior_fn(model: VAE) -> Callable:
  return lambda p: model.apply({"params": p}, method="prior_components")


def prior_check(mesh, out_dir: str, suffix: str) -> None:
  """Components, Σ log p(z) and its gradient for K = PRIOR_K, on `mesh` or one device."""
  config = tiny_config(num_components=PRIOR_K, pseudo_init="random")
  model = build_model(config, mesh)
  params = initial_state(config).params
  z = jax.random.normal(jax.random.key(2), (16, config.latent_dim))
  if mesh is not None:
    params, z = sharding.put_replicated((params, z), mesh)

  def total_log_prob(p, z):
    prior = prior_fn(model)(p)
    return jnp.sum(priors.log_prob(z, prior.mu, prior.logvar, prior.mask))

  prior = jax.jit(prior_fn(model))(params)
  mask = prior.mask if prior.mask is not None else jnp.ones(PRIOR_K, bool)
  save_tree(os.path.join(out_dir, f"prior_{suffix}.npz"),
            [prior.mu[:PRIOR_K], prior.logvar[:PRIOR_K], jax.jit(total_log_prob)(params, z),
             mask])
  save_tree(os.path.join(out_dir, f"prior_grads_{suffix}.npz"),
            jax.jit(jax.grad(total_log_prob))(params, z))


def flops_per_device(fn: Callable, mesh, *args) -> float:
  """XLA's FLOP count of the compiled program, which after SPMD partitioning is one
  device's share."""
  compiled = jax.jit(fn, in_shardings=sharding.replicated(mesh)).lower(*args).compile()
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  return float(cost["flops"])


def prior_flops(k: int = FLOPS_K) -> dict[str, float]:
  """Per-device FLOPs of prior_components on meshes of 1, 2, 4, 8 devices."""
  config = tiny_config(num_components=k, pseudo_init="random")
  params = initial_state(config).params
  out = {}
  for n in (1, 2, 4, 8):
    mesh = sharding.make_mesh(jax.devices()[:n])
    out[str(n)] = flops_per_device(prior_fn(build_model(config, mesh)), mesh, params)
  return out


CKPT_CONFIG = dict(pseudo_init="random", num_train_steps=2)


def checkpoints(ckpt_1: str, out_dir: str) -> dict:
  """Writes a 2-step run on 8 devices (the parent restores it on one device); restores and
  resumes for a step the parent's 2-step run written on one device."""
  workdir_8 = os.path.join(out_dir, "run_8")
  config = tiny_config(**CKPT_CONFIG)
  save_tree(os.path.join(out_dir, "run_8_params.npz"),
            train.train_and_evaluate(config, workdir_8).params)
  _, restored = restore_model(config, ckpt_1)
  save_tree(os.path.join(out_dir, "restored_on_8_params.npz"), restored.params)
  resumed = train.train_and_evaluate(tiny_config(**{**CKPT_CONFIG, "num_train_steps": 3}),
                                     ckpt_1)
  return {"workdir_8": workdir_8,
          "restored_devices": len(jax.tree.leaves(restored.params)[0].sharding.device_set),
          "resumed_step": int(resumed.step)}


def sharded(out_dir: str, ckpt_1: str) -> None:
  mesh = sharding.make_mesh()
  results, seconds = {"device_count": jax.device_count()}, {}
  for name, check in (("steps", lambda: run_steps(mesh, out_dir, "8")),
                      ("prior", lambda: prior_check(mesh, out_dir, "8")),
                      ("prior_flops_per_device", prior_flops),
                      ("checkpoints", lambda: checkpoints(ckpt_1, out_dir))):
    start = time.perf_counter()
    results[name] = check()
    seconds[name] = round(time.perf_counter() - start, 1)
  results["seconds"] = seconds
  with open(os.path.join(out_dir, "results.json"), "w") as f:
    json.dump(results, f, indent=1)


def multiprocess(out_dir: str) -> None:
  """One process of a 2-process run: its rows of the batch, one step on the global mesh."""
  jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU cross-process
  assert sharding.initialize_distributed(tiny_config())
  assert sharding.initialize_distributed(tiny_config())  # idempotent
  name = "vamp_conv"
  config, batch = case_config(name), case_batch(name)
  mesh = sharding.make_mesh()
  rows = pipeline.local_slice(config.batch_size, pipeline.process_shard())
  model = build_model(config, mesh)
  state = sharding.put_replicated(initial_state(config).replace(apply_fn=model.apply), mesh)
  repl, split = sharding.replicated(mesh), sharding.batch_sharded(mesh)
  step = jax.jit(train.make_train_step(config), in_shardings=(repl, split, repl),
                 out_shardings=(repl, repl))
  global_batch = sharding.put_batch(batch[rows], mesh)
  new, metrics = step(state, global_batch, jax.random.key(1))
  local = jax.tree.map(lambda x: x.addressable_data(0), new.params)  # replicated: whole
  index = jax.process_index()
  save_tree(os.path.join(out_dir, f"multiprocess_params_{index}.npz"), local)
  with open(os.path.join(out_dir, f"multiprocess_{index}.json"), "w") as f:
    json.dump({"process_count": jax.process_count(), "device_count": jax.device_count(),
               "local_device_count": jax.local_device_count(),
               "local_rows": int(batch[rows].shape[0]),
               "global_batch": list(global_batch.shape), "loss": float(metrics["loss"])}, f)


def main() -> None:
  parser = argparse.ArgumentParser()
  parser.add_argument("mode", choices=("sharded", "multiprocess"))
  parser.add_argument("out_dir")
  parser.add_argument("--ckpt_1", help="sharded: workdir of a 2-step one-device run")
  args = parser.parse_args()
  if args.mode == "sharded":
    sharded(args.out_dir, args.ckpt_1)
  else:
    multiprocess(args.out_dir)


if __name__ == "__main__":
  main()
