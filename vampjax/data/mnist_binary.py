"""Dynamically binarized MNIST, the VampPrior paper's protocol (Tomczak & Welling 2018).

The split and the binarization rule of the original code (jmtomczak/vae_vampprior,
utils/load_data.py, `load_dynamic_mnist`):
- train: the first 50 000 of the official 60 000 training images, in the official order
  (no shuffle before the split), kept as grey intensities; with
  `data.dynamic_binarization=True` each pixel is drawn ~ Bernoulli(intensity) afresh at
  every step on the device, as a function of (seed, step) (vampjax/data/on_device.py).
- validation: the last 10 000 official training images; test: the 10 000 test images.
  Both are binarized once, validation first and then test, from numpy's legacy
  RandomState(777), as the original's `np.random.seed(777)` followed by
  `np.random.binomial(1, x)` on the intensities x = uint8 / 255 (float32): the same
  official order gives the original's binarized validation and test sets exactly.
The binary images are stored as uint8 {0, 255}, so the pipeline's scaling makes them {0, 1}.
"""

from __future__ import annotations

import ml_collections
import numpy as np

from vampjax.data import mnist
from vampjax.data.dataset import DataError, Dataset

NUM_TRAIN = 50_000
EVAL_BINARIZATION_SEED = 777  # the original code's np.random.seed(777)


def binarize_once(splits: tuple[np.ndarray, ...], seed: int) -> tuple[np.ndarray, ...]:
  """Each split's pixels ~ Bernoulli(intensity), drawn in order from one RandomState(seed);
  uint8 N×H×W in, uint8 {0, 255} out."""
  rng = np.random.RandomState(seed)  # the original's legacy stream, fixed across numpy versions
  return tuple((rng.binomial(1, images.astype(np.float32) / np.float32(255.0)) * 255)
               .astype(np.uint8) for images in splits)


def paper_protocol(name: str, official: np.ndarray, test: np.ndarray, image_size: int,
                   label: str = "MNIST") -> Dataset:
  """The protocol above on any grayscale set of uint8 N×H×W official train and test images:
  train = the first NUM_TRAIN official training images (grey, binarized at every step),
  validation = the rest and test, binarized once from RandomState(EVAL_BINARIZATION_SEED)."""
  validation, test = binarize_once((official[NUM_TRAIN:], test), EVAL_BINARIZATION_SEED)
  pad = lambda images: mnist.pad_to(images, image_size, label)
  return Dataset(name, pad(official[:NUM_TRAIN]), pad(test), validation=pad(validation))


def load(data_config: ml_collections.ConfigDict) -> Dataset:
  if data_config.channels != 1:
    raise DataError(f"data.channels={data_config.channels}, but MNIST is grayscale; set 1.")
  arrays = mnist.load_arrays()
  return paper_protocol("mnist_binary", arrays["train_images"], arrays["test_images"],
                        data_config.image_size)
