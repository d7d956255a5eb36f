"""A/B of the likelihood and the decoder's output-bias init on MNIST (issue #17).

Trains configs/<config>.py for a few hundred steps under each combination of likelihood,
β and `decoder_bias_init`, then reports the test reconstruction term, the KL and the
active units (from the posterior means) of each run, as JSON and a markdown table:

  python -m experiments.likelihood_ab --steps=500 --workdir=runs/likelihood_ab

Runs resume from their checkpoints, so an interrupted A/B continues where it stopped.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import time
from typing import Any

import jax

from vampjax import data, sharding, state, train, xla_cpu
from vampjax.metrics import active_units, evaluate, masked_eval

RESULTS = os.path.join(os.path.dirname(__file__), "results", "cpu")


def run_one(config_name: str, overrides: dict[str, Any], steps: int, workdir: str,
            num_test: int) -> dict[str, Any]:
  """Trains one setting (resuming if its workdir holds a checkpoint) and measures it."""
  config = __import__(f"configs.{config_name}", fromlist=["get_config"]).get_config()
  for key, value in overrides.items():
    config[key] = value
  config.num_train_steps = steps
  config.eval_every_steps = 0
  config.checkpoint_every_steps = steps
  config.num_eval_examples = num_test
  start = time.perf_counter()
  train.train_and_evaluate(config, workdir)
  seconds = time.perf_counter() - start
  model, trained, _ = state.restore_chosen(config, workdir)
  images = data.get_dataset(config).test[:num_test]
  test = masked_eval.loss_means(model, trained.params, images, config,
                                state.rng_streams(config.seed)["eval"], config.beta,
                                sharding.make_mesh())
  au, _ = active_units.active_units(
      evaluate.posterior_means(model, trained.params, images, config.batch_size),
      config.eval.au_threshold)
  return {"config": config_name, **overrides, "steps": steps,
          "test_reconstruction": test["reconstruction"], "test_kl": test["kl"],
          "active_units": au, "latent_dim": config.latent_dim, "test_images": num_test,
          "train_seconds": round(seconds, 1)}


def markdown(rows: list[dict[str, Any]]) -> str:
  lines = ["| likelihood | β | decoder_bias_init | test reconstruction (nats) | test KL (nats) "
           "| active units |", "|---|---|---|---|---|---|"]
  lines += [f"| {r['likelihood']} | {r['beta']:g} | {r['decoder_bias_init']} | "
            f"{r['test_reconstruction']:.2f} | {r['test_kl']:.2f} | "
            f"{r['active_units']}/{r['latent_dim']} |" for r in rows]
  return "\n".join(lines) + "\n"


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--config", default="mnist_vae")
  parser.add_argument("--steps", type=int, default=500)
  parser.add_argument("--test_images", type=int, default=1000)
  parser.add_argument("--likelihoods", default="gaussian_study,bernoulli")
  parser.add_argument("--betas", default="1,0.01")
  parser.add_argument("--workdir", default="runs/likelihood_ab")
  parser.add_argument("--out", default=os.path.join(RESULTS, "likelihood_ab"))
  args = parser.parse_args()
  xla_cpu.configure_process()  # as main.py runs
  jax.config.update("jax_compilation_cache_dir", os.path.expanduser("~/.cache/vampjax/xla"))
  rows = []
  for likelihood, beta, bias in itertools.product(
      args.likelihoods.split(","), map(float, args.betas.split(",")), ("zero", "data_mean")):
    overrides = {"likelihood": likelihood, "beta": beta, "decoder_bias_init": bias}
    name = f"{args.config}_{likelihood}_beta{beta:g}_{bias}"
    rows.append(run_one(args.config, overrides, args.steps,
                        os.path.join(args.workdir, name), args.test_images))
    print(json.dumps(rows[-1]), flush=True)
  os.makedirs(os.path.dirname(args.out), exist_ok=True)
  with open(args.out + ".json", "w") as f:
    json.dump(rows, f, indent=2)
  with open(args.out + ".md", "w") as f:
    f.write(f"{args.config}, {args.steps} steps of batch 100 each, seed 0; test terms and "
            f"active units over the first {args.test_images} test images "
            "(`python -m experiments.likelihood_ab`).\n\n" + markdown(rows))
  print(markdown(rows))


if __name__ == "__main__":
  main()
