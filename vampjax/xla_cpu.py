"""XLA:CPU settings under which vampjax's programs run fastest; set before JAX starts.

JAX 0.10's XLA:CPU hands convolutions and fused elementwise reductions to YNNPACK. On the
2-core AVX-512 CPU of benchmarks/results those run slower than XLA's own kernels: the 4×4
stride-2 conv forward 2.4× (90 → 38 ms for 564 images of 32×32×32) and the fused
reconstruction-loss reduction of the importance-sampled NLL 45× (49 → 1.1 ms), while
matmuls keep their speed. With YNNPACK fusions off, the study's train steps take 9–21%
less time and the NLL 16% less (README, Performance).
"""

from __future__ import annotations

import os

YNN_FUSIONS_FLAG = "--xla_cpu_experimental_ynn_fusion_type"


def use_fast_cpu_kernels() -> None:
  """Turns YNNPACK fusions off in XLA_FLAGS, unless the user's XLA_FLAGS set them.

  Takes effect only if called before JAX initialises its backend (the first computation
  or device query). Other backends ignore XLA:CPU flags.
  """
  flags = os.environ.get("XLA_FLAGS", "")
  if YNN_FUSIONS_FLAG not in flags:
    os.environ["XLA_FLAGS"] = f"{flags} {YNN_FUSIONS_FLAG}=".strip()
