"""The XLA:CPU settings: added to XLA_FLAGS without clobbering the user's, and accepted."""

import os
import subprocess
import sys

import numpy as np

from tests.conftest import ROOT
from vampjax import xla_cpu


def test_flag_is_appended_to_the_users_flags(monkeypatch):
  monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
  xla_cpu.use_fast_cpu_kernels()
  assert os.environ["XLA_FLAGS"] == ("--xla_force_host_platform_device_count=2 "
                                     f"{xla_cpu.YNN_FUSIONS_FLAG}=")


def test_a_users_own_setting_wins(monkeypatch):
  users = f"{xla_cpu.YNN_FUSIONS_FLAG}=LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT"
  monkeypatch.setenv("XLA_FLAGS", users)
  xla_cpu.use_fast_cpu_kernels()
  assert os.environ["XLA_FLAGS"] == users


def test_xla_accepts_the_flag_and_computes_the_same_conv(tmp_path):
  """A fresh process with the flag (XLA aborts on an unknown flag) and one without it
  compute the same strided conv."""
  code = ("import jax, numpy as np; from vampjax import fast_convs as f; "
          "u = jax.random.normal(jax.random.key(0), (4, 16, 16, 8)); "
          "k = jax.random.normal(jax.random.key(1), (4, 4, 8, 16)); "
          "np.save(__import__('sys').argv[1], np.asarray(f.strided_conv(u, k)))")
  outputs = []
  for flags in (f"{xla_cpu.YNN_FUSIONS_FLAG}=", ""):
    path = str(tmp_path / f"conv{len(outputs)}.npy")
    env = {**os.environ, "XLA_FLAGS": flags, "PYTHONPATH": ROOT}
    subprocess.run([sys.executable, "-c", code, path], env=env, check=True, timeout=120)
    outputs.append(np.load(path))
  np.testing.assert_allclose(outputs[0], outputs[1], rtol=1e-4, atol=1e-4)
