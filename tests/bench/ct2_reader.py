"""Read a CTranslate2 ``model.bin`` into numpy arrays (format: ctranslate2/specs/model_spec.py ``_serialize``).

Used by the benchmark to hand the very same Whisper base weights to the PyTorch
``openai-whisper`` package, which cannot download its own checkpoint offline.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

_DTYPES = (np.float32, np.int8, np.int16, np.int32, np.float16, None)  # None: bfloat16 (unsupported here)


def read_ct2(path: str | Path) -> tuple[str, dict[str, np.ndarray], dict[str, str]]:
    """(spec name, variables, aliases) of a CTranslate2 model file."""
    data = Path(path).read_bytes()
    pos = 0

    def take(fmt):
        nonlocal pos
        vals = struct.unpack_from(fmt, data, pos)
        pos += struct.calcsize(fmt)
        return vals if len(vals) > 1 else vals[0]

    def string():
        nonlocal pos
        n = take("H")
        s = data[pos : pos + n - 1].decode("utf-8")
        pos += n
        return s

    version = take("I")
    if version < 5:
        raise ValueError(f"unsupported CTranslate2 binary version {version}")
    spec = string()
    take("I")  # revision
    variables: dict[str, np.ndarray] = {}
    for _ in range(take("I")):
        name = string()
        rank = take("B")
        shape = [take("I") for _ in range(rank)]
        dtype = _DTYPES[take("B")]
        nbytes = take("I")
        if dtype is None:
            raise ValueError("bfloat16 weights are not supported")
        variables[name] = np.frombuffer(data, dtype=dtype, count=nbytes // np.dtype(dtype).itemsize, offset=pos).reshape(shape)
        pos += nbytes
    aliases = {}
    for _ in range(take("I")):
        alias = string()
        aliases[alias] = string()
    return spec, variables, aliases
