"""TensorBoard events, read back with TensorBoard's own reader: scalars per split, image
grids, the steps of a resumed run replacing those logged after its checkpoint, and what a
training writes."""

import io
import json
import os
import subprocess
import sys

import numpy as np
from PIL import Image
from tensorboard.backend.event_processing import event_accumulator

from tests.conftest import tiny_config
from vampjax import train
from vampjax.figures import image_grid
from vampjax.metric_writers import TENSORBOARD_DIR, TensorBoardWriter


def read(workdir):
  events = event_accumulator.EventAccumulator(str(workdir / TENSORBOARD_DIR),
                                              size_guidance={"images": 0, "scalars": 0})
  return events.Reload()


def test_scalars_and_image_grids_read_back(tmp_path):
  images = np.random.default_rng(0).random((5, 6, 7, 1), np.float32)
  writer = TensorBoardWriter(str(tmp_path), resume_step=0)
  writer.write(1, "train", {"loss": np.float32(3.5), "kl": 0.25})
  writer.write(2, "train", {"loss": 2.5, "kl": 0.5})
  writer.write(2, "test", {"loss": 2.75})
  writer.write_images(2, "prior_samples", images, columns=3)
  writer.close()
  events = read(tmp_path)
  assert sorted(events.Tags()["scalars"]) == ["test/loss", "train/kl", "train/loss"]
  assert [(e.step, e.value) for e in events.Scalars("train/loss")] == [(1, 3.5), (2, 2.5)]
  assert [(e.step, e.value) for e in events.Scalars("test/loss")] == [(2, 2.75)]
  (image,) = events.Images("images/prior_samples")
  assert image.step == 2
  pixels = np.asarray(Image.open(io.BytesIO(image.encoded_image_string)))
  want = np.round(image_grid(images, 3) * 255)  # 2 rows of 3, 2-pixel white padding
  assert pixels.shape == (2 * 8 + 2, 3 * 9 + 2, 3)  # grayscale as RGB
  for channel in range(3):
    np.testing.assert_array_equal(pixels[..., channel], want[..., 0])


def test_resumed_run_replaces_the_steps_after_its_checkpoint(tmp_path):
  writer = TensorBoardWriter(str(tmp_path), resume_step=0)
  for step in (1, 2, 3):
    writer.write(step, "train", {"loss": float(step)})
  writer.close()
  writer = TensorBoardWriter(str(tmp_path), resume_step=1)  # checkpoint at 1; 2, 3 again
  for step in (2, 3):
    writer.write(step, "train", {"loss": 10.0 * step})
  writer.close()
  assert [(e.step, e.value) for e in read(tmp_path).Scalars("train/loss")] == [
      (1, 1.0), (2, 20.0), (3, 30.0)]


def test_training_writes_train_and_test_scalars_and_images_at_each_evaluation(tmp_path):
  config = tiny_config(num_train_steps=4, log_every_steps=1, eval_every_steps=2,
                       num_samples=6)
  train.train_and_evaluate(config, str(tmp_path))
  events = read(tmp_path)
  with open(tmp_path / "metrics.jsonl") as f:
    records = [json.loads(line) for line in f]
  for split in ("train", "test"):
    logged = [(r["step"], r["loss"]) for r in records if r["split"] == split]
    shown = [(e.step, e.value) for e in events.Scalars(f"{split}/loss")]
    assert [s for s, _ in shown] == [s for s, _ in logged] == (
        [1, 2, 3, 4] if split == "train" else [2, 4])
    np.testing.assert_allclose([v for _, v in shown], [v for _, v in logged], rtol=1e-6)
  for name, (rows, columns) in (("prior_samples", (2, 3)),   # 6 samples, ⌈√6⌉ = 3 columns
                                ("reconstructions", (4, 8))):  # 16 test images over theirs
    images = events.Images(f"images/{name}")
    assert [image.step for image in images] == [2, 4]
    assert (images[0].height, images[0].width) == (rows * 34 + 2, columns * 34 + 2)


def test_the_writer_does_not_import_torch():
  """tensorboardX's writer imports torch when installed (seconds at every start); vampjax's
  commands leave it out, and torch stays importable afterwards."""
  code = ("import importlib.util, sys\n"
          "import vampjax.modes\n"
          "assert 'torch' not in sys.modules, 'torch imported'\n"
          "if importlib.util.find_spec('torch') is not None:\n"
          "  import torch\n"
          "  print('torch importable', torch.__version__)\n")
  done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                        check=False, cwd=os.path.dirname(os.path.dirname(__file__)))
  assert done.returncode == 0, done.stderr
