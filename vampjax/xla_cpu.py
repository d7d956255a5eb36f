"""Process settings under which XLA:CPU runs vampjax's programs fastest; set before JAX starts.

YNNPACK fusions off (`use_fast_cpu_kernels`): XLA:CPU hands convolutions and fused
elementwise reductions to YNNPACK, where they run slower than XLA's own kernels.

Transparent huge pages for malloc (`restart_with_huge_pages`): XLA:CPU keeps its buffers in
glibc's malloc, which on a kernel whose THP setting is `madvise` gets 4 KiB pages, and the
convolutions then spend their time on TLB misses. glibc reads its `glibc.malloc.hugetlb`
tunable only at process start, hence a restart.

Also the persistent compilation cache (`use_compilation_cache`), so that a repeated run
skips XLA's compilation. The measurements: docs/performance.md.
"""

from __future__ import annotations

import os
import platform
import sys

YNN_FUSIONS_FLAG = "--xla_cpu_experimental_ynn_fusion_type"
HUGE_PAGE_TUNABLE = "glibc.malloc.hugetlb"
THP_SETTING_FILE = "/sys/kernel/mm/transparent_hugepage/enabled"
COMPILATION_CACHE_ENV = "VAMPJAX_COMPILATION_CACHE"
MIN_CACHED_COMPILE_SECONDS = 0.1  # programs that compile faster are not worth a cache file


def configure_process() -> None:
  """Both settings, as `main.py` and the benchmarks run: call it first in a script's
  `__main__` (see `restart_with_huge_pages`)."""
  restart_with_huge_pages()
  use_fast_cpu_kernels()


def use_fast_cpu_kernels() -> None:
  """Turns YNNPACK fusions off in XLA_FLAGS, unless the user's XLA_FLAGS set them.

  Takes effect only if called before JAX initialises its backend (the first computation
  or device query). Other backends ignore XLA:CPU flags.
  """
  flags = os.environ.get("XLA_FLAGS", "")
  if YNN_FUSIONS_FLAG not in flags:
    os.environ["XLA_FLAGS"] = f"{flags} {YNN_FUSIONS_FLAG}=".strip()


def huge_page_tunables(tunables: str, thp_setting: str) -> str | None:
  """GLIBC_TUNABLES with malloc's huge pages added, or None where that changes nothing.

  tunables: the current GLIBC_TUNABLES ("" if unset); a user's own hugetlb value wins.
  thp_setting: the kernel's THP file, e.g. "always [madvise] never". Only `madvise`
  needs malloc's request: `always` gives huge pages anyway, `never` refuses them.
  """
  if HUGE_PAGE_TUNABLE in tunables or "[madvise]" not in thp_setting:
    return None
  return ":".join(filter(None, [tunables, f"{HUGE_PAGE_TUNABLE}=1"]))


def restart_with_huge_pages() -> None:
  """Re-executes this process's command line with malloc's huge pages, where they help.

  Call it first in a script's `__main__`, before anything is printed or written: the
  process is replaced. Nothing happens off Linux/glibc, where the kernel has no THP
  setting, or where GLIBC_TUNABLES already names the tunable (set it to 0 to opt out).
  """
  if sys.platform != "linux" or platform.libc_ver()[0] != "glibc":
    return
  try:
    with open(THP_SETTING_FILE, encoding="ascii") as f:
      thp_setting = f.read()
  except OSError:
    return
  tunables = huge_page_tunables(os.environ.get("GLIBC_TUNABLES", ""), thp_setting)
  if tunables is not None:
    try:
      os.execve(sys.executable, sys.orig_argv, {**os.environ, "GLIBC_TUNABLES": tunables})
    except OSError:
      pass  # not restartable (e.g. an embedded interpreter): run on with 4 KiB pages


def use_compilation_cache(path: str | None = None) -> str:
  """Keeps compiled programs in `path` (default: $VAMPJAX_COMPILATION_CACHE, else
  ~/.cache/vampjax/xla), so a repeated run skips XLA's compilation; returns the folder."""
  import jax  # pylint: disable=g-import-not-at-top  (the settings above precede JAX)

  path = path or os.environ.get(COMPILATION_CACHE_ENV,
                                os.path.expanduser("~/.cache/vampjax/xla"))
  jax.config.update("jax_compilation_cache_dir", path)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_CACHED_COMPILE_SECONDS)
  return path
