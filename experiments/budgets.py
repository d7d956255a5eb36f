"""Training and evaluation budgets of the reproduction: smoke (a test), cpu (2 cores), full.

A budget never changes the study's objective (½Σ(x−x̂)², β = 1, its priors and nets): only
how long we train, how large K is where the CPU cannot afford K = 1000, and how much of the
test set the metrics see. For the paper's benchmark it shortens training (epochs, and the KL
warm-up and early-stopping patience in proportion) but never the test NLL (S = 5000 over all
10 000 test images). Every override is printed in each row's command in the report.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from configs.paper import base as paper_base

# The paper trains up to 2000 epochs with a KL warm-up of 100 and a patience of 50; the cpu
# budget trains at most this many (six models, two at a time on a 2-core machine, in a few
# hours with their test NLLs), with the warm-up a fifth of it and the patience
# half the warm-up, as in the paper. The test NLL sees all 10 000 test images, as in the
# paper (FamilyBudget's default).
PAPER_CPU_EPOCHS = 50
PAPER_CPU_WARMUP_EPOCHS = 10
PAPER_CPU_PATIENCE_EPOCHS = 5
# Every cpu-budget paper row is trained with these seeds: its test NLL as mean ± sd.
PAPER_CPU_SEEDS = (0, 1, 2)

# Table 1 on the cpu budget: long enough for the study's objective to leave the early
# collapse if it ever does (6000 steps of batch 100).
MNIST_CPU_EPOCHS = 10


@dataclasses.dataclass(frozen=True)
class FamilyBudget:
  """How one data family (MNIST rows, CelebA rows) is trained and evaluated."""
  epochs: float | None          # train this many epochs of the row's training set ...
  steps: int | None = None      # ... or exactly this many steps (when epochs is None)
  max_steps: int | None = None  # cap on the steps (large data sets on small machines)
  overrides: dict[str, Any] = dataclasses.field(default_factory=dict)  # config keys
  eval_examples: int = -1       # test images for AU / LPIPS / PSNR / SSIM / ELBO; -1 all
  lpips_backbones: tuple[str, ...] = ("alex",)
  is_samples: int = 0           # S of the IS-NLL; 0 skips it
  is_examples: int = -1         # test images (the first ones) the IS-NLL sees; -1 all
  summary: str = ""             # the paper report's description (the tables use Budget's)
  seeds: tuple[int, ...] = (0,)  # each row is trained once per seed (reproduce --seeds: others)


@dataclasses.dataclass(frozen=True)
class Budget:
  name: str
  summary: str
  mnist: FamilyBudget
  celeba: FamilyBudget
  paper: FamilyBudget           # the VampPrior paper's benchmark (mnist_binary, early stopping)
  extra_rows: bool = True       # the rows marked "extra" (not in the study)

  def family(self, name: str) -> FamilyBudget:
    return getattr(self, name)


_TINY = {"latent_dim": 4, "num_components": 4, "batch_size": 16, "log_every_steps": 1,
         "eval_every_steps": 0, "num_eval_examples": 16, "checkpoint_every_steps": 0,
         "num_samples": 8}

SMOKE = Budget(
    name="smoke",
    summary=("seconds per row, for the test suite: 3 steps, latent 4, K = 4, batch 16, "
             "CelebA at 32×32, 32 test images, no extra rows, LPIPS-alex only, IS-NLL with "
             "S = 4 on the same images. Its numbers "
             "mean nothing; it checks that every row runs and the report is complete."),
    mnist=FamilyBudget(epochs=None, steps=3, overrides=_TINY, eval_examples=32, is_samples=4,
                       is_examples=32),
    celeba=FamilyBudget(epochs=None, steps=3, overrides={**_TINY, "data.image_size": 32},
                        eval_examples=32, is_samples=4, is_examples=32),
    paper=FamilyBudget(epochs=None, steps=3, overrides=_TINY, eval_examples=32,
                       lpips_backbones=(), is_samples=4, is_examples=32,
                       summary="3 steps of a tiny model, S = 4 on 32 test images: a test"),
    extra_rows=False,
)

CPU = Budget(
    name="cpu",
    summary=(f"a 2-core CPU. MNIST: {MNIST_CPU_EPOCHS} epochs (the study: 50) at the study's "
             "batch 100, K = 500, latent 40 (a run took 13–16 min with N(0, I) and "
             "40–44 min with the VampPrior here, two runs sharing the 2 cores); "
             "metrics on the first 2000 test "
             "images, IS-NLL with S = 100 on the first 500. CelebA: the study's 30 epochs, "
             "which on the 899-image sample are 420 steps of batch 64 (capped at 600 steps on "
             "larger data), latent 256, but K = 100 pseudo-inputs instead of 1000 (K = 1000 "
             "costs ~3 s per step here); KL warm-up scaled to the same share of training as "
             "the study config's; metrics on up to 500 test images, IS-NLL with S = 100 on "
             "the first 100. LPIPS-alex only (VGG costs ~60× more on CPU)."),
    mnist=FamilyBudget(
        epochs=MNIST_CPU_EPOCHS,
        overrides={"log_every_steps": 100, "eval_every_steps": 600, "num_eval_examples": 1000,
                   "checkpoint_every_steps": 600},
        eval_examples=2000, is_samples=100, is_examples=500),
    celeba=FamilyBudget(
        epochs=30, max_steps=600,
        overrides={"num_components": 100, "log_every_steps": 7, "eval_every_steps": 140,
                   "num_eval_examples": 100, "checkpoint_every_steps": 140},
        eval_examples=500, is_samples=100, is_examples=100),
    paper=FamilyBudget(
        epochs=PAPER_CPU_EPOCHS,
        overrides={"kl_warmup_epochs": PAPER_CPU_WARMUP_EPOCHS,
                   "early_stopping.patience_epochs": PAPER_CPU_PATIENCE_EPOCHS},
        lpips_backbones=(), is_samples=5000, seeds=PAPER_CPU_SEEDS,
        summary=(f"at most {PAPER_CPU_EPOCHS} epochs (the paper: up to 2000), KL warm-up over "
                 f"{PAPER_CPU_WARMUP_EPOCHS} epochs (the paper: 100) and early-stopping "
                 f"patience {PAPER_CPU_PATIENCE_EPOCHS} epochs (the paper: 50), shortened to "
                 "fit the paper rows' training and test NLLs in a few hours of a 2-core "
                 "machine; the paper's test NLL (S = 5000 over all 10 000 test "
                 "images), −ELBO and active units on all 10 000; the paper's models, "
                 "optimiser and batch unchanged")),
)

FULL = Budget(
    name="full",
    summary=("the study's settings, for an accelerator: MNIST 50 epochs (30 000 steps of "
             "batch 100), K = 500, latent 40; CelebA 30 epochs, K = 1000, latent 256, Adam "
             "1e-4, KL warm-up 10 000 steps on full CelebA (the same share of training on "
             "other data). Metrics on the whole test split with LPIPS alex and VGG; IS-NLL "
             "with S = 5000 on all MNIST test images and S = 1000 on the first 1000 CelebA "
             "test images."),
    mnist=FamilyBudget(
        epochs=50,
        overrides={"log_every_steps": 100, "eval_every_steps": 3000,
                   "num_eval_examples": 2000, "checkpoint_every_steps": 3000},
        lpips_backbones=("alex", "vgg"), is_samples=5000),
    celeba=FamilyBudget(
        epochs=30,
        overrides={"log_every_steps": 100, "eval_every_steps": 2500,
                   "num_eval_examples": 2000, "checkpoint_every_steps": 2500},
        lpips_backbones=("alex", "vgg"), is_samples=1000, is_examples=1000),
    paper=FamilyBudget(epochs=paper_base.MAX_EPOCHS, lpips_backbones=(), is_samples=5000,
                       summary=("the paper's recipe: up to 2000 epochs, KL warm-up over 100, "
                                "early-stopping patience 50, test NLL with S = 5000 over all "
                                "10 000 test images")),
)

BUDGETS = {budget.name: budget for budget in (SMOKE, CPU, FULL)}
