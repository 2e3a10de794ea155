"""Compiled kernels for the trading fitness (numba, an optional extra: `pip install "hpcevo[fast]"`).

Each kernel returns exactly the floats of the NumPy code it stands in for, bit for bit, so a run gives the same
files with or without numba, and on ranks that differ in whether they have it (tests/test_kernels.py compares
the two over thousands of random signals and over whole runs). The one subtle part is summation order: NumPy's
`np.add.reduceat` adds a segment's first element to the pairwise sum of the rest (8 accumulators in blocks of
up to 128 elements, halves above that), and `jit._pairwise` is that algorithm. The numba code is in jit.py;
this module is the switch and the wrappers the NumPy modules call.

Start-up: the kernels are compiled once and cached on disk (numba's `cache=True`: `__pycache__` beside this
file, or `NUMBA_CACHE_DIR`), so only the first process after an install compiles them (about 4 s on a 2-core
VM); every later one loads them (about 0.3 s, after 0.3 s to import numba; SciPy's signal module, which the
NumPy path imports instead, takes about 1 s). `python -m hpcevo.trading.kernels` compiles ahead: the cache,
and a plain extension module of the same functions (aot.py) that later processes load instead, without
importing numba (under a millisecond); jobs/slurm/run.sh runs it once before it starts the ranks.
`HPCEVO_JIT=0` turns the kernels off (the NumPy code runs; same results); `HPCEVO_AOT=0` leaves the module
unused (numba's JIT runs; same results).
"""

import os
import sys

import numpy as np

from . import aot

__all__ = ["AVAILABLE", "BACKEND", "FOLD_NAMES", "fold_metrics", "fold_metrics_many", "recursive", "rsi_tail",
           "volatility", "why_unavailable"]

FOLD_NAMES = frozenset({"sharpe", "information_ratio", "exposure", "turnover"})  # what fold_metrics computes
OK, REDO = 0, 2  # fold_metrics' status: done; redo in NumPy (a fold whose sums cancel, or NaN/inf terms)

why_unavailable = None
BACKEND = None  # "ahead of time" (aot.py's module) or "numba" (the JIT and its cache) when AVAILABLE
if os.environ.get("HPCEVO_JIT", "1").strip() == "0":
    why_unavailable = "HPCEVO_JIT=0"
elif os.environ.get("HPCEVO_AOT", "1").strip() != "0" and (_jit := aot.load()) is not None:
    BACKEND = "ahead of time"
else:
    try:
        import numba
    except ImportError:
        why_unavailable = 'numba is not installed (pip install "hpcevo[fast]")'
    else:
        try:
            from . import jit as _jit
        except Exception as exc:  # noqa: BLE001 - e.g. no writable cache folder: the NumPy code runs instead
            why_unavailable = (f"numba {numba.__version__} could not load the kernels ({type(exc).__name__}: "
                               f"{str(exc).strip()[:300]}); set NUMBA_CACHE_DIR to a writable folder if it cannot "
                               f"cache them")
        else:
            BACKEND = "numba"
AVAILABLE = why_unavailable is None


def rsi_tail(gains, losses, n, ag0, al0, out):
    """indicators.rsi's values from its seeds ag0, al0 (t = n) on, into `out`."""
    _jit._rsi_tail(_vector(gains), _vector(losses), 1.0 / n, (n - 1.0) / n, float(ag0), float(al0), out)


def volatility(x, n, out):
    """indicators.volatility's values (n < len(x)) into out[n:]; out[:n] is left as it is."""
    _jit._volatility(_vector(x), int(n), out)


def recursive(v, gain, keep, y0):
    """y_t = gain * v_t + keep * y_{t-1} from y_{-1} = y0: indicators._recursive's floats (scipy's lfilter)."""
    return _jit._recursive(_vector(v), float(gain), float(keep), float(keep * y0))


def fold_metrics(p, r, firsts, c, root):
    """(rows, status) for positions p and returns r of the folds laid end to end (fold starts `firsts`), cost c
    per unit of position change, no risk-free or borrow terms: rows = per-fold Sharpe, information ratio against
    buy-and-hold, bars in the market, trades, sum of |position change|, each as objectives.fold_stats computes it;
    status OK or REDO (a fold's sums cancel, or a term is NaN or infinite: rows unset; use the NumPy code, which
    redoes such folds in two passes and raises on a NaN)."""
    rows, status = _jit._fold_metrics(np.ascontiguousarray(p, dtype=np.float64)[None, :], _vector(r),
                                      np.ascontiguousarray(firsts, dtype=np.int64), float(c), float(root))
    return rows[0], int(status[0])


def fold_metrics_many(signals, r, firsts, c, root):
    """fold_metrics for each row of the 2-D array `signals` (one signal's positions per row) in one call:
    (rows (signals x 5 x folds), status per signal)."""
    return _jit._fold_metrics(np.ascontiguousarray(signals, dtype=np.float64), _vector(r),
                              np.ascontiguousarray(firsts, dtype=np.int64), float(c), float(root))


def _vector(x):
    """x as the contiguous float64 array the compiled signatures take (no copy when it already is one)."""
    return np.ascontiguousarray(x, dtype=np.float64)


def main():
    """Compile (or load) the kernels now, and build the ahead-of-time module from them; say where both are."""
    if why_unavailable is not None:
        print(f"hpcevo: compiled kernels off: {why_unavailable}; the NumPy code runs (same results)")
        return 0
    try:
        import numba

        from . import jit
    except Exception as exc:  # noqa: BLE001 - numba gone since the module was built: it stays in use
        print(f"hpcevo: compiled kernels ready (ahead of time: {aot.path()}); numba could not be loaded to "
              f"rebuild them ({type(exc).__name__}: {str(exc).strip()[:300]})")
        return 0
    dispatcher = jit._fold_metrics
    where = getattr(getattr(dispatcher, "_cache", None), "_cache_path", None) or numba.config.CACHE_DIR or \
        os.path.join(os.path.dirname(os.path.abspath(__file__)), "__pycache__")  # the folder numba chose
    print(f"hpcevo: compiled kernels ready ({'loaded from' if dispatcher.stats.cache_hits else 'compiled into'} "
          f"{where})")
    if aot.load() is not None:
        print(f"hpcevo: ahead-of-time module up to date ({aot.path()})")
        return 0
    try:
        built = aot.build()
    except Exception as exc:  # noqa: BLE001 - no C compiler, no numba.pycc, a read-only folder: the JIT is used
        print(f"hpcevo: no ahead-of-time module ({type(exc).__name__}: {str(exc).strip()[:300]}); processes load "
              f"the cached JIT kernels instead (about 0.6 s each)")
        return 0
    print(f"hpcevo: ahead-of-time module built ({built}); processes load it without importing numba")
    return 0


if __name__ == "__main__":
    sys.exit(main())
