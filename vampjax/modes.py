"""What `main.py --mode=...` runs: each mode is a function of (config, workdir)."""

from __future__ import annotations

import os
import signal
import time

import jax
import ml_collections
import numpy as np
from flax.training import train_state
from tqdm import tqdm

from vampjax import data, figures, train
from vampjax import workdir as workdir_lib
from vampjax.checkpointing import CheckpointError
from vampjax.config_validation import ConfigError
from vampjax.data import DataError
from vampjax.metrics import active_units, batch_cache, evaluate
from vampjax.state import restore_chosen, rng_streams
from vampjax.vae import VAE


# Errors in the user's hands: the command line prints them in one line and exits with 2.
USER_ERRORS = (CheckpointError, ConfigError, DataError, workdir_lib.WorkdirError)


class Interrupted(Exception):
  """Ctrl-C stopped a mode other than train; exit with `exit_status` (128 + SIGINT)."""

  exit_status = 128 + signal.SIGINT

  def __init__(self, mode: str, kept: list[str], note: str = ""):
    super().__init__(f"stopped: --mode={mode} interrupted (SIGINT); "
                     + (f"kept the complete {', '.join(kept)}" if kept else "nothing written")
                     + note)


def _outputs(workdir: str) -> dict[str, int]:
  """The files a mode writes or replaces (the workdir's own files and figures/), with
  their modification times."""
  folders = [workdir, os.path.join(workdir, figures.FIGURES_DIR)]
  return {entry.path: entry.stat().st_mtime_ns for folder in folders if os.path.isdir(folder)
          for entry in os.scandir(folder) if entry.is_file()}


def run_interruptible(mode: str, config: ml_collections.ConfigDict, workdir: str) -> None:
  """Runs `mode` (not train, which stops itself); Ctrl-C raises `Interrupted` naming the
  files it had written by then (each written whole: see jsonio.atomic_path)."""
  before = _outputs(workdir)
  try:
    MODES[mode](config, workdir)
  except KeyboardInterrupt:
    _close_progress_bars()
    kept = sorted(path for path, mtime in _outputs(workdir).items() if before.get(path) != mtime)
    raise Interrupted(mode, kept, _resume_note(workdir) if mode == "eval" else "") from None


def _close_progress_bars() -> None:
  """Ends the line of any progress bar the Ctrl-C left open, so that the stop message is a
  line of its own: one that struck while a bar was being built skipped its `with`'s close."""
  for bar in list(tqdm._instances):  # pylint: disable=protected-access
    bar.close()


def _resume_note(workdir: str) -> str:
  """What an interrupted eval kept for the next one, if anything."""
  cache_dir = os.path.join(workdir, evaluate.PARTIAL_DIR)
  done = len(batch_cache.BatchCache.existing(cache_dir))
  return (f"; the next --mode=eval resumes after the {done} batches it finished "
          f"(kept in {cache_dir})") if done else ""


def _restore(config: ml_collections.ConfigDict,
             workdir: str) -> tuple[VAE, train_state.TrainState, str]:
  """The model, the state of the checkpoint `eval.checkpoint_step` names, and which it is:
  with -1 the one `state.choose_checkpoint` picks (best, else latest). A workdir without a
  run is refused in one line (`workdir.require_run`)."""
  workdir_lib.require_run(workdir)
  step = config.eval.checkpoint_step
  model, state, chosen = restore_chosen(config, workdir, step if step >= 0 else None)
  return model, state, chosen.which


def _named(which: str, state: train_state.TrainState) -> str:
  """The checkpoint a mode used, as it says it: "latest checkpoint, step 1000"."""
  return f"{which} checkpoint, step {int(state.step)}"


def _test_images(config: ml_collections.ConfigDict) -> np.ndarray:
  """The test split, or its first `eval.num_examples` images."""
  images = data.get_dataset(config).test
  return images if config.eval.num_examples < 0 else images[:config.eval.num_examples]


def run_train(config: ml_collections.ConfigDict, workdir: str, overwrite: bool = False) -> None:
  train.train_and_evaluate(config, workdir, overwrite)


def run_sample(config: ml_collections.ConfigDict, workdir: str) -> str:
  """Writes `<workdir>/samples.png`: a grid of decoded prior samples of the checkpoint
  `_restore` picks."""
  model, state, which = _restore(config, workdir)
  rng = rng_streams(config.seed)["sample"]
  images = jax.jit(lambda p: model.apply({"params": p}, rng, config.num_samples,
                                         method="sample"))(state.params)
  path = figures.save_image_grid(os.path.join(workdir, "samples.png"), jax.device_get(images))
  print(f"wrote {path} ({_named(which, state)})")
  return path


def _write_figures(config: ml_collections.ConfigDict, workdir: str, model: VAE, params,
                   images: np.ndarray, variances: np.ndarray, checkpoint: str) -> list[str]:
  paths = figures.write_figures(model, params, config, workdir, images, variances,
                                rng_streams(config.seed)["sample"])
  print(f"wrote {', '.join(paths)} ({checkpoint})")
  return paths


def run_eval(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Writes `<workdir>/eval.json` (every metric over the test split), prints a table, and
  writes all the figures."""
  start = time.perf_counter()
  model, state, which = _restore(config, workdir)
  checkpoint = _named(which, state)
  images = _test_images(config)
  print(f"eval of the {checkpoint}: {evaluate.plan_text(config, len(images))}", flush=True)
  results = {"checkpoint": which, "checkpoint_step": int(state.step),
             "workdir": os.path.abspath(workdir),
             **evaluate.evaluate(model, state.params, images, config,
                                 rng_streams(config.seed)["eval"],
                                 cache_dir=os.path.join(workdir, evaluate.PARTIAL_DIR))}
  results["timing_s"]["total"] = round(
      time.perf_counter() - start + results["timing_s"]["earlier_sessions"], 3)
  path = evaluate.write_results(workdir, results)
  batch_cache.remove(os.path.join(workdir, evaluate.PARTIAL_DIR))
  print(evaluate.format_table(results))
  print(f"wrote {path} ({checkpoint}, {results['timing_s']['total']:.1f} s)")
  _write_figures(config, workdir, model, state.params, images,
                 np.asarray(results["posterior_mean_variance"]), checkpoint)
  return results


def run_figures(config: ml_collections.ConfigDict, workdir: str) -> list[str]:
  """Re-plots a finished run into `<workdir>/figures/` without retraining or a full eval.

  The variance plot reuses eval.json when there is one, else encodes the test split.
  """
  model, state, which = _restore(config, workdir)
  images = _test_images(config)
  results = evaluate.read_results(workdir)
  if results is not None and results.get("checkpoint_step") == int(state.step):
    variances = np.asarray(results["posterior_mean_variance"])
  else:
    variances = active_units.posterior_mean_variance(
        evaluate.posterior_means(model, state.params, images, config.batch_size))
  return _write_figures(config, workdir, model, state.params, images, variances,
                        _named(which, state))


MODES = {"train": run_train, "sample": run_sample, "eval": run_eval, "figures": run_figures}
