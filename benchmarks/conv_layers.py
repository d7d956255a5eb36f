"""Times the kernel gradients of the encoder's convs at the VampPrior step's size (64 images
plus K = 500 pseudo-inputs, 64×64), as one call and summed over cache-sized batch chunks
(`vampjax.fast_convs._kernel_grad`, which the train step uses).

  python -m benchmarks.conv_layers [--tiny]
"""

from __future__ import annotations

import argparse

import jax
import numpy as np

from benchmarks import measure
from vampjax import fast_convs, xla_cpu

N = 564
# (what, input H = W, C_in, C_out, conv)
LAYERS = [("4×4 stride 2", 32, 32, 64, fast_convs.strided_conv_reference),
          ("4×4 stride 2", 16, 64, 128, fast_convs.strided_conv_reference),
          ("4×4 stride 2", 8, 128, 256, fast_convs.strided_conv_reference),
          ("3×3 (ResNet)", 32, 32, 32, fast_convs.same_conv_reference),
          ("3×3 (ResNet)", 16, 64, 64, fast_convs.same_conv_reference),
          ("3×3 (ResNet)", 8, 128, 128, fast_convs.same_conv_reference)]


def median_ms(fn, *args, repeats: int = 7) -> float:
  fn = jax.jit(fn)
  return 1e3 * measure.median_seconds(lambda: fn(*args), repeats)


def main(argv: list[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--tiny", action="store_true", help="4 images, two layers, one call: a "
                      "smoke test in seconds; its numbers mean nothing")
  args = parser.parse_args(argv)
  xla_cpu.configure_process()  # as main.py runs
  rng = np.random.default_rng(0)
  n, layers, repeats = (4, LAYERS[::3], 1) if args.tiny else (N, LAYERS, 7)
  for what, size, c_in, c_out, conv in layers:
    window = 4 if conv is fast_convs.strided_conv_reference else 3
    u = jax.numpy.asarray(rng.standard_normal((n, size, size, c_in)), jax.numpy.float32)
    kernel = jax.numpy.asarray(rng.standard_normal((window, window, c_in, c_out)),
                               jax.numpy.float32)
    g = jax.numpy.asarray(rng.standard_normal(conv(u, kernel).shape), jax.numpy.float32)
    one_call = lambda u, g, k, conv=conv: jax.vjp(lambda w: conv(u, w), k)[1](g)[0]
    chunked = lambda u, g, k, conv=conv: fast_convs._kernel_grad(u, g, k, conv)  # pylint: disable=protected-access
    single, split = (median_ms(one_call, u, g, kernel, repeats=repeats),
                     median_ms(chunked, u, g, kernel, repeats=repeats))
    print(f"{what} {size}×{size}×{c_in} -> {c_out}, {n} images: kernel gradient "
          f"one call {single:.0f} ms, chunked {split:.0f} ms ({single / split:.1f}×)", flush=True)


if __name__ == "__main__":
  main()
