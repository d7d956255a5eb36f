"""`steps_per_call`: N steps in one jitted call against N single steps; the batches drawn
on the device; the calls' boundaries; preemption and resume inside a multi-step run."""

import os
import signal

import jax
import numpy as np
import pytest

from tests.conftest import tiny_config
from vampjax import checkpointing, config_validation, preemption, step_dispatch, train
from vampjax.data import Dataset, on_device, pipeline
from vampjax.models import build_model
from vampjax.nonfinite import NonFiniteGuard
from vampjax.state import create_train_state, restore_model, rng_streams

STEPS = 3
# One- and two-level MLP models, standard and VampPrior, at sizes that compile in seconds.
MODELS = [dict(architecture=a, prior=p) for a in ("gated_mlp", "hvae_mlp")
          for p in ("standard", "vamp")]


def mlp_config(**overrides):
  return tiny_config(**{"architecture": "gated_mlp", "data.image_size": 8, "mlp_hidden": (16,), "latent_dim": 4,
                        "num_components": 4, "pseudo_init": "random",
                        "decoder_bias_init": "zero", "likelihood": "bernoulli", **overrides})


def grey_images(count, size=8, seed=0):
  return np.random.default_rng(seed).integers(0, 256, (count, size, size, 1), dtype=np.uint8)


def synthetic_binary_dataset(train_count=40):
  """A tiny stand-in for mnist_binary: grey training images, binary validation and test."""
  binary = lambda n, s: (grey_images(n, seed=s) > 127).astype(np.uint8) * 255
  return Dataset("mnist_binary", grey_images(train_count), binary(16, 1),
                 validation=binary(16, 2))


def single_steps(config, state, batches):
  """The reference: one jitted `train_step` per batch, rng fold_in(train key, step)."""
  step_fn = jax.jit(train.make_train_step(config))
  train_key = rng_streams(config.seed)["train"]
  for step, batch in enumerate(batches, start=int(state.step) + 1):
    state, _ = step_fn(state, batch, jax.random.fold_in(train_key, step))
  return state


def assert_same_params(got, want):
  """Equal to float32 tolerance; returns whether bitwise."""
  bitwise = True
  for a, b in zip(jax.tree.leaves(got.params), jax.tree.leaves(want.params), strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    bitwise &= np.array_equal(a, b)
  return bitwise


@pytest.mark.parametrize("overrides", MODELS, ids=lambda o: f"{o['architecture']}-{o['prior']}")
@pytest.mark.parametrize("binarized", [False, True], ids=["stacked", "binarized"])
def test_one_call_of_n_steps_equals_n_single_steps(overrides, binarized):
  config = mlp_config(**overrides, **{"data.dynamic_binarization": binarized})
  model = build_model(config)
  images = grey_images(24)
  state = create_train_state(config, model, jax.random.key(0))
  indices = np.stack([np.sort(pipeline.train_batch_indices(24, 8, config.seed, s))
                      for s in range(STEPS)])
  if binarized:
    block, device_images = indices, jax.device_put(images)
    batches = [on_device.binarized_batch(device_images, i, config.seed, s)
               for s, i in enumerate(indices)]
  else:
    block, device_images = pipeline.to_float(images[indices]), None
    batches = list(block)
  want = single_steps(config, state, batches)
  got, metrics = jax.jit(train.make_multi_step(config))(state, block, 1, device_images)
  assert int(got.step) == STEPS and metrics["loss"].shape == (STEPS,)
  print(f"{overrides} binarized={binarized}: bitwise {assert_same_params(got, want)}")


@pytest.mark.parametrize("steps", [1, STEPS])
def test_only_calls_of_several_steps_loop(steps):
  """A call of one step is the step itself, with no while loop around it: XLA:CPU runs a conv
  net ~17× slower inside one (the quick start: 32 against 607 images/s)."""
  config = mlp_config()
  state = create_train_state(config, build_model(config), jax.random.key(0))
  block = pipeline.to_float(grey_images(steps * 8).reshape(steps, 8, 8, 8, 1))
  jaxpr = str(jax.make_jaxpr(train.make_multi_step(config))(state, block, 1, None))
  assert ("scan[" in jaxpr) == (steps > 1)


def drawn_batches(config, images, first, count):
  """The batches that make_multi_step's steps first..first+count-1 train on, per call."""
  block = np.stack([np.sort(pipeline.train_batch_indices(len(images), config.batch_size,
                                                         config.seed, s - 1))
                    for s in range(first, first + count)])
  multi = train.make_multi_step(config)
  _, metrics = jax.jit(multi)(None, block, first, jax.device_put(images))
  return metrics["batch"]


def test_binarization_depends_on_seed_and_step_alone(monkeypatch):
  """The batches drawn inside one call of 4 steps equal those of 4 calls of one step and
  the host pipeline's images binarized by (seed, step); another seed draws others."""
  monkeypatch.setattr(train, "make_train_step",
                      lambda config, model=None: lambda state, batch, rng: (state, {"batch": batch}))
  config = mlp_config(**{"data.dynamic_binarization": True})
  images = grey_images(24)
  together = drawn_batches(config, images, 1, 4)
  one_by_one = np.concatenate([drawn_batches(config, images, s, 1) for s in range(1, 5)])
  np.testing.assert_array_equal(together, one_by_one)
  for step, batch in enumerate(together):
    grey = pipeline.to_float(images[np.sort(pipeline.train_batch_indices(24, 8, 0, step))])
    np.testing.assert_array_equal(
        batch, on_device.binarize(grey, on_device.binarization_key(config.seed, step)))
    assert np.all(batch[grey == 0] == 0) and np.all(batch[grey == 1] == 1)
  other_seed = drawn_batches(mlp_config(seed=1, **{"data.dynamic_binarization": True}),
                             images, 1, 4)
  assert not np.array_equal(together, other_seed)


def test_pixel_frequencies_match_the_grey_levels():
  """Every grey level 0..255 once, drawn at 4000 steps: each level's share of ones within
  6σ of level / 255 (σ of a binomial share ≤ 0.0079), exact at 0 and 255."""
  grey = pipeline.to_float(np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1))
  draws = 4000
  ones = jax.jit(jax.vmap(lambda s: on_device.binarize(grey, on_device.binarization_key(7, s))))(
      np.arange(draws)).mean(axis=0).ravel()
  p = grey.ravel()
  sigma = np.sqrt(p * (1 - p) / draws)
  assert np.all(np.abs(ones - p) <= 6 * sigma + 1e-7), np.max(np.abs(ones - p) / (sigma + 1e-9))
  assert ones[0] == 0 and ones[255] == 1


@pytest.mark.parametrize("start,last,periods,calls", [
    (0, 7, [3, 2], [(1, 2), (3, 3), (4, 4), (5, 6), (7, 7)]),
    (0, 10, [4, 0, 5], [(1, 4), (5, 5), (6, 8), (9, 10)]),  # 0: no such period
    (5, 12, [4, 5], [(6, 8), (9, 10), (11, 12)]),  # resumed at 5: the same ends as from 0
    (3, 3, [4], []),
])
def test_calls_end_at_every_period_and_at_the_last_step(start, last, periods, calls):
  assert list(step_dispatch.call_chunks(start, last, periods)) == calls


def test_calls_never_cross_an_epoch_end_with_validation():
  """100 steps a call, 250-step epochs (validation, early stopping): calls end at each."""
  config = mlp_config(steps_per_call=100, log_every_steps=0, eval_every_steps=0,
                      checkpoint_every_steps=0)
  periods = train._call_periods(config, 250)
  ends = [end for _, end in step_dispatch.call_chunks(0, 800, periods)]
  assert ends == [100, 200, 250, 300, 400, 500, 600, 700, 750, 800]


def preempt_during_call(monkeypatch, first_step):
  """SIGTERM arrives while the call from `first_step` is in flight (right after dispatch)."""
  real_add = NonFiniteGuard.add

  def add(guard, first, metrics):
    real_add(guard, first, metrics)
    if first == first_step:
      os.kill(os.getpid(), signal.SIGTERM)

  monkeypatch.setattr(NonFiniteGuard, "add", add)


def test_preemption_in_a_multi_step_run_saves_the_call_and_resumes_bitwise(tmp_path,
                                                                          monkeypatch):
  """Binarized on the device, 3 steps a call, validation every 5-step epoch: the call of
  steps 6..6 is cut at the epoch end; a signal during the call of steps 7..9 saves step 9,
  and the resumed run ends bitwise equal to an uninterrupted one (and to steps_per_call=1
  to float32 tolerance)."""
  dataset = synthetic_binary_dataset()
  config = mlp_config(steps_per_call=3, num_train_steps=12, log_every_steps=0,
                      eval_every_steps=0, checkpoint_every_steps=0,
                      **{"data.name": "mnist_binary", "data.dynamic_binarization": True})
  straight = train.train_and_evaluate(config, str(tmp_path / "straight"), dataset=dataset)
  workdir = str(tmp_path / "preempted")
  with monkeypatch.context() as patch:
    preempt_during_call(patch, 7)
    with pytest.raises(preemption.Preempted) as stopped:
      train.train_and_evaluate(config, workdir, dataset=dataset)
  assert stopped.value.step == 9 == checkpointing.manager(workdir).latest_step()
  resumed = train.train_and_evaluate(config, workdir, dataset=dataset)
  for got, want in zip(jax.tree.leaves(resumed), jax.tree.leaves(straight), strict=True):
    np.testing.assert_array_equal(got, want)
  _, saved = restore_model(config, workdir)
  assert int(saved.step) == 12
  config.steps_per_call = 1
  one_per_call = train.train_and_evaluate(config, str(tmp_path / "one"), dataset=dataset)
  print(f"steps_per_call 3 vs 1: bitwise {assert_same_params(straight, one_per_call)}")


def test_steps_per_call_below_one_is_refused():
  with pytest.raises(config_validation.ConfigError, match=r"steps_per_call=0 must be >= 1"):
    config_validation.validate(mlp_config(steps_per_call=0))
