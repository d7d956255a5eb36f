"""vampjax.load_run against what the command line writes for the same run: samples.png of
--mode=sample, the reconstructions of --mode=figures, eval's posterior means and IS-NLL; on
a one-level run and on two-level ones (hvae_mlp, hvae_conv)."""

import json
import shutil

import jax
import ml_collections
import numpy as np
import pytest
from PIL import Image

import vampjax
from tests.conftest import tiny_config
from vampjax import api, data, default_config, figures, modes, train
from vampjax.state import restore_model, rng_streams
from vampjax.data import pipeline
from vampjax.metrics import evaluate

CONFIG = dict(num_train_steps=2, eval_every_steps=0, **{"eval.num_examples": 16})
ARCHITECTURES = ("conv", "hvae_mlp", "hvae_conv")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  """architecture -> (workdir, load_run(workdir)) of a run trained for 2 steps, once."""
  trained = {}

  def get(architecture):
    if architecture not in trained:
      workdir = str(tmp_path_factory.mktemp(architecture))
      bias = "data_mean" if architecture == "conv" else "zero"  # data_mean: conv/resnet only
      train.train_and_evaluate(tiny_config(**CONFIG, architecture=architecture,
                                           decoder_bias_init=bias), workdir)
      trained[architecture] = workdir, vampjax.load_run(workdir)
    return trained[architecture]

  return get


@pytest.fixture(params=ARCHITECTURES)
def run(request, runs):
  return runs(request.param)


def run_config(loaded, **overrides):
  """A copy of the run's config with `overrides`, as the command line would build it."""
  config = ml_collections.ConfigDict(loaded.config.to_dict())
  config.update_from_flattened_dict(overrides)
  return config


def figure_images():
  """The images --mode=figures shows: the first eval.num_examples of the test split."""
  return data.get_dataset(tiny_config()).test[:CONFIG["eval.num_examples"]]


def pixels(path):
  return np.asarray(Image.open(path))


def test_load_run_reads_config_params_and_step(run):
  workdir, loaded = run
  assert vampjax.load_run is api.load_run
  assert (loaded.step, loaded.which) == (2, "latest")  # no validation: no best checkpoint
  assert loaded.config.latent_dim == tiny_config().latent_dim
  _, state = restore_model(run_config(loaded), workdir)
  for got, want in zip(jax.tree.leaves(loaded.params), jax.tree.leaves(state.params)):
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_run_written_before_a_config_key_existed_loads_with_its_default(runs, tmp_path):
  workdir = str(tmp_path / "old")
  shutil.copytree(runs("conv")[0], workdir)
  with open(f"{workdir}/config.json") as f:
    saved = json.load(f)
  del saved["mlp_hidden"], saved["eval"]["is_chunk"]
  with open(f"{workdir}/config.json", "w") as f:
    json.dump(saved, f)
  old = vampjax.load_run(workdir)
  defaults = default_config.get_config()
  assert old.config.mlp_hidden == defaults.mlp_hidden
  assert old.config.eval.is_chunk == defaults.eval.is_chunk
  assert old.config.latent_dim == tiny_config().latent_dim != defaults.latent_dim
  assert old.config.eval.num_examples == 16


def test_sample_equals_the_samples_png_of_mode_sample(run, tmp_path):
  workdir, loaded = run
  config = run_config(loaded, seed=3)
  cli = pixels(modes.run_sample(config, workdir))
  mine = figures.save_image_grid(str(tmp_path / "api.png"), loaded.sample(config.num_samples,
                                                                           seed=3))
  np.testing.assert_array_equal(pixels(mine), cli)


def test_reconstruct_equals_the_reconstructions_of_mode_figures(run, tmp_path):
  workdir, loaded = run
  modes.run_figures(run_config(loaded), workdir)
  images = figure_images()[:32]  # write_figures' first 32 test images, uint8
  reconstructions = loaded.reconstruct(images)
  np.testing.assert_array_equal(reconstructions, loaded.reconstruct(pipeline.to_float(images)))
  mine = figures.save_image_grid(
      str(tmp_path / "api.png"), figures.paired_rows(pipeline.to_float(images), reconstructions,
                                                     8), 8, figures.image_scale(32),
      figures.RECONSTRUCTION_LABELS)
  np.testing.assert_array_equal(pixels(mine),
                                pixels(f"{workdir}/{figures.FIGURES_DIR}/reconstructions.png"))


def test_pseudo_inputs_equal_the_pseudo_inputs_png_of_mode_figures(run, tmp_path):
  """The first 32 of K pseudo-inputs, each beside its decoding, as --mode=figures draws them."""
  workdir, loaded = run
  modes.run_figures(run_config(loaded), workdir)
  pseudo = loaded.pseudo_inputs()
  assert pseudo.shape == (loaded.config.num_components, *loaded.model.image_shape)
  assert 0.0 <= pseudo.min() and pseudo.max() <= 1.0
  first = pseudo[:32]
  mine = figures.save_image_grid(
      str(tmp_path / "api.png"), figures.paired_rows(first, loaded.reconstruct(first), 8), 8,
      figures.image_scale(32), figures.PSEUDO_INPUT_LABELS)
  np.testing.assert_array_equal(pixels(mine),
                                pixels(f"{workdir}/{figures.FIGURES_DIR}/pseudo_inputs.png"))


def test_pseudo_inputs_are_refused_without_a_vampprior(tmp_path):
  workdir = str(tmp_path / "standard")
  train.train_and_evaluate(tiny_config(**CONFIG, prior="standard"), workdir)
  with pytest.raises(ValueError, match="only a VampPrior has pseudo-inputs"):
    vampjax.load_run(workdir).pseudo_inputs()


def test_encode_equals_the_posterior_means_of_the_evaluation(run):
  workdir, loaded = run
  images = figure_images()
  model, state = restore_model(run_config(loaded), workdir)
  want = evaluate.posterior_means(model, state.params, images, 8)  # levels sorted by name
  levels = loaded.encode_levels(images)
  assert list(levels) == (["z"] if loaded.config.architecture == "conv" else ["z2", "z1"])
  np.testing.assert_allclose(np.concatenate([levels[name][0] for name in sorted(levels)], -1),
                             want, rtol=1e-6, atol=1e-6)
  mu, logvar = loaded.encode(images)  # the level the prior is on
  np.testing.assert_array_equal(mu, next(iter(levels.values()))[0])
  np.testing.assert_array_equal(logvar, next(iter(levels.values()))[1])
  assert logvar.shape == mu.shape == (16, loaded.config.latent_dim)


def test_decode_of_the_posterior_means_is_the_reconstruction(run):
  _, loaded = run
  images = figure_images()
  levels = loaded.encode_levels(images)
  means = [mu for mu, _ in levels.values()]  # z, or z2 then z1
  decoded = (loaded.decode(means[0]) if len(means) == 1
             else loaded.decode(means[0], z1=means[1]))
  np.testing.assert_allclose(decoded, loaded.reconstruct(images), rtol=1e-5, atol=1e-6)
  assert decoded.shape == images.shape and 0 <= decoded.min() <= decoded.max() <= 1


@pytest.mark.parametrize("architecture", ARCHITECTURES[1:])
def test_two_level_decode_takes_z1_as_the_mean_of_its_conditional_prior(runs, architecture):
  _, loaded = runs(architecture)
  z2 = np.random.default_rng(0).normal(size=(4, loaded.config.latent_dim)).astype(np.float32)
  z1_mean, _ = loaded.model.apply({"params": loaded.params}, z2,
                                  method=lambda model, z: model.z1_prior(z))
  np.testing.assert_array_equal(loaded.decode(z2), loaded.decode(z2, z1=np.asarray(z1_mean)))
  assert not np.allclose(loaded.decode(z2), loaded.decode(z2, z1=np.asarray(z1_mean) + 3.0))


def test_z1_is_refused_on_a_one_level_run(runs):
  z = np.zeros((2, runs("conv")[1].config.latent_dim), np.float32)
  with pytest.raises(ValueError, match="^z1 is for two-level runs"):
    runs("conv")[1].decode(z, z1=z)


def test_log_likelihood_matches_the_is_nll_of_the_evaluation(run):
  _, loaded = run
  config = run_config(loaded, **{"eval.is_samples": 40, "eval.lpips_backbones": ("alex",),
                                 "eval.lpips_study_backbone": "alex"})
  images = figure_images()[:8]  # one evaluation batch
  eval_key = rng_streams(config.seed)["eval"]
  results = evaluate.evaluate(loaded.model, loaded.params, images, config, eval_key)
  _, batch_key = jax.random.split(jax.random.fold_in(eval_key, 0))  # the batch's IS key
  log_px = loaded.log_likelihood(images, num_samples=40, rng=batch_key)
  assert log_px.shape == (8,)
  assert -np.mean(log_px) == pytest.approx(results["is_nll_nats"], rel=1e-6)
  np.testing.assert_array_equal(loaded.log_likelihood(images, 40, rng=np.int64(3)),
                                loaded.log_likelihood(images, 40, rng=jax.random.key(3)))


def test_images_of_another_shape_are_refused_in_one_line(runs):
  with pytest.raises(ValueError, match=r"^images of shape \(2, 28, 28, 1\); this run takes "
                                       r"\(N, 32, 32, 1\) in \[0, 1\] or uint8\.$"):
    runs("conv")[1].encode(np.zeros((2, 28, 28, 1), np.float32))


def test_sample_refuses_a_key_for_n_and_the_run_says_what_it_is(runs):
  loaded = runs("conv")[1]
  with pytest.raises(TypeError, match=r"^n is how many images to draw \(a positive int\), not "
                                      r"a \w+; the randomness is seed=<int>\.$"):
    loaded.sample(jax.random.key(0), 4)
  with pytest.raises(ValueError, match=r"^n is how many images to draw \(a positive int\), "
                                       r"not 0\.$"):
    loaded.sample(0)
  config = loaded.config
  assert repr(loaded) == (f"Run(conv, prior={config.prior}, latent_dim={config.latent_dim}, "
                          "step=2 (latest))")
