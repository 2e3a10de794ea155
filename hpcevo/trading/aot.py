"""The trading kernels compiled ahead of time into a plain extension module, which a process loads in under a
millisecond: with numba's JIT every process imports numba and loads its cache (about 0.6 s of CPU per rank).

`build()` compiles jit.py's entry points with numba.pycc (pending deprecation in numba since 0.57, still
shipped; where it is gone or fails, the build fails and the JIT runs as before), each through a call so that it
keeps jit.py's options, for a generic CPU of this architecture, so the module runs on every node of a cluster.
`load()` returns the module when one built from this jit.py (same source, Python, NumPy and machine type) is in
the folder, else None. The module's functions are jit.py's functions, compiled by the same LLVM without
fast-math, so their floats are the JIT's and NumPy's (tests/test_kernels.py runs its comparisons on both).
`python -m hpcevo.trading.kernels` builds it; jobs/slurm/run.sh runs that once before starting the ranks.
"""

import functools
import hashlib
import importlib.machinery
import importlib.util
import inspect
import os
import platform
import sys
import tempfile
import warnings
from pathlib import Path

__all__ = ["ENTRY_POINTS", "build", "folder", "load", "path"]

ENTRY_POINTS = ("_fold_metrics", "_recursive", "_rsi_tail", "_volatility")  # what kernels.py calls
_SOURCE = Path(__file__).with_name("jit.py")


def folder():
    """Where the module is kept: NUMBA_CACHE_DIR when set (as numba's own cache), else __pycache__ beside jit.py."""
    cache = os.environ.get("NUMBA_CACHE_DIR", "").strip()
    return Path(cache) if cache else _SOURCE.parent / "__pycache__"


@functools.cache
def _name():
    """The module's name (and file stem): jit.py's source and what the module is built for, hashed (once)."""
    import numpy  # the module is built against NumPy's C interface

    built_for = f"{sys.version_info[:2]} numpy {numpy.__version__} {platform.machine()}"
    key = hashlib.sha256(_SOURCE.read_bytes() + built_for.encode())
    return f"hpcevo_kernels_{key.hexdigest()[:16]}"


def path(where=None):
    """The module's file for this jit.py, Python and machine type."""
    return Path(where or folder()) / (_name() + importlib.machinery.EXTENSION_SUFFIXES[0])


def load(where=None):
    """The compiled module, or None when there is none for this jit.py (or it does not load)."""
    try:
        file = path(where)
        if not file.is_file():
            return None
        spec = importlib.util.spec_from_file_location(_name(), file)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except (ImportError, OSError):
        return None
    return module if all(hasattr(module, name) for name in ENTRY_POINTS) else None


def _forward(dispatcher):
    """A function that only calls `dispatcher` with its own parameters: pycc compiles what it exports with
    Python's error model (a float division by zero raises), and the call compiles jit.py's function with the
    options jit.py gives it (NumPy's error model: inf or NaN), so both backends behave alike in every case."""
    params = ", ".join(inspect.signature(dispatcher.py_func).parameters)
    namespace = {"target": dispatcher}
    exec(f"def forward({params}):\n    return target({params})\n", namespace)  # noqa: S102 - fixed template
    return namespace["forward"]


def build(where=None):
    """Compile the entry points (with the signatures jit.py gives them) into the module; return its path.
    Raises what numba.pycc or the C compiler raise: the JIT then stays in use."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NumbaPendingDeprecationWarning: pycc's replacement is not out yet
        from numba.pycc import CC

        from . import jit

        target = path(where)
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=".hpcevo-aot-") as scratch:
            cc = CC(_name())
            cc.output_dir = scratch
            cc.verbose = False
            for name in ENTRY_POINTS:
                dispatcher = getattr(jit, name)
                (signature,) = dispatcher.signatures
                cc.export(name, dispatcher.overloads[signature].signature)(_forward(dispatcher))
            cc.compile()
            (built,) = Path(scratch).glob(_name() + "*")
            os.replace(built, target)  # atomic (scratch is in target's folder): a loader sees the old file or the new
    return target
