"""Reading the pickles that preprocessed pose files hold, without running any code stored in them.

VideoPose3D's npz files (object arrays) and MMPose's ``cameras.pkl`` are pickles of dicts, lists, tuples, strings,
numbers and numpy arrays. ``pickle.load`` / ``np.load(..., allow_pickle=True)`` would call any global a file names
(``os.system``, ``builtins.eval``, ...); :class:`SafeUnpickler` builds only the types above and refuses every other
global before it could be called.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import IO, Any

from kspbench.data.formats import FormatError

# The only globals these pickles need: numpy arrays, dtypes and scalars (``_reconstruct`` up to pickle protocol 4,
# ``_frombuffer`` at protocol 5; ``numpy.core`` before numpy 2, ``numpy._core`` from 2 on), and, in pickles written
# by Python 2 era numpy, bytes rebuilt through ``_codecs.encode``.
SAFE_GLOBALS = frozenset(
    {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
        ("builtins", "dict"),
        ("builtins", "list"),
        ("builtins", "tuple"),
        ("builtins", "str"),
        ("builtins", "int"),
        ("builtins", "float"),
        ("builtins", "bool"),
        ("builtins", "bytes"),
        ("__builtin__", "dict"),
        ("__builtin__", "list"),
        ("__builtin__", "tuple"),
    }
)


class UnsafePickle(Exception):
    """A pickle asked for a global outside :data:`SAFE_GLOBALS`."""


class SafeUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, tuples, strings, numbers and numpy arrays, and nothing that can run code."""

    def find_class(self, module: str, name: str):
        if (module, name) not in SAFE_GLOBALS:
            raise UnsafePickle(f"{module}.{name}")
        return super().find_class(module, name)


def safe_load(f: IO[bytes]) -> Any:
    """One pickle from the binary stream ``f`` through :class:`SafeUnpickler` (Python 2 strings as latin-1).

    Raises:
        UnsafePickle: the pickle references a global outside :data:`SAFE_GLOBALS`; nothing was called.
    """
    return SafeUnpickler(f, encoding="latin1").load()


def load_pickle_file(path: str | os.PathLike, what: str) -> Any:
    """A whole pickle file (e.g. MMPose's ``cameras.pkl``), read safely; every failure is one :class:`FormatError`.

    Args:
        what: what the file should be, for the messages (e.g. "an MMPose cameras file").
    """
    path = Path(path)
    if not path.is_file():
        raise FormatError(f"{path}: no such file")
    try:
        with open(path, "rb") as f:
            obj = safe_load(f)
            trailing = f.read(1)
    except UnsafePickle as err:
        raise FormatError(
            f"{path}: refusing to load: the pickle references {err}, which {what} never does (a "
            "crafted file?); nothing in it was run"
        ) from None
    except Exception as err:  # truncated or not a pickle: EOFError, UnpicklingError, ValueError, ...
        raise FormatError(
            f"{path}: not a readable pickle ({what}): truncated, corrupt or another format ({type(err).__name__})"
        ) from None
    if trailing:
        raise FormatError(f"{path}: data after the end of the pickle ({what} is one pickled object)")
    return obj
