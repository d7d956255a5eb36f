"""The XLA:CPU process settings: added without clobbering the user's, accepted, in effect."""

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


def test_huge_pages_are_added_to_the_users_tunables():
  assert (xla_cpu.huge_page_tunables("glibc.malloc.arena_max=2", "always [madvise] never")
          == f"glibc.malloc.arena_max=2:{xla_cpu.HUGE_PAGE_TUNABLE}=1")
  assert xla_cpu.huge_page_tunables("", "always [madvise] never") == (
      f"{xla_cpu.HUGE_PAGE_TUNABLE}=1")


def test_no_restart_where_it_changes_nothing():
  assert xla_cpu.huge_page_tunables(f"{xla_cpu.HUGE_PAGE_TUNABLE}=0", "[madvise]") is None
  assert xla_cpu.huge_page_tunables("", "[always] madvise never") is None
  assert xla_cpu.huge_page_tunables("", "always madvise [never]") is None


def test_restarted_process_gets_huge_pages():
  """The restarted command (here `python -c`) runs with the tunable, and a 256 MiB malloc
  (as XLA's buffers are allocated; numpy asks for huge pages itself) lies on huge pages;
  without the restart it gets none. On a kernel whose THP setting is not `madvise`, it must
  not restart at all."""
  code = ("import ctypes, os, sys; from vampjax import xla_cpu; "
          "sys.argv[1] == 'restart' and xla_cpu.restart_with_huge_pages(); "
          "libc = ctypes.CDLL(None); libc.malloc.restype = ctypes.c_void_p; "
          "ctypes.memset(libc.malloc(2**28), 1, 2**28); "
          "huge = [l.split()[1] for l in open('/proc/self/smaps_rollup') if 'AnonHuge' in l]; "
          "print(os.environ.get('GLIBC_TUNABLES', '-'), huge[0])")
  env = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
  runs = {}
  for restart in ("restart", "no"):
    done = subprocess.run([sys.executable, "-c", code, restart], check=True, timeout=60,
                          env={**env, "PYTHONPATH": ROOT}, capture_output=True, text=True)
    tunables, huge_kb = done.stdout.split()
    runs[restart] = tunables, int(huge_kb)
  with open(xla_cpu.THP_SETTING_FILE, encoding="ascii") as f:
    madvise = "[madvise]" in f.read()
  if madvise:
    assert runs["restart"][0] == f"{xla_cpu.HUGE_PAGE_TUNABLE}=1"
    assert runs["restart"][1] >= 128 * 1024 > runs["no"][1]
  else:
    assert runs["restart"][0] == "-"
