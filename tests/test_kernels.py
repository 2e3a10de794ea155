"""The compiled kernels (hpcevo/trading/kernels.py) give the NumPy code's floats bit for bit.

Every check runs the same inputs through both paths in one process (kernels.AVAILABLE switched off for the
NumPy one) and compares bytes, once with numba's JIT and once with the ahead-of-time module (aot.py), over
random signals, returns, fold layouts and costs, and the cases that take special branches: flat or always-long
folds (the sums cancel), one-bar folds, NaN and infinite returns, zero and NaN prices, constant series. Whole
runs with HPCEVO_JIT=0, with the JIT and with the ahead-of-time module give the same files.
"""

import importlib.metadata
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT, hpcevo

from hpcevo.trading import aot, indicators, kernels, objectives
from hpcevo.trading.backtest import _layout

pytest.importorskip("numba")  # installed by the test extra (and by `fast`); without it there is nothing to compare
pytestmark = pytest.mark.skipif(not kernels.AVAILABLE, reason=f"kernels off: {kernels.why_unavailable}")


@pytest.fixture(scope="module")
def aot_folder(tmp_path_factory):
    """A folder holding the ahead-of-time module, built once for this file (about 6 s)."""
    folder = tmp_path_factory.mktemp("aot")
    assert aot.build(folder) == aot.path(folder)
    return folder


@pytest.fixture(params=["numba", "ahead of time"])
def backend(request, monkeypatch):
    """kernels' functions from numba's JIT, then from the ahead-of-time module."""
    if request.param == "numba":
        from hpcevo.trading import jit

        monkeypatch.setattr(kernels, "_jit", jit)
    else:
        module = aot.load(request.getfixturevalue("aot_folder"))
        assert module is not None and not hasattr(module, "__wrapped__")
        monkeypatch.setattr(kernels, "_jit", module)
    return request.param


def both(monkeypatch, fn):
    """(result or exception text) with the kernels, then without."""
    out = []
    for on in (True, False):
        monkeypatch.setattr(kernels, "AVAILABLE", on)
        try:
            with np.errstate(all="ignore"):
                out.append(fn())
        except ValueError as exc:
            out.append(f"ValueError: {exc}")
    return out


def as_bytes(result):
    if isinstance(result, str):
        return result
    stats, bars, held = result
    return {k: np.asarray(v, dtype=np.float64).tobytes() for k, v in stats.items()}, repr(bars), repr(held)


def random_signal(rng, n, kind):
    if kind == 0:
        return (rng.random(n) < 0.5).astype(np.float64)
    if kind == 1:  # long/short/flat runs of 20 bars
        return np.repeat(rng.choice([0.0, 1.0, -1.0], n // 20 + 1), 20)[:n].copy()
    if kind == 2:  # long every bar: differences to buy-and-hold are constant, the sums cancel
        return np.ones(n)
    if kind == 3:  # almost always flat: constant net returns in most folds
        s = np.zeros(n)
        s[rng.integers(0, n, 2)] = 1.0
        return s
    return np.full(n, 0.0)


@pytest.mark.parametrize("seed", range(4))
def test_fold_stats_match_numpy_bit_for_bit(backend, monkeypatch, seed):
    rng = np.random.default_rng(seed)
    special = 0
    for trial in range(400):
        n = int(rng.integers(3, 3000))
        r = rng.standard_normal(n) * 0.01
        if trial % 50 == 7:
            r[rng.integers(0, n)] = np.nan  # NumPy raises; so must the kernel path
        if trial % 50 == 9:
            r[rng.integers(0, n)] = np.inf
        s = random_signal(rng, n, trial % 5)
        cuts = np.unique(rng.integers(1, n, 2 * int(rng.integers(1, 6))))
        folds = [(int(a), int(b)) for a, b in zip(cuts[0::2], cuts[1::2]) if b > a]
        if trial % 13 == 0:
            folds = [(1, n)] if n > 1 else folds
        if trial % 17 == 0 and n > 4:
            folds = [(1, 2), (2, 4), (4, n)]  # a one-bar fold
        if not folds:
            continue
        lay = _layout(n, folds)
        c = float(rng.choice([0.0, 0.0005, 0.002]))
        names = ["sharpe", "information_ratio"] + (["turnover"] if trial % 3 == 0 else [])
        with_kernel, without = both(monkeypatch, lambda: objectives.fold_stats(s, r, lay, None, c, 0.0, 252, names))
        special += isinstance(without, str)
        assert as_bytes(with_kernel) == as_bytes(without), (trial, n, folds, c)
    assert special >= 1  # the NaN cases raised on both paths


def test_the_kernel_handles_flat_and_always_long_folds_itself(backend):
    """The cancelling-sums branch of fold_ratios (constant values: ratio 0) is taken inside the kernel; only
    non-constant cancellations go back to NumPy."""
    rng = np.random.default_rng(5)
    r = rng.standard_normal(600) * 0.01
    firsts = np.array([0, 200, 400])
    for p in (np.zeros(600), np.ones(600)):
        rows, status = kernels.fold_metrics(p, r, firsts, 0.0005, 252 ** 0.5)
        assert status == kernels.OK
        column = 0 if not p.any() else 1  # Sharpe of a flat rule, information ratio of buy-and-hold
        assert rows[column].tolist() == [0.0, 0.0, 0.0]
    r[10] = np.nan
    assert kernels.fold_metrics(np.ones(600), r, firsts, 0.0, 1.0)[1] == kernels.REDO


def test_the_sums_are_numpys_pairwise_sums(backend):
    """One fold of net returns p * r with no cost: the kernel's Sharpe uses np.add.reduceat's sums exactly, for
    lengths around every branch of the pairwise algorithm (8, 128, and the halving above)."""
    rng = np.random.default_rng(9)
    for n in (2, 7, 8, 9, 15, 16, 127, 128, 129, 130, 255, 256, 257, 1000, 2519, 2521, 5000):
        r = rng.standard_normal(n) * 0.01
        p = np.ones(n)
        rows, status = kernels.fold_metrics(p, r, np.array([0]), 0.0, 1.0)
        s1 = np.add.reduceat(r, [0])[0]
        s2 = np.add.reduceat(r * r, [0])[0]
        mean = s1 / n
        var = (s2 - s1 * mean) / (n - 1)
        assert status == kernels.OK
        assert rows[0, 0] == mean / math.sqrt(var), n


def random_series(rng, trial):
    n = int(rng.integers(2, 1200))
    x = np.cumsum(rng.standard_normal(n)) * 10 ** rng.uniform(-2, 2) + rng.uniform(-5, 300)
    if trial % 7 == 0:
        x[rng.integers(0, n, 3)] = 0.0  # zero prices: NaN returns in volatility
    if trial % 11 == 0:
        x[rng.integers(0, n)] = np.nan
    if trial % 13 == 0:
        x = np.round(x)
    if trial % 17 == 0:
        x[:] = 5.0
    return x


@pytest.mark.parametrize("name", ["ema", "rsi", "volatility"])
def test_indicators_match_numpy_and_scipy_bit_for_bit(backend, monkeypatch, name):
    rng = np.random.default_rng(len(name))
    fn = getattr(indicators, name)
    for trial in range(600):
        x = random_series(rng, trial)
        n = int(rng.choice([2, 3, 5, 10, 14, 16, 17, 20, 50, 100, 200]))
        with_kernel, without = both(monkeypatch, lambda: fn(x, n))
        assert with_kernel.tobytes() == without.tobytes(), (trial, x.shape[0], n)


def test_a_run_gives_the_same_files_with_and_without_the_kernels(tmp_path, aot_folder):
    args = ["--problem", "trading", "-O", "folds=2", "--islands", 2, "--population", 16, "--generations", 4,
            "--migration-interval", 2, "--quiet"]
    for name, env in (("jit", {"HPCEVO_AOT": "0"}), ("aot", {"NUMBA_CACHE_DIR": str(aot_folder)}),
                      ("numpy", {"HPCEVO_JIT": "0"})):
        done = hpcevo([*args, "--out", tmp_path / name], env=env)
        assert done.returncode == 0, done.stderr
    for f in ("logbook.csv", "hall_of_fame.json", "strategies.csv", "returns.csv", "trades.csv", "migrations.csv"):
        assert (tmp_path / "jit" / f).read_bytes() == (tmp_path / "numpy" / f).read_bytes(), f
        assert (tmp_path / "aot" / f).read_bytes() == (tmp_path / "numpy" / f).read_bytes(), f
    kernels_of = {name: json.loads((tmp_path / name / "summary.json").read_text())["versions"]["kernels"]
                  for name in ("jit", "aot", "numpy")}
    numba_version = importlib.metadata.version("numba")
    assert kernels_of == {"jit": f"numba {numba_version} (JIT)",
                          "aot": f"numba {numba_version} (compiled ahead of time)", "numpy": "NumPy (HPCEVO_JIT=0)"}


def backend_of(env):
    """(kernels.BACKEND, whether numba was imported) in a fresh interpreter with `env`."""
    probe = "import sys; from hpcevo.trading import kernels; print(kernels.BACKEND, 'numba' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=120,
                          env={**os.environ, **env})
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_ahead_of_time_module_is_loaded_without_numba(aot_folder, tmp_path):
    assert backend_of({"NUMBA_CACHE_DIR": str(aot_folder)}) == "ahead of time False"
    assert backend_of({"NUMBA_CACHE_DIR": str(aot_folder), "HPCEVO_AOT": "0"}) == "numba True"
    assert backend_of({"NUMBA_CACHE_DIR": str(aot_folder), "HPCEVO_JIT": "0"}) == "None False"
    assert aot.load(tmp_path) is None  # none built there
    aot.path(tmp_path).write_bytes(b"not a shared object")
    assert aot.load(tmp_path) is None  # a file that does not load: numba's JIT is used


def test_the_module_says_whether_the_kernels_are_on():
    run = [sys.executable, "-m", "hpcevo.trading.kernels"]
    on = subprocess.run(run, capture_output=True, text=True, cwd=ROOT, timeout=120)
    off = subprocess.run(run, capture_output=True, text=True, cwd=ROOT, timeout=60,
                         env={**os.environ, "HPCEVO_JIT": "0"})
    assert on.returncode == 0 and on.stdout.startswith("hpcevo: compiled kernels ready (")
    lines = on.stdout.splitlines()
    assert len(lines) == 2 and lines[1].startswith(("hpcevo: ahead-of-time module built (",
                                                    "hpcevo: ahead-of-time module up to date (")), on.stdout
    assert str(aot.path()) in lines[1]
    again = subprocess.run(run, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert again.stdout.splitlines()[1] == f"hpcevo: ahead-of-time module up to date ({aot.path()})"
    assert off.returncode == 0
    assert off.stdout == "hpcevo: compiled kernels off: HPCEVO_JIT=0; the NumPy code runs (same results)\n"


def test_many_signals_in_one_call_give_each_its_own_rows(backend):
    rng = np.random.default_rng(11)
    r = rng.standard_normal(900) * 0.01
    firsts = np.array([0, 300, 600])
    signals = np.stack([random_signal(rng, 900, kind % 5) for kind in range(12)])
    signals[3, 10] = np.nan  # a NaN term: that row is redone in NumPy, the others are not affected
    rows, status = kernels.fold_metrics_many(signals, r, firsts, 0.0005, 252 ** 0.5)
    for i, p in enumerate(signals):
        one, one_status = kernels.fold_metrics(p, r, firsts, 0.0005, 252 ** 0.5)
        assert status[i] == one_status
        if one_status == kernels.OK:
            assert rows[i].tobytes() == one.tobytes()
    assert status[3] == kernels.REDO and (status == kernels.OK).sum() >= 9


def test_both_backends_divide_by_zero_as_numpy_does(backend):
    """A window of 1 divides by n - 1 = 0 inside the volatility kernel: NaN or inf from both backends (jit.py's
    NumPy error model), never a ZeroDivisionError (pycc alone would compile Python's)."""
    from hpcevo.trading import jit

    x = np.cumsum(np.random.default_rng(3).standard_normal(50)) + 100.0
    got, reference = np.full(50, 7.0), np.full(50, 7.0)
    kernels.volatility(x, 1, got)
    jit._volatility(x, 1, reference)
    assert got.tobytes() == reference.tobytes() and np.isnan(got[1:]).all()
