"""Synthetic daily markets for end-to-end tests of the trading workload: a random walk, or a market with an edge
planted in a rule of the strategy language.

Every market is drawn from numpy.random.default_rng(seed) and written as a CSV of daily bars
(date,open,high,low,close,volume) on business days, the format `hpcevo.trading.data` reads.
"""

import numpy as np

__all__ = ["planted_closes", "random_walk_closes", "write_ohlcv", "PLANTED_RULE"]

# the planted rule, in the strategy language: long while the 10-bar average of the closes is below the 50-bar one.
# A contrarian rule: its drift pulls the price back across the averages, so it flips every few weeks and its
# exposure stays near one half on every seed. (A trend rule such as gt(sma(close,10),sma(close,50)) with the
# same drifts feeds itself: a few regimes lasting years, too few to tell a planted edge from a lucky trend.)
PLANTED_RULE = "lt(sma(close,10),sma(close,50))"
_FAST, _SLOW = 10, 50
START_PRICE = 100.0


def random_walk_closes(n_bars, seed, drift=0.0, vol=0.01):
    """Closes of a geometric random walk: iid normal log returns with mean `drift` and std `vol` per bar."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(drift, vol, n_bars - 1)
    return START_PRICE * np.exp(np.concatenate(([0.0], np.cumsum(steps))))


def planted_closes(n_bars, seed, edge=0.001, vol=0.01):
    """Closes whose next-bar drift is +edge while PLANTED_RULE holds and -edge while it does not.

    Generated bar by bar: the log return from bar t-1 to bar t has mean +edge if sma(close,10) < sma(close,50)
    at bar t-1 (computed from the closes up to t-1 only), -edge otherwise (0 before the 50-bar average exists),
    plus iid normal noise of std `vol`. A strategy that holds the rule at the close of bar t-1 earns the return
    of bar t (the backtest's p_t = s_{t-1}), so the rule is exactly the edge.
    """
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, vol, n_bars)
    close = np.empty(n_bars)
    close[0] = START_PRICE
    for t in range(1, n_bars):
        if t >= _SLOW:  # the rule's state at bar t-1, from closes[t-50 .. t-1]
            window = close[t - _SLOW:t]
            drift = edge if window[-_FAST:].mean() < window.mean() else -edge
        else:
            drift = 0.0
        close[t] = close[t - 1] * np.exp(drift + noise[t])
    return close


def rule_state(close):
    """PLANTED_RULE's signal (bool per bar, False before both averages exist), for checking the generator."""
    close = np.asarray(close, dtype=float)
    c = np.concatenate(([0.0], np.cumsum(close)))
    out = np.zeros(close.shape[0], dtype=bool)
    for t in range(_SLOW - 1, close.shape[0]):
        out[t] = (c[t + 1] - c[t + 1 - _FAST]) / _FAST < (c[t + 1] - c[t + 1 - _SLOW]) / _SLOW
    return out


def write_ohlcv(path, close, seed, start="2000-01-03"):
    """Write `close` as daily bars on business days from `start`; open, high, low and volume are drawn around it
    (open between the previous close and the close, so opens are never stale; low <= open, close <= high)."""
    rng = np.random.default_rng([seed, 1])
    close = np.asarray(close, dtype=float)
    n = close.shape[0]
    first = np.busday_offset(np.datetime64(start, "D"), 0, roll="forward")
    dates = np.busday_offset(first, np.arange(n))
    prev = np.concatenate(([close[0]], close[:-1]))
    open_ = prev + rng.uniform(0.1, 0.9, n) * (close - prev)
    open_[0] = close[0] * (1.0 + rng.uniform(-0.002, 0.002))
    spread = np.abs(rng.normal(0.0, 0.004, (2, n)))
    high = np.maximum(open_, close) * (1.0 + spread[0])
    low = np.minimum(open_, close) * (1.0 - spread[1])
    volume = rng.integers(1_000_000, 5_000_000, n)
    lines = ["date,open,high,low,close,volume"]
    lines += [f"{d},{o:.6f},{h:.6f},{lo:.6f},{c:.6f},{v}"
              for d, o, h, lo, c, v in zip(dates, open_, high, low, close, volume)]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path
