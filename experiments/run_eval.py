"""Evaluates a run's checkpoint once: every metric of the paper's protocol, cached in the
run's workdir per evaluation settings, and resumable (an interrupted evaluation keeps its
finished batches for the next)."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

import ml_collections

from experiments import budgets as budgets_lib
from vampjax import jsonio
from vampjax.metrics import batch_cache, evaluate
from vampjax.state import restore_model, rng_streams

if TYPE_CHECKING:
  from experiments.run import RunPlan

EVAL_DIR = "reproduce_eval"


def evaluation_settings(family: budgets_lib.FamilyBudget, step: int,
                        best: bool) -> dict[str, Any]:
  return {"checkpoint_step": step, "best": best, "eval_examples": family.eval_examples,
          "lpips_backbones": list(family.lpips_backbones), "is_samples": family.is_samples,
          "is_examples": family.is_examples}


def eval_config(plan: RunPlan, step: int, examples: int, backbones: tuple[str, ...],
                is_samples: int) -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict(plan.config.to_dict())
  config.eval.checkpoint_step = step
  config.eval.num_examples = examples
  config.eval.lpips_backbones = tuple(backbones)
  config.eval.is_samples = is_samples
  return config


def _eval_path(plan: RunPlan, step: int, suffix: str) -> str:
  return os.path.join(plan.workdir, EVAL_DIR, f"step_{step}{suffix}")


def cached_evaluation(plan: RunPlan, step: int, best: bool) -> dict[str, Any] | None:
  """The metrics `evaluate_run` cached for this checkpoint at the run's evaluation settings."""
  cached = jsonio.read_json(_eval_path(plan, step, ".json"))
  settings = evaluation_settings(plan.family, step, best)
  return cached if cached is not None and cached.get("settings") == settings else None


def kept_batches(plan: RunPlan, step: int) -> int:
  """The batches an interrupted `evaluate_run` of this checkpoint kept for the next one."""
  partial = _eval_path(plan, step, "_partial")
  return sum(len(batch_cache.BatchCache.existing(partial + suffix))
             for suffix in ("_metrics", "_nll"))


def evaluate_run(plan: RunPlan, step: int, best: bool = False) -> dict[str, Any]:
  """Every metric of the checkpoint at `step`, with `best` the best validation checkpoint
  (cached in the workdir per settings).

  The IS-NLL is computed in a second pass over the first `is_examples` test images, so that
  the cheap metrics can see more images than the expensive likelihood.
  """
  family = plan.family
  settings = evaluation_settings(family, step, best)
  cached = cached_evaluation(plan, step, best)
  if cached is not None:
    return cached
  began = time.perf_counter()
  model, state = restore_model(plan.config, plan.workdir, step, best=best)
  test = plan.dataset.test
  rng = rng_streams(plan.config.seed)["eval"]
  images = test if family.eval_examples < 0 else test[:family.eval_examples]
  subset = test if family.is_examples < 0 else test[:family.is_examples]
  one_pass = len(subset) == len(images)  # the IS-NLL sees the same images: one pass
  config = eval_config(plan, step, family.eval_examples, family.lpips_backbones,
                       family.is_samples if one_pass else 0)
  partial = _eval_path(plan, step, "_partial")  # + "_metrics", "_nll"
  results = evaluate.evaluate(model, state.params, images, config, rng,
                              cache_dir=f"{partial}_metrics")
  results["is_examples"] = len(images)
  earlier = results["timing_s"]["earlier_sessions"]  # batches run before an interruption
  if family.is_samples > 0 and not one_pass:
    config = eval_config(plan, step, family.is_examples, family.lpips_backbones[:1],
                         family.is_samples)
    likelihood = evaluate.evaluate(model, state.params, subset, config, rng,
                                   cache_dir=f"{partial}_nll")
    results["is_nll_nats"] = likelihood["is_nll_nats"]
    results["is_examples"] = likelihood["num_examples"]
    earlier += likelihood["timing_s"]["earlier_sessions"]
  results.pop("posterior_mean_variance", None)
  results["eval_seconds"] = time.perf_counter() - began + earlier
  results["settings"] = settings
  jsonio.write_json_atomic(_eval_path(plan, step, ".json"), results)
  for suffix in ("_metrics", "_nll"):
    batch_cache.remove(partial + suffix)
  return results
