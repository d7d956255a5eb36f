"""Shared fixtures: tiny configs, and a socket guard so no test can reach the network.

Tests run with XLA's own CPU kernels, as main.py does (vampjax.xla_cpu).
"""

from __future__ import annotations

import os
import socket
import sys

import jax
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

from vampjax import default_config, xla_cpu  # pylint: disable=wrong-import-position

xla_cpu.use_fast_cpu_kernels()  # XLA's own CPU kernels, as main.py (no huge-page restart)
# Full float32 in convs and matmuls on every backend: on GPUs XLA's default is TF32, whose
# 1e-3 rounding fails the float32 tolerances here (seen on an H100). No effect on CPU.
jax.config.update("jax_default_matmul_precision", "highest")

xla_cpu.use_compilation_cache(os.path.join(ROOT, ".pytest_cache", "xla"))


class NetworkAccessError(RuntimeError):
  pass


_LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", None)
_real_connect = socket.socket.connect
_real_getaddrinfo = socket.getaddrinfo


def _guarded_connect(sock, address):
  host = address[0] if isinstance(address, tuple) else address
  if sock.family == socket.AF_UNIX or host in _LOCAL_HOSTS or str(host).startswith("127."):
    return _real_connect(sock, address)
  raise NetworkAccessError(f"tests must not use the network (tried {address!r})")


def _guarded_getaddrinfo(host, *args, **kwargs):
  if host in _LOCAL_HOSTS:
    return _real_getaddrinfo(host, *args, **kwargs)
  raise NetworkAccessError(f"tests must not resolve {host!r}")


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
  """Any attempt to reach another host fails at once instead of hanging for minutes."""
  monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
  monkeypatch.setattr(socket, "getaddrinfo", _guarded_getaddrinfo)


def tiny_config(**overrides):
  """A config small enough to compile and run in seconds on 2 cores (MNIST, K = 8)."""
  config = default_config.get_config()
  config.latent_dim = 8
  config.num_components = 8
  config.batch_size = 8
  config.num_train_steps = 4
  config.log_every_steps = 2
  config.eval_every_steps = 4
  config.num_eval_examples = 32
  config.checkpoint_every_steps = 2
  config.num_samples = 4
  config.learning_rate = 1e-3
  config.update_from_flattened_dict(overrides)
  return config


@pytest.fixture
def tiny():
  return tiny_config
