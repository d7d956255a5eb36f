"""Times each form of the transposed conv C(w)ᵀ x (`vampjax.fast_convs`) on the shapes
where the study runs it, and marks (*) the one `_adjoint_fastest` picks.

  python -m benchmarks.transposed_conv_forms [--tiny]

C(w)ᵀ x is the decoder's forward (batch 100 for MNIST, 64 for CelebA, 5000 for MNIST's
importance-sampled NLL) and the input gradient of the encoder's strided convs (the batch
plus K = 500 pseudo-inputs). Rounds alternate between the forms; min and median of 9 calls.
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np

from vampjax import fast_convs, xla_cpu

# (where, N, input H = W, C_in, C_out)
SHAPES = [("MNIST decoder", 100, 2, 256, 128), ("MNIST decoder", 100, 4, 128, 64),
          ("MNIST decoder", 100, 8, 64, 32), ("MNIST decoder", 100, 16, 32, 1),
          ("MNIST NLL decoder", 5000, 2, 256, 128), ("MNIST NLL decoder", 5000, 4, 128, 64),
          ("MNIST NLL decoder", 5000, 8, 64, 32), ("MNIST NLL decoder", 5000, 16, 32, 1),
          ("MNIST encoder input grad", 600, 2, 256, 128),
          ("MNIST encoder input grad", 600, 4, 128, 64),
          ("MNIST encoder input grad", 600, 8, 64, 32),
          ("MNIST encoder input grad", 600, 16, 32, 1),
          ("CelebA decoder", 64, 4, 256, 128), ("CelebA decoder", 64, 8, 128, 64),
          ("CelebA decoder", 64, 16, 64, 32), ("CelebA decoder", 64, 32, 32, 3),
          ("CelebA encoder input grad", 564, 4, 256, 128),
          ("CelebA encoder input grad", 564, 8, 128, 64),
          ("CelebA encoder input grad", 564, 16, 64, 32),
          ("CelebA encoder input grad", 564, 32, 32, 3)]
# pylint: disable=protected-access
FORMS = {"space-to-depth": fast_convs._adjoint, "scatter": fast_convs._scatter_adjoint,
         "row conv": fast_convs._row_conv_adjoint, "cropped": fast_convs._cropped_adjoint}


def compare(forms: dict, args: tuple, rounds: int = 3, calls: int = 3) -> dict[str, list[float]]:
  """Seconds of each jitted form, alternating between forms round by round."""
  jitted = {name: jax.jit(fn) for name, fn in forms.items()}
  for fn in jitted.values():
    jax.block_until_ready(fn(*args))
  seconds = {name: [] for name in jitted}
  for _ in range(rounds):
    for name, fn in jitted.items():
      for _ in range(calls):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        seconds[name].append(time.perf_counter() - start)
  return seconds


def main(argv: list[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--tiny", action="store_true", help="2 images, one shape of each "
                      "place, one call: a smoke test in seconds; its numbers mean nothing")
  args = parser.parse_args(argv)
  xla_cpu.configure_process()  # as main.py runs
  rng = np.random.default_rng(0)
  shapes = [(where, 2, *rest) for where, _, *rest in SHAPES[::4]] if args.tiny else SHAPES
  for where, n, size, c_in, c_out in shapes:
    x = jax.numpy.asarray(rng.standard_normal((n, size, size, c_in)), np.float32)
    kernel = jax.numpy.asarray(rng.standard_normal((4, 4, c_out, c_in)), np.float32)
    forms = {name: fn for name, fn in FORMS.items() if name != "cropped" or size <= 2}
    seconds = compare(forms, (x, kernel), *((1, 1) if args.tiny else ()))
    picked = fast_convs._adjoint_form(x.shape, c_out)
    cells = [f"{'*' if forms[name] is picked else ' '}{name} "
             f"{1e3 * min(s):.1f}/{1e3 * np.median(s):.1f}" for name, s in seconds.items()]
    print(f"{where:26s} {n:5d}×{size}×{size}×{c_in} -> {c_out:3d}  ms min/median: "
          + ", ".join(cells), flush=True)


if __name__ == "__main__":
  main()
