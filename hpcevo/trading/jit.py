"""The numba code behind hpcevo/trading/kernels.py (imported only through it; ImportError without numba).

Each function repeats, operation for operation, the NumPy (or SciPy) code it stands in for: see the docstrings
for which. Entry points have explicit signatures and are cached on disk (`cache=True`), so a process loads them
instead of compiling; helpers without a signature are compiled into the entry points that call them.
"""

import math

import numba
import numpy as np
from numba import types

_JIT = {"cache": True, "nogil": True, "error_model": "numpy"}  # the entry points: compiled once, cached
_INNER = {"nogil": True, "error_model": "numpy"}  # helpers: compiled into the entry points that call them
_IN = types.Array(types.float64, 1, "C", readonly=True)  # input arrays: writable ones convert to these
_IN_INT = types.Array(types.int64, 1, "C", readonly=True)
_OUT = types.float64[::1]
_F, _I = types.float64, types.int64


@numba.njit(inline="always")
def _term(p, r, j, c):
    """Bar j's (not a fold's first bar) net return, its difference to buy-and-hold's, |position change|, and
    the position, each as objectives.fold_stats computes it."""
    q = p[j]
    s = abs(q - p[j - 1])
    x = q * r[j]
    if c != 0.0:
        x -= c * s
    return x, x - r[j], s, q


@numba.njit(inline="always")
def _lanes(acc, k):
    """NumPy's combination of the 8 accumulators of quantity k."""
    return ((acc[k, 0] + acc[k, 1]) + (acc[k, 2] + acc[k, 3])) + ((acc[k, 4] + acc[k, 5]) + (acc[k, 6] + acc[k, 7]))


@numba.njit(inline="always")
def _one_by_one(sums, p, r, lo, n, c):
    """`sums` (as _pairwise returns them) with bars lo..lo+n-1 added one at a time."""
    t0, t1, t2, t3, t4, held, trades = sums
    for i in range(n):
        x, d, s, q = _term(p, r, lo + i, c)
        t0 += x
        t1 += x * x
        t2 += d
        t3 += d * d
        t4 += s
        if q != 0.0:
            held += 1.0
            if s != 0.0:
                trades += 1.0
    return (t0, t1, t2, t3, t4, held, trades)


_SUMS = types.UniTuple(_F, 7)


@numba.njit(_SUMS(_IN, _IN, _I, _I, _F, types.float64[:, ::1]), **_JIT)  # recursive: needs its signature
def _pairwise(p, r, lo, n, c, acc):
    """Over bars lo..lo+n-1, none a fold's first: the sums of net, net^2, diff, diff^2 and |step| by NumPy's
    pairwise summation (numpy/_core/src/umath/loops_utils.h.src: below 8 terms one by one onto 0.0; up to
    128, 8 accumulators started by the first 8 terms, combined as ((0+1)+(2+3))+((4+5)+(6+7)), then the
    rest one by one; above, the two halves split at a multiple of 8), the same additions in the same
    order as np.add.reduceat over the arrays; and the counts of bars in the market and of trades (any
    order: whole numbers). `acc` is scratch (5 x 8)."""
    if n > 128:
        n2 = n // 2
        n2 -= n2 % 8
        a = _pairwise(p, r, lo, n2, c, acc)
        b = _pairwise(p, r, lo + n2, n - n2, c, acc)
        return (a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3], a[4] + b[4], a[5] + b[5], a[6] + b[6])
    if n < 8:
        return _one_by_one((0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0), p, r, lo, n, c)
    stop = n - n % 8
    held = trades = 0.0
    for i in range(stop):
        x, d, s, q = _term(p, r, lo + i, c)
        lane = i % 8
        if i < 8:
            acc[0, lane], acc[1, lane], acc[2, lane], acc[3, lane], acc[4, lane] = x, x * x, d, d * d, s
        else:
            acc[0, lane] += x
            acc[1, lane] += x * x
            acc[2, lane] += d
            acc[3, lane] += d * d
            acc[4, lane] += s
        if q != 0.0:
            held += 1.0
            if s != 0.0:
                trades += 1.0
    sums = (_lanes(acc, 0), _lanes(acc, 1), _lanes(acc, 2), _lanes(acc, 3), _lanes(acc, 4), held, trades)
    return _one_by_one(sums, p, r, lo + stop, n - stop, c)


@numba.njit(**_INNER)
def _ratio(s1, s2, n, root):
    """backtest.fold_ratios for one fold; NaN where the sums cancel (the caller redoes the signal in NumPy)."""
    if n < 2:
        return 0.0
    mean = s1 / n
    var = (s2 - s1 * mean) / (n - 1)
    if var <= 1e-9 * s2 / (n - 1):
        return np.nan
    return mean / math.sqrt(var) * root if var > 0.0 else 0.0


@numba.njit(**_INNER)
def _flat(p, r, lo, hi, c, which, first):
    """Whether bars lo+1..hi-1 of a fold all have the value `first` (its first bar's) of the net returns
    (which 0) or of their differences to buy-and-hold's (which 1)."""
    for j in range(lo + 1, hi):
        if _term(p, r, j, c)[which] != first:
            return False
    return True


@numba.njit(**_INNER)
def _fold_row(p, r, firsts, c, root, out, acc):
    """One signal's per-fold rows into `out` (5 x folds); its status (0 done, 2 redo in NumPy)."""
    size = p.shape[0]
    k = firsts.shape[0]
    for f in range(k):
        lo = firsts[f]
        hi = firsts[f + 1] if f + 1 < k else size
        q = p[lo]  # the fold's first bar: flat before it, and buy-and-hold pays the cost to enter
        s = abs(q)
        x = q * r[lo]
        if c != 0.0:
            x -= c * s
        d = x - (r[lo] - c)
        x0, d0 = x, d
        # np.add.reduceat: a segment's first element plus the pairwise sum of the rest
        t = _pairwise(p, r, lo + 1, hi - lo - 1, c, acc)
        if hi - lo > 1:
            x, x2, d, d2, s = x + t[0], x * x + t[1], d + t[2], d * d + t[3], s + t[4]
        else:
            x2, d2 = x * x, d * d
        if not (np.isfinite(x) and np.isfinite(d)):
            return 2  # NaN or inf terms: the NumPy code decides (a NaN is an error there)
        sharpe = _ratio(x, x2, hi - lo, root)
        info = _ratio(d, d2, hi - lo, root)
        # fold_ratios' two-pass branch where the sums cancel: constant values give 0 (a rule flat all fold has
        # constant net returns; one long all fold, constant differences to buy-and-hold)
        if sharpe != sharpe and _flat(p, r, lo, hi, c, 0, x0):
            sharpe = 0.0
        if info != info and _flat(p, r, lo, hi, c, 1, d0):
            info = 0.0
        if sharpe != sharpe or info != info:
            return 2
        out[0, f] = sharpe
        out[1, f] = info
        entered = 1.0 if q != 0.0 else 0.0  # in the market on the first bar is a trade (a step from flat)
        out[2, f] = t[5] + entered
        out[3, f] = t[6] + entered
        out[4, f] = s
    return 0


@numba.njit(types.Tuple((types.float64[:, :, ::1], types.int64[::1]))(
    types.Array(types.float64, 2, "C", readonly=True), _IN, _IN_INT, _F, _F), **_JIT)
def _fold_metrics(signals, r, firsts, c, root):
    """kernels.fold_metrics for each row of `signals` (positions laid end to end): (rows, status) per row."""
    m = signals.shape[0]
    out = np.zeros((m, 5, firsts.shape[0]))
    status = np.zeros(m, dtype=np.int64)
    acc = np.empty((5, 8))
    for i in range(m):
        status[i] = _fold_row(signals[i], r, firsts, c, root, out[i], acc)
    return out, status


@numba.njit(inline="always")
def _filter_step(x, z, gain, a1):
    """One step of scipy.signal.lfilter([gain], [1.0, a1], ...), the same operations: lfilter pads b to
    [gain, 0.0] and runs the transposed direct form y = z + gain * x, z = x * 0.0 - y * a1. Returns (y, z)."""
    y = z + gain * x
    return y, x * 0.0 - y * a1


@numba.njit(_OUT(_IN, _F, _F, _F), **_JIT)
def _recursive(v, gain, keep, z):
    """scipy.signal.lfilter([gain], [1.0, -keep], v, zi=[z])[0] (`_filter_step` over v)."""
    out = np.empty(v.shape[0])
    for i in range(v.shape[0]):
        out[i], z = _filter_step(v[i], z, gain, -keep)
    return out


@numba.njit(types.void(_IN, _IN, _F, _F, _F, _F, _OUT), **_JIT)
def _rsi_tail(gains, losses, gain, keep, ag0, al0, out):
    """indicators.rsi from its seeds on: both recursions (as `_recursive`, from zi = keep * seed) and
    100 - 100 / (1 + ag / al), 100 where al is 0, into out[0..]."""
    zg = keep * ag0
    zl = keep * al0
    ag, al = ag0, al0
    for i in range(gains.shape[0] + 1):
        if i:
            ag, zg = _filter_step(gains[i - 1], zg, gain, -keep)
            al, zl = _filter_step(losses[i - 1], zl, gain, -keep)
        out[i] = 100.0 if al == 0.0 else 100.0 - 100.0 / (1.0 + ag / al)


@numba.njit(types.void(_IN, _I, _OUT), **_JIT)
def _volatility(x, n, out):
    """indicators.volatility's values from t = n into out[n..]: the same block-anchored sums
    (`_anchored_window_sums`: sequential prefix sums within blocks of n, suffix sums of the block before, about
    the anchor of the window's last block), added in the same order."""
    size = x.shape[0] - 1
    r = np.empty(size)
    for i in range(size):
        den = x[i]
        r[i] = np.nan if den == 0.0 else x[i + 1] / den - 1.0
    rows = -(-size // n)
    anchors = np.empty(rows)
    for k in range(rows):
        a = r[k * n]
        anchors[k] = a if np.isfinite(a) else 0.0
    s1 = np.empty(n)  # suffix sums of the block before, about this block's anchor
    s2 = np.empty(n)
    for k in range(rows):
        a = anchors[k]
        lo = k * n
        if k:
            t1 = t2 = 0.0
            for j in range(n - 1, -1, -1):
                e = r[lo - n + j] - a
                if j == n - 1:
                    t1, t2 = e, e * e
                else:
                    t1 += e
                    t2 += e * e
                s1[j] = t1
                s2[j] = t2
        p1 = p2 = 0.0
        for j in range(n):
            t = lo + j
            if t >= size:
                break
            d = r[t] - a
            if j == 0:
                p1, p2 = d, d * d
            else:
                p1 += d
                p2 += d * d
            if t < n - 1:
                continue
            if j == n - 1:
                w1, w2 = p1, p2
            else:
                w1, w2 = p1 + s1[j + 1], p2 + s2[j + 1]
            var = (w2 - w1 * w1 / n) / (n - 1)
            out[t + 1] = math.sqrt(var) if var >= 0.0 or var != var else 0.0
