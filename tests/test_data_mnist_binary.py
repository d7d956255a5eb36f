"""mnist_binary: the paper's split, training batches binarized per (seed, step), and
validation and test binarized once as in the original code."""

import jax
import numpy as np
import pytest

from configs import default
from configs.paper import base
from vampjax import config_validation, data
from vampjax.data import mnist, mnist_binary, on_device, pipeline


@pytest.fixture(scope="module")
def official():
  return mnist.load_arrays()


@pytest.fixture(scope="module")
def dataset():
  return data.get_dataset(base.get_config())


def test_split_sizes_and_train_images(dataset, official):
  assert dataset.train.shape == (50_000, 28, 28, 1)
  assert dataset.validation.shape == (10_000, 28, 28, 1)
  assert dataset.test.shape == (10_000, 28, 28, 1)
  # Train: the first 50k official training images, as grey intensities.
  np.testing.assert_array_equal(dataset.train[..., 0], official["train_images"][:50_000])


def test_validation_and_test_are_the_original_codes_binarization(dataset, official):
  # utils/load_data.py, load_dynamic_mnist: np.random.seed(777), then binomial draws on the
  # validation intensities (the last 10k training images) and then on the test intensities.
  rng = np.random.RandomState(777)
  validation = rng.binomial(1, official["train_images"][50_000:].astype(np.float32) / 255.)
  test = rng.binomial(1, official["test_images"].astype(np.float32) / 255.)
  np.testing.assert_array_equal(dataset.validation[..., 0], validation * 255)
  np.testing.assert_array_equal(dataset.test[..., 0], test * 255)
  # And they are Bernoulli(intensity): the share of ones is the mean intensity.
  for images, source in ((dataset.validation, official["train_images"][50_000:]),
                         (dataset.test, official["test_images"])):
    assert set(np.unique(images)) == {0, 255}
    assert images.mean() / 255 == pytest.approx(source.mean() / 255, abs=1e-3)
    assert np.all(images[..., 0][source == 0] == 0) and np.all(images[..., 0][source == 255])


def test_training_batches_binarized_per_seed_and_step(dataset):
  images_on_device = jax.device_put(dataset.train)

  def batch(seed, step):
    indices = np.sort(pipeline.train_batch_indices(50_000, 100, seed, step))
    return np.asarray(on_device.binarized_batch(images_on_device, indices, seed, step))

  first = batch(0, 3)
  np.testing.assert_array_equal(first, batch(0, 3))  # a resumed run gets the same pixels
  assert set(np.unique(first)) == {0.0, 1.0}
  # The same images binarized at another step (epoch 1 revisits them): other pixels.
  images = pipeline.to_float(dataset.train[np.sort(pipeline.train_batch_indices(50_000, 100, 0, 3))])
  later = [s for s in range(500, 1000)
           if set(pipeline.train_batch_indices(50_000, 100, 0, s)) & set(
               pipeline.train_batch_indices(50_000, 100, 0, 3))]
  assert later and not np.array_equal(first, batch(0, later[0]))
  assert not np.array_equal(first, batch(1, 3))
  # Pixel ~ Bernoulli(intensity): 0 stays 0, 1 stays 1, and the share of ones matches.
  assert np.all(first[images == 0] == 0) and np.all(first[images == 1] == 1)
  assert first.mean() == pytest.approx(images.mean(), abs=0.01)


def test_padding_and_config_rules():
  config = base.get_config()
  config.data.image_size = 32
  padded = mnist_binary.load(config.data)
  assert padded.validation.shape == (10_000, 32, 32, 1) and padded.validation[:, :2].max() == 0
  config.data.dynamic_binarization = False
  with pytest.raises(config_validation.ConfigError, match="dynamic_binarization=True"):
    config_validation.validate(config)
  assert mnist.load(default.get_config().data).validation is None  # other sources: none
