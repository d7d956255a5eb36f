"""fashion_mnist_binary: Fashion-MNIST with the paper's protocol (mnist_binary's): its split,
its once-binarized validation and test images, and its error without the Debian package."""

import os

import numpy as np
import pytest

from configs.paper import base
from vampjax import config_validation, data
from vampjax.data import fashion_mnist
from vampjax.data.dataset import DataError

INSTALLED = os.path.isdir(fashion_mnist.DEFAULT_PATH)
needs_package = pytest.mark.skipif(
    not INSTALLED, reason=f"dataset-fashion-mnist is not installed ({fashion_mnist.DEFAULT_PATH} "
    "is missing; apt-get install dataset-fashion-mnist)")


def fashion_config(**data_keys):
  config = base.get_config()
  config.data.name = "fashion_mnist_binary"
  config.data.update(data_keys)
  return config


@pytest.fixture(scope="module")
def official():
  return fashion_mnist.read_splits(fashion_config().data)


@pytest.fixture(scope="module")
def dataset():
  return data.get_dataset(fashion_config())


@needs_package
def test_split_sizes_and_grey_train_images(dataset, official):
  assert dataset.train.shape == (50_000, 28, 28, 1)
  assert dataset.validation.shape == (10_000, 28, 28, 1)
  assert dataset.test.shape == (10_000, 28, 28, 1)
  np.testing.assert_array_equal(dataset.train[..., 0], official[0][:50_000])
  assert len(np.unique(dataset.train[:100])) > 2  # grey: binarized at every step instead


@needs_package
def test_validation_and_test_are_binarized_once_with_a_fixed_seed(dataset, official):
  rng = np.random.RandomState(777)
  validation = rng.binomial(1, official[0][50_000:].astype(np.float32) / 255.)
  test = rng.binomial(1, official[1].astype(np.float32) / 255.)
  np.testing.assert_array_equal(dataset.validation[..., 0], validation * 255)
  np.testing.assert_array_equal(dataset.test[..., 0], test * 255)
  again = data.get_dataset(fashion_config())  # loaded afresh: the same bits
  np.testing.assert_array_equal(again.test, dataset.test)
  np.testing.assert_array_equal(again.validation, dataset.validation)
  share = dataset.test.mean() / 255
  np.testing.assert_allclose(share, official[1].mean() / 255, atol=0.002)


def test_missing_package_is_a_data_error_naming_the_fix(tmp_path):
  with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
    data.get_dataset(fashion_config(path=str(tmp_path / "absent")))


def test_config_requires_dynamic_binarization():
  config = fashion_config()
  config_validation.validate(config)
  config.data.dynamic_binarization = False
  with pytest.raises(config_validation.ConfigError, match="fashion_mnist_binary"):
    config_validation.validate(config)
