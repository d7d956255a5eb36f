"""Full CelebA through tensorflow-datasets' `celeb_a`, with TFDS's official splits.

TFDS's download from Google Drive often fails and, with no network, hangs retrying for
minutes, so nothing is downloaded unless `data.download=True`: an unprepared data_dir
stops the run at once with the ways to get the data.
"""

from __future__ import annotations

import os
import threading

import ml_collections
import numpy as np
from PIL import Image

from vampjax.data import images
from vampjax.data.celeba_sample import CELEBA_CROP
from vampjax.data.dataset import DataError, Dataset

TFDS_NAME = "celeb_a"
SPLITS = {"train": "train", "test": "test"}  # TFDS's validation split is not used
_PREPARE = ("prepare it on a machine with internet (tfds.builder('celeb_a', data_dir=DIR)"
            ".download_and_prepare(file_format='array_record')) and copy DIR here, set "
            "data.download=True, or use data.name=image_folder with data.path=.../"
            "img_align_celeba")


def _builder(data_dir: str):
  """The celeb_a builder over `data_dir` (a seam the tests replace)."""
  try:
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise DataError("data.name=celeba needs tensorflow-datasets: pip install "
                    "tensorflow-datasets==4.9.10 (or use data.name=image_folder).") from None
  return tfds.builder(TFDS_NAME, data_dir=data_dir)


def _skip_decoding() -> dict:
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  return {"image": tfds.decode.SkipDecoding()}


def _read_split(builder, split: str):
  """A random-access sequence of examples whose 'image' is JPEG bytes (or an array)."""
  try:
    return builder.as_data_source(split=split, decoders=_skip_decoding())
  except NotImplementedError:
    raise DataError(f"celeb_a in {builder.data_dir} is stored as {builder.info.file_format}, "
                    "which cannot be read without TensorFlow; prepare it again with "
                    "file_format='array_record' or use data.name=image_folder.") from None


def _as_image(example) -> Image.Image:
  value = example["image"]
  if isinstance(value, (bytes, np.bytes_)):
    return images.open_image(bytes(value))
  return Image.fromarray(np.asarray(value, np.uint8).squeeze())


def load(data_config: ml_collections.ConfigDict) -> Dataset:
  data_dir = data_config.get("tfds_data_dir", "")
  if not data_dir:
    raise DataError(f"data.name=celeba needs data.tfds_data_dir, the TFDS folder that holds "
                    f"a prepared celeb_a; {_PREPARE}.")
  builder = _builder(data_dir)
  if not builder.is_prepared():
    if not data_config.get("download", False):
      raise DataError(f"celeb_a is not prepared in data.tfds_data_dir={data_dir}; "
                      f"{_PREPARE}.")
    os.makedirs(data_dir, exist_ok=True)
    builder.download_and_prepare(file_format="array_record")
  crop = images.crop_size(data_config, CELEBA_CROP)
  size, channels = data_config.image_size, data_config.channels
  cache_dir = data_config.get("cache_dir", "")
  key = images.cache_key({"source": "celeba", "data_dir": os.path.abspath(data_dir),
                          "version": str(builder.version), "crop": crop, "size": size,
                          "channels": channels})
  cached = images.load_cache(cache_dir, "celeba", key)
  if cached is not None:
    return cached
  arrays, skipped = {}, 0
  for split, tfds_split in SPLITS.items():
    source = _read_split(builder, tfds_split)
    lock = threading.Lock()

    def read(i, source=source, lock=lock):
      with lock:  # the record reader is shared; decoding below runs in parallel
        example = source[i]
      return _as_image(example)

    indices = list(range(len(source)))
    decoded, ok, problems = images.decode_all(
        indices, read, [f"{tfds_split}[{i}]" for i in indices], crop, size, channels,
        images.num_workers(data_config))
    images.check_skipped(f"celeb_a/{tfds_split} in {data_dir}", len(indices), problems,
                         data_config.get("max_bad_fraction", 0.01))
    arrays[split], skipped = decoded[ok], skipped + len(problems)
  if not len(arrays["train"]) or not len(arrays["test"]):
    raise DataError(f"celeb_a in {data_dir} has an empty train or test split; prepare it "
                    "again.")
  dataset = Dataset("celeba", arrays["train"], arrays["test"], skipped)
  images.save_cache(cache_dir, dataset, key)
  return dataset
