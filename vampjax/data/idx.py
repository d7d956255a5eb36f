"""The IDX format of (Fashion-)MNIST, plain or gzipped: a reader and, for tests, a writer."""

from __future__ import annotations

import gzip
import os
import struct
import zlib

import numpy as np

from vampjax.data.dataset import DataError

# IDX type byte -> big-endian numpy dtype.
_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_CODES = {np.dtype(dtype).newbyteorder("="): code for code, dtype in _DTYPES.items()}


def _open(path: str):
  return gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")


def read_idx(path: str) -> np.ndarray:
  """The array stored in an IDX file; every malformed file is a DataError, never a crash."""
  if not os.path.isfile(path):
    raise DataError(f"IDX file {path} does not exist; check data.path.")
  fix = "re-download or reinstall it"
  try:
    with _open(path) as f:
      raw = f.read()
  except (OSError, EOFError, zlib.error) as error:
    raise DataError(f"IDX file {path} cannot be read ({error}); {fix}.") from None
  if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
    raise DataError(f"{path} is not an IDX file (bad magic number); {fix}.")
  dtype, ndim = np.dtype(_DTYPES[raw[2]]), raw[3]
  header = 4 + 4 * ndim
  if len(raw) < header:
    raise DataError(f"IDX file {path} is truncated (incomplete header); {fix}.")
  shape = struct.unpack(f">{ndim}I", raw[4:header])
  expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
  if len(raw) - header != expected:
    raise DataError(f"IDX file {path} holds {len(raw) - header} data bytes, but its header "
                    f"{shape} needs {expected} (truncated or corrupt); {fix}.")
  return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path: str, array: np.ndarray) -> None:
  """Writes `array` as IDX (gzipped when `path` ends in .gz)."""
  array = np.asarray(array)
  code = _CODES.get(array.dtype.newbyteorder("="))
  if code is None:
    raise ValueError(f"IDX cannot store dtype {array.dtype}.")
  header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
  with (gzip.open(path, "wb") if path.endswith(".gz") else open(path, "wb")) as f:
    f.write(header + array.astype(_DTYPES[code]).tobytes())
