"""Technical indicators on 1-D float64 NumPy arrays, causal and NaN during warm-up.

Every function takes a series `x` (prices, volumes, ...) and a window `n`, and returns a float64 array of the
same length whose value at bar t uses x[0..t] only. Values are NaN before the first defined index, which
`WARMUP[name](n)` gives (so callers can flatten signals during warm-up without looking at NaNs). A window
longer than the data gives an all-NaN result. Divisions by a zero price give NaN (roc, volatility).

The recursive indicators (ema, rsi) are first-order IIR filters run by scipy's `lfilter` (O(n) in C; the
Python loop they replace was 11x (rsi) and 9x (ema) slower on 5,000 bars, the largest share of a generation once
populations hold distinct strategies), or by `kernels.recursive`, the same operations compiled, when numba is
installed (the same floats, bit for bit); the others are vectorised. All match per-bar references to 1e-10 (tests).
"""

import math
import numbers

import numpy as np

from . import kernels

__all__ = ["WARMUP", "ema", "roc", "rolling_max", "rolling_min", "rsi", "sma", "volatility"]


def _series(x):
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"expected a 1-D series, got an array of shape {arr.shape}")
    return arr


def _window(n, minimum, name):
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < minimum:
        raise ValueError(f"{name}: window must be an integer >= {minimum}, got {n!r}")
    return int(n)


def _nan_like(x):
    return np.full(x.shape[0], np.nan)


def sma(x, n):
    """Simple moving average of the last n values; defined from t = n - 1.

    Each window's sum adds disjoint partial sums of 1, 2, 4, ... values (n's binary digits), so no difference of
    running or cumulative sums is taken: each value passes through at most about 2 log2(n) + 1 roundings
    (pieces are pairwise sums), so the error is bounded by that many units of rounding of the window's sum of
    magnitudes, nothing accumulates along the series, and a constant
    series gives a constant average (every window's sum takes the same roundings). NaN (or inf) in a window
    makes that window's average NaN (or inf), as a direct sum does.
    """
    x, n = _series(x), _window(n, 1, "sma")
    out = _nan_like(x)
    if n <= x.shape[0]:
        out[n - 1 :] = _window_sums(x, n) / n
    return out


def _window_sums(x, n):
    """s[i] = x[i] + ... + x[i + n - 1] for i = 0..size - n, in O(size log n) (n <= size)."""
    count = x.shape[0] - n + 1
    total = None
    covered = 0  # the pieces added so far sum x[i .. i + covered - 1]
    piece = x  # piece[i] = x[i] + ... + x[i + k - 1]
    k = 1
    while True:
        if n & k:
            part = piece[covered : covered + count]
            total = part.copy() if total is None else np.add(total, part, out=total)
            covered += k
        if 2 * k > n:
            return total
        piece = piece[:-k] + piece[k:]
        k *= 2


def ema(x, n):
    """Exponential moving average, alpha = 2 / (n + 1), seeded with sma(x, n) at t = n - 1 (NaN before)."""
    x, n = _series(x), _window(n, 2, "ema")
    out = _nan_like(x)
    if n > x.shape[0]:
        return out
    alpha = 2.0 / (n + 1.0)
    keep = 1.0 - alpha
    y0 = math.fsum(x[:n].tolist()) / n
    out[n - 1] = y0
    out[n:] = _recursive(x[n:], alpha, keep, y0)
    return out


def _recursive(v, gain, keep, y0):
    """y_t = gain * v_t + keep * y_{t-1} from y_{-1} = y0, by a first-order IIR filter (scipy's lfilter, O(n) in C)."""
    if not v.shape[0]:
        return v.copy()
    if kernels.AVAILABLE:  # the same floats, compiled, without importing scipy.signal (about 1 s)
        return kernels.recursive(v, gain, keep, y0)
    from scipy.signal import lfilter

    return lfilter([gain], [1.0, -keep], v, zi=[keep * y0])[0]


def rsi(x, n):
    """Wilder's relative strength index in [0, 100]; defined from t = n.

    With changes d_t = x_t - x_{t-1}, gains max(d, 0) and losses max(-d, 0): the average gain and loss at
    t = n are the simple means of the first n changes (t = 1..n), then avg_t = ((n - 1) * avg_{t-1} + v_t) / n.
    RSI = 100 - 100 / (1 + avg_gain / avg_loss), and 100 when avg_loss is 0 (also when both are 0).
    """
    x, n = _series(x), _window(n, 2, "rsi")
    out = _nan_like(x)
    if n >= x.shape[0]:
        return out
    d = np.diff(x)
    gains = np.maximum(d, 0.0)
    losses = np.maximum(-d, 0.0)
    ag0 = math.fsum(gains[:n].tolist()) / n
    al0 = math.fsum(losses[:n].tolist()) / n
    if kernels.AVAILABLE:  # the same floats, compiled
        kernels.rsi_tail(gains[n:], losses[n:], n, ag0, al0, out[n:])
        return out
    keep = (n - 1.0) / n
    ag = np.concatenate(([ag0], _recursive(gains[n:], 1.0 / n, keep, ag0)))
    al = np.concatenate(([al0], _recursive(losses[n:], 1.0 / n, keep, al0)))
    flat = al == 0.0
    al[flat] = 1.0  # placeholder divisor: those bars are 100
    values = 100.0 - 100.0 / (1.0 + ag / al)
    values[flat] = 100.0
    out[n:] = values
    return out


def roc(x, n):
    """Rate of change x_t / x_{t-n} - 1; defined from t = n (NaN where x_{t-n} is 0)."""
    x, n = _series(x), _window(n, 1, "roc")
    out = _nan_like(x)
    if n < x.shape[0]:
        out[n:] = _ratio_minus_one(x[n:], x[:-n])
    return out


def _ratio_minus_one(num, den):
    with np.errstate(divide="ignore", invalid="ignore"):
        r = num / den - 1.0
    r[den == 0.0] = np.nan
    return r


def _rolling_extreme(x, n, op):
    """op over the last n values via a sparse table: windows of 1, 2, 4, ... then two overlapping ones."""
    out = _nan_like(x)
    size = x.shape[0]
    if n > size:
        return out
    m = x.copy()  # m[t] = op over x[t-k+1..t] (t >= k-1), k doubling
    k = 1
    while 2 * k <= n:
        m[k:] = op(m[k:], m[:-k])  # valid from t = 2k - 1; the partial values before are never read
        k *= 2
    # Window [t-n+1, t] = [t-k+1, t] U [t-n+1, t-n+k] (k <= n < 2k): two k-windows ending at t and t-n+k.
    out[n - 1 :] = op(m[n - 1 :], m[k - 1 : size - n + k])
    return out


def rolling_max(x, n):
    """Maximum of the last n values; defined from t = n - 1."""
    return _rolling_extreme(_series(x), _window(n, 1, "rolling_max"), np.maximum)


def rolling_min(x, n):
    """Minimum of the last n values; defined from t = n - 1."""
    return _rolling_extreme(_series(x), _window(n, 1, "rolling_min"), np.minimum)


def volatility(x, n):
    """Sample standard deviation (ddof = 1) of the n one-bar simple returns ending at t; defined from t = n.

    In O(size): the returns are cut into blocks of n, and each window (the end of one block and the start of
    the next, or one whole block) sums the deviations d = r - a and d * d within those blocks, where the anchor
    a is the return that starts the window's last block (always inside the window); the variance is
    (sum d^2 - (sum d)^2 / n) / (n - 1), clipped at 0. With an anchor inside the window the cancellation is
    bounded by the window's own spread (a window of equal returns gives exactly 0), and no running sum is
    subtracted, so no error accumulates along the series. A NaN return (a zero price) makes every window
    holding it NaN.
    """
    x, n = _series(x), _window(n, 2, "volatility")
    out = _nan_like(x)
    if n >= x.shape[0]:
        return out
    if kernels.AVAILABLE:  # the same sums in the same order, compiled
        kernels.volatility(np.ascontiguousarray(x), n, out)
        return out
    returns = _ratio_minus_one(x[1:], x[:-1])
    sums = _anchored_window_sums(returns, n)
    with np.errstate(invalid="ignore"):  # inf - inf in a window holding an infinite return: NaN, as before
        var = (sums[1] - sums[0] * sums[0] / n) / (n - 1)
    out[n:] = np.sqrt(np.maximum(var, 0.0))
    return out


_SHORT_ROWS = 16


def _anchored_window_sums(v, n):
    """(sum of d, sum of d * d) over each window v[i..i + n - 1] (i = 0..size - n, n <= size), d = v - a with a
    the value at the start of the block of n that holds the window's last element (non-finite a: 0).

    Blocks: rows of n values. A window ending at row k, column j < n - 1 is the suffix of row k - 1 from
    column j + 1 plus the prefix of row k to column j; one ending at column n - 1 is row k. So each sum is a
    row suffix sum plus a row prefix sum (cumsums within rows), both taken about row k's anchor.
    """
    size = v.shape[0]
    rows = -(-size // n)
    b = np.empty(rows * n)
    b[:size] = v
    anchors = b[::n].copy()
    anchors[~np.isfinite(anchors)] = 0.0
    b[size:] = anchors[-1]  # padding, never read
    b = b.reshape(rows, n)
    d = b - anchors[:, None]  # row k about its own anchor: the prefixes
    e = b[:-1] - anchors[1:, None]  # row k - 1 about row k's anchor: the suffixes
    with np.errstate(over="ignore", invalid="ignore"):
        prefix = np.stack((d, d * d))
        suffix = np.stack((e, e * e))
        if n <= _SHORT_ROWS:  # column by column: np.cumsum along rows this short costs more per value
            for j in range(1, n):
                prefix[..., j] += prefix[..., j - 1]
                suffix[..., n - 1 - j] += suffix[..., n - j]
        else:
            prefix = np.cumsum(prefix, axis=-1)
            suffix = np.cumsum(suffix[..., ::-1], axis=-1)[..., ::-1]
        prefix[:, 1:, : n - 1] += suffix[:, :, 1:]
    return prefix.reshape(2, rows * n)[:, n - 1 : size]


def _warmup_minus_one(n):
    return n - 1


def _warmup_n(n):
    return n


# name -> function(n) giving the first bar index at which the indicator is defined.
WARMUP = {
    "sma": _warmup_minus_one,
    "ema": _warmup_minus_one,
    "rsi": _warmup_n,
    "roc": _warmup_n,
    "rolling_max": _warmup_minus_one,
    "rolling_min": _warmup_minus_one,
    "volatility": _warmup_n,
}
