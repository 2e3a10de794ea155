"""hpcevo.trading.metrics against plain per-bar references, backtest.period_metrics and hand-computed cases.

The references are written straight from the module docstring's definitions with Python loops over bars and the
math module; they share no helper with hpcevo.trading.
"""

import math

import numpy as np
import pytest

from hpcevo.trading import backtest as bt
from hpcevo.trading import metrics as mt

# ----------------------------------------------------------------------------------------------------------
# Per-bar references
# ----------------------------------------------------------------------------------------------------------


def ref_net(p, r, cost_bps, borrow_bps=0.0, rf=None, ppy=252):
    c, b = cost_bps / 10_000.0, borrow_bps / 10_000.0 / ppy
    out, prev = [], 0.0
    for t in range(len(p)):
        rf_t = 0.0 if rf is None else rf[t]
        out.append(p[t] * r[t] - c * abs(p[t] - prev) - b * max(-p[t], 0.0) + rf_t * (1.0 - abs(p[t])))
        prev = p[t]
    return out


def ref_mean_std_ratio(x, ppy):
    n = len(x)
    if n < 2 or all(v == x[0] for v in x):
        return 0.0
    mean = sum(x) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in x) / (n - 1))
    return mean / std * math.sqrt(ppy)


def ref_cagr(growth, n, ppy):
    if growth <= 0.0:
        return -1.0
    try:
        return growth ** (ppy / n) - 1.0
    except OverflowError:
        return math.inf


def ref_trades(p, net, cost_bps):
    """(first bar, stop bar, position, return, open) of each trade, one bar at a time."""
    c = cost_bps / 10_000.0
    n, out, i = len(p), [], 0
    while i < n:
        if p[i] == 0.0:
            i += 1
            continue
        held, entered_from = p[i], p[i - 1] if i > 0 else 0.0
        growth, j = 1.0, i
        while j < n and p[j] == held:
            if j == i and entered_from != 0.0:  # reversal: the new trade takes the bar but the old trade's exit cost
                growth *= 1.0 + net[j] + c * abs(entered_from)
            else:
                growth *= 1.0 + net[j]
            j += 1
        if j < n:
            growth *= (1.0 + net[j]) if p[j] == 0.0 else (1.0 - c * abs(held))
        out.append((i, j, held, growth - 1.0, j == n))
        i = j
    return out


def ref_stats(p, net, bench, ppy=252, rf=None, cost_bps=0.0):
    n = len(p)
    x = [net[t] - (0.0 if rf is None else rf[t]) for t in range(n)]
    equity, peak, max_dd = 1.0, 1.0, 0.0
    for v in net:
        equity *= 1.0 + v
        peak = max(peak, equity)
        max_dd = max(max_dd, 1.0 - equity / peak)
    bench_growth = 1.0
    for v in bench:
        bench_growth *= 1.0 + v
    cagr = ref_cagr(equity, n, ppy)

    sortino = 0.0
    if n >= 2 and any(v < 0.0 for v in x):
        downside = math.sqrt(sum(min(v, 0.0) ** 2 for v in x) / n)
        sortino = sum(x) / n / downside * math.sqrt(ppy)

    beta = 0.0
    if n >= 2 and not all(v == bench[0] for v in bench):
        mb, mr = sum(bench) / n, sum(net) / n
        cov = sum((net[t] - mr) * (bench[t] - mb) for t in range(n)) / (n - 1)
        var = sum((v - mb) ** 2 for v in bench) / (n - 1)
        beta = cov / var

    trades = ref_trades(p, net, cost_bps)
    wins = sum(1 for t in trades if t[3] > 1e-9)
    turnover, prev = 0.0, 0.0
    for v in p:
        turnover += abs(v - prev)
        prev = v
    return {
        "total_return": equity - 1.0,
        "cagr": cagr,
        "sharpe": ref_mean_std_ratio(x, ppy),
        "sortino": sortino,
        "calmar": cagr / max_dd if max_dd != 0.0 else 0.0,
        "max_drawdown": max_dd,
        "win_rate": wins / len(trades) if trades else 0.0,
        "trades": len(trades),
        "exposure": sum(1 for v in p if v != 0.0) / n,
        "turnover": turnover * ppy / n,
        "excess_return": cagr - ref_cagr(bench_growth, n, ppy),
        "information_ratio": ref_mean_std_ratio([net[t] - bench[t] for t in range(n)], ppy),
        "beta": beta,
        "bars": n,
    }


def ref_trade_list(p_full, net, dates, open_, close, start, stop, fill, cost_bps):
    rows = []
    for i, j, held, ret, still_open in ref_trades(list(p_full[start:stop]), list(net), cost_bps):
        i, j = i + start, j + start
        if fill == "close":
            entry, exit_ = i - 1, j - 1
            prices = close
        else:
            entry, exit_ = i, j
            prices = open_
        rows.append(
            {
                "direction": "long" if held > 0 else "short",
                "entry_date": str(dates[entry]),
                "exit_date": str(dates[exit_]),
                "entry_price": float(prices[entry]),
                "exit_price": float(prices[exit_]),
                "bars": j - i,
                "return": ret,
                "open": still_open,
            }
        )
    return rows


def assert_close(got, want, keys, tol, context=""):
    for key in keys:
        assert math.isclose(got[key], want[key], rel_tol=tol, abs_tol=tol), (
            f"{key}: {got[key]!r} != {want[key]!r} {context}"
        )


FLOAT_KEYS = [k for k in mt.METRICS if k not in ("trades", "bars", "win_rate")]


def assert_same_stats(got, want, context=""):
    assert tuple(got) == mt.METRICS, context
    assert all(type(got[k]) is float for k in FLOAT_KEYS + ["win_rate"]), got
    assert type(got["trades"]) is int and type(got["bars"]) is int, got
    for key in ("trades", "bars", "win_rate"):
        assert got[key] == want[key], f"{key}: {got[key]} != {want[key]} {context}"
    assert_close(got, want, FLOAT_KEYS, 1e-9, context)


# ----------------------------------------------------------------------------------------------------------
# Random data
# ----------------------------------------------------------------------------------------------------------


def random_positions(rng, n, long_short):
    values = np.array([-1.0, 0.0, 1.0]) if long_short else np.array([0.0, 1.0])
    if rng.random() < 0.4:  # independent draws: short runs and many reversals
        return rng.choice(values, n)
    runs = rng.geometric(rng.uniform(0.05, 0.4), n)
    return np.repeat(rng.choice(values, len(runs)), runs)[:n]


def random_case(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 301)) if seed % 7 else int(rng.integers(1, 4))
    r = rng.normal(0.0003, 0.02, n)
    if seed % 5 == 0:
        r[rng.random(n) < 0.3] = 0.0  # unchanged prices: zero-return round trips
    p = random_positions(rng, n, long_short=seed % 3 != 0)
    cost = float(rng.choice([0.0, 10.0, 25.0]))
    borrow = float(rng.choice([0.0, 0.0, 50.0, 300.0]))
    rf = None if seed % 2 else rng.uniform(0.0, 0.0004, n)
    ppy = [252, 52, 365.25][seed % 3]
    return p, r, cost, borrow, rf, ppy


SEEDS = range(150)


def test_net_returns_match_reference():
    for seed in SEEDS:
        p, r, cost, borrow, rf, ppy = random_case(seed)
        got = mt.net_returns(p, r, cost, borrow_bps=borrow, rf=rf, periods_per_year=ppy)
        want = ref_net(p.tolist(), r.tolist(), cost, borrow, None if rf is None else rf.tolist(), ppy)
        assert got.dtype == np.float64 and got.shape == p.shape
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12, err_msg=f"seed {seed}")


def test_net_returns_of_many_strategies_are_each_ones_own():
    """A 2-D p (a strategy per row) gives each row the floats that row alone gives; other shapes are refused."""
    for seed in SEEDS:
        p, r, cost, borrow, rf, ppy = random_case(seed)
        rows = np.stack([p, -p, np.zeros_like(p), np.roll(p, 3)])
        got = mt.net_returns(rows, r, cost, borrow_bps=borrow, rf=rf, periods_per_year=ppy)
        assert got.shape == rows.shape
        for row, one in zip(got, rows):
            assert row.tobytes() == mt.net_returns(one, r, cost, borrow_bps=borrow, rf=rf,
                                                   periods_per_year=ppy).tobytes()
    with pytest.raises(ValueError, match=r"p must be a 1-D array or a 2-D array \(one strategy per row\), got shape "
                                         r"\(2, 2, 3\)"):
        mt.net_returns(np.zeros((2, 2, 3)), np.zeros(3), 0.0)
    with pytest.raises(ValueError, match="p values must be -1, 0 or 1"):
        mt.net_returns(np.full((2, 3), 0.5), np.zeros(3), 0.0)


def test_period_stats_match_reference():
    for seed in SEEDS:
        p, r, cost, borrow, rf, ppy = random_case(seed)
        net = mt.net_returns(p, r, cost, borrow_bps=borrow, rf=rf, periods_per_year=ppy)
        bench = mt.net_returns(np.ones(len(p)), r, cost, rf=rf, periods_per_year=ppy)
        got = mt.period_stats(p, net, bench, ppy, rf, cost_bps=cost)
        want = ref_stats(p.tolist(), net.tolist(), bench.tolist(), ppy, None if rf is None else rf.tolist(), cost)
        assert_same_stats(got, want, f"seed {seed}")


def test_period_stats_agree_with_backtest():
    for seed in range(120):
        rng = np.random.default_rng(1000 + seed)
        n = int(rng.integers(3, 400))
        close = 100.0 * np.exp(np.cumsum(rng.normal(0.0003, 0.02, n)))
        open_ = close * np.exp(rng.normal(0.0, 0.007, n))
        if seed % 4 == 0:
            close, open_ = np.round(close, 1), np.round(open_, 1)
        fill = bt.FILLS[seed % 2]
        signal = random_positions(rng, n, long_short=seed % 3 != 0)
        cost = float(rng.choice([0.0, 10.0, 25.0]))
        returns = bt.bar_returns(open_, close, fill)
        lo, hi = bt.valid_span(returns)
        start = int(rng.integers(lo, hi))
        stop = int(rng.integers(start + 1, hi + 1))
        p, r = bt.positions(signal)[start:stop], returns[start:stop]
        net = mt.net_returns(p, r, cost)
        np.testing.assert_array_equal(net, bt.net_returns(p, r, cost))
        bench = mt.net_returns(np.ones(stop - start), r, cost)
        got = mt.period_stats(p, net, bench, cost_bps=cost)
        want = bt.period_metrics(signal, returns, start, stop, cost_bps=cost)
        context = f"seed {seed} period ({start}, {stop}) cost {cost}"
        for key in ("trades", "bars", "win_rate", "exposure"):
            assert got[key] == want[key], f"{key} {context}"
        assert_close(got, want, ("total_return", "cagr", "sharpe", "max_drawdown"), 1e-12, context)
        hold = bt.buy_and_hold(returns, start, stop, cost)
        assert math.isclose(got["excess_return"], want["cagr"] - hold["cagr"], rel_tol=1e-12, abs_tol=1e-12)


# ----------------------------------------------------------------------------------------------------------
# Hand-computed cases
# ----------------------------------------------------------------------------------------------------------

ROOT = math.sqrt(252)


def test_long_only_equal_to_benchmark_by_hand():
    # r = +10%, -5%, +2%, +3%, always long, c = 0.001: R = 0.099, -0.05, 0.02, 0.03 (entry cost on bar 1 only).
    # Equity 1.099, 1.04405, 1.064931, 1.09687893: total 0.09687893; drawdown peaks at 1 - 0.95 = 0.05.
    # mean = 0.099 / 4 = 0.02475; deviations 0.07425, -0.07475, -0.00475, 0.00525 -> squares sum 0.01115075.
    # Sortino: one negative X (-0.05): sqrt(0.0025 / 4) = 0.025 -> 0.02475 / 0.025 = 0.99 (times sqrt 252).
    # One open trade (win), exposure 1, turnover 1 * 252 / 4 = 63; the benchmark is the strategy itself.
    p = np.ones(4)
    r = np.array([0.1, -0.05, 0.02, 0.03])
    net = mt.net_returns(p, r, 10.0)
    np.testing.assert_allclose(net, [0.099, -0.05, 0.02, 0.03], rtol=1e-15, atol=1e-17)
    got = mt.period_stats(p, net, net.copy(), cost_bps=10.0)
    cagr = 1.09687893**63 - 1.0
    want = {
        "total_return": 0.09687893,
        "cagr": cagr,
        "sharpe": 0.02475 / math.sqrt(0.01115075 / 3) * ROOT,
        "sortino": 0.99 * ROOT,
        "calmar": cagr / 0.05,
        "max_drawdown": 0.05,
        "win_rate": 1.0,
        "trades": 1,
        "exposure": 1.0,
        "turnover": 63.0,
        "excess_return": 0.0,
        "information_ratio": 0.0,
        "beta": 1.0,
        "bars": 4,
    }
    assert got == pytest.approx(want, rel=1e-12, abs=1e-15)
    assert got["beta"] == 1.0 and got["information_ratio"] == 0.0 and got["excess_return"] == 0.0


def test_flat_strategy_earns_rf_by_hand():
    # Flat on every bar: R = rf = 0.0001, 0.0002, 0.0001, 0; X = R - rf = 0 -> Sharpe and Sortino 0.
    # Total 1.0001 * 1.0002 * 1.0001 - 1 = 0.000400050002. Benchmark B = r = 0.1, -0.05, 0.02, 0.03 (cost 0),
    # growth 1.1 * 0.95 * 1.02 * 1.03 = 1.097877.
    # Beta: R - mean = 0, 1e-4, 0, -1e-4; B - mean = 0.075, -0.075, -0.005, 0.005 -> cov sum -8e-6, var sum 0.0113.
    # IR: R - B = -0.0999, 0.0502, -0.0199, -0.03, mean -0.0249, deviations -0.075, 0.0751, 0.005, -0.0051
    #   -> squares sum 0.01131602.
    p = np.zeros(4)
    r = np.array([0.1, -0.05, 0.02, 0.03])
    rf = np.array([0.0001, 0.0002, 0.0001, 0.0])
    net = mt.net_returns(p, r, 10.0, borrow_bps=100.0, rf=rf)
    np.testing.assert_array_equal(net, rf)
    bench = mt.net_returns(np.ones(4), r, 0.0, rf=rf)
    np.testing.assert_array_equal(bench, r)
    got = mt.period_stats(p, net, bench, rf=rf, cost_bps=10.0)
    total = 0.000400050002
    want = {
        "total_return": total,
        "cagr": (1.0 + total) ** 63 - 1.0,
        "sharpe": 0.0,
        "sortino": 0.0,
        "calmar": 0.0,
        "max_drawdown": 0.0,
        "win_rate": 0.0,
        "trades": 0,
        "exposure": 0.0,
        "turnover": 0.0,
        "excess_return": (1.0 + total) ** 63 - 1.097877**63,
        "information_ratio": -0.0249 / math.sqrt(0.01131602 / 3) * ROOT,
        "beta": -8e-6 / 0.0113,
        "bars": 4,
    }
    assert got == pytest.approx(want, rel=1e-10, abs=1e-15)
    assert got["sharpe"] == 0.0 and got["sortino"] == 0.0
    # Without rf the flat strategy earns exactly nothing.
    zero = mt.period_stats(p, mt.net_returns(p, r, 10.0), bench)
    assert zero["total_return"] == 0.0 and zero["cagr"] == 0.0 and zero["beta"] == 0.0


def test_short_earns_minus_r_minus_borrow_by_hand():
    # Short on 3 bars, r = +1%, -2%, 0, no cost, borrow 252 bps a year at 252 bars a year: 0.0001 a bar, rf not
    # earned while short. R = -0.0101, 0.0199, -0.0001. Equity 0.9899, 1.00959901, 1.009498...; drawdown 0.0101.
    p = -np.ones(3)
    r = np.array([0.01, -0.02, 0.0])
    rf = np.full(3, 0.0003)
    net = mt.net_returns(p, r, 0.0, borrow_bps=252.0, rf=rf)
    np.testing.assert_allclose(net, [-0.0101, 0.0199, -0.0001], rtol=1e-12)
    got = mt.period_stats(p, net, r, rf=rf)
    total = 0.9899 * 1.0199 * 0.9999 - 1.0
    assert got["total_return"] == pytest.approx(total, rel=1e-12)
    assert got["max_drawdown"] == pytest.approx(0.0101, rel=1e-12)
    assert got["trades"] == 1 and got["win_rate"] == 1.0 and got["exposure"] == 1.0
    assert got["turnover"] == pytest.approx(252.0 / 3)
    # X = R - 0.0003 = -0.0104, 0.0196, -0.0004: mean 0.0088 / 3; downside sqrt((0.0104^2 + 0.0004^2) / 3).
    assert got["sortino"] == pytest.approx(0.0088 / 3 / math.sqrt((0.0104**2 + 0.0004**2) / 3) * ROOT, rel=1e-10)
    # B = r: R = -r - 0.0001 exactly, so beta = -1.
    assert got["beta"] == pytest.approx(-1.0, rel=1e-12)


def test_reversal_with_borrow_and_rf_by_hand():
    # p = 1, -1, 0; r = +10%, +20%, -10%; c = 0.001; borrow 2520 bps a year -> b = 0.001 a bar; rf = 0.0005 a bar.
    # R_1 = 0.1 - 0.001 = 0.099; R_2 = -0.2 - 0.002 - 0.001 = -0.203; R_3 = -0.001 + 0.0005 = -0.0005.
    # Long trade: 1.099 * (1 - 0.001) - 1 = 0.097901 (win); short trade: (1 - 0.203 + 0.001) * 0.9995 - 1
    # = 0.798 * 0.9995 - 1 = -0.202399 (loss).
    p = np.array([1.0, -1.0, 0.0])
    r = np.array([0.1, 0.2, -0.1])
    rf = np.full(3, 0.0005)
    net = mt.net_returns(p, r, 10.0, borrow_bps=2520.0, rf=rf)
    np.testing.assert_allclose(net, [0.099, -0.203, -0.0005], rtol=1e-12)
    got = mt.period_stats(p, net, mt.net_returns(np.ones(3), r, 10.0), rf=rf, cost_bps=10.0)
    assert got["trades"] == 2 and got["win_rate"] == 0.5 and got["exposure"] == pytest.approx(2 / 3)
    assert got["turnover"] == pytest.approx((1 + 2 + 1) * 252 / 3)
    close = np.array([100.0, 110.0, 132.0, 118.8])
    dates = np.arange("2024-01-01", "2024-01-05", dtype="datetime64[D]")
    trades = mt.trade_list(bt.positions([1, -1, 0, 0]), net, dates, None, close, 1, 4, cost_bps=10.0)
    assert [t["return"] for t in trades] == pytest.approx([0.097901, 0.798 * 0.9995 - 1.0], rel=1e-12)
    assert [t["direction"] for t in trades] == ["long", "short"]


def test_tiny_and_constant_periods():
    one = mt.period_stats([1.0], [0.01], [0.01])
    assert one["sharpe"] == one["sortino"] == one["information_ratio"] == one["beta"] == 0.0
    assert one["bars"] == 1 and one["trades"] == 1 and one["total_return"] == pytest.approx(0.01)
    steady = np.full(30, 0.001)
    got = mt.period_stats(np.ones(30), steady, steady * 2)
    assert got["sharpe"] == 0.0 and got["information_ratio"] == 0.0 and got["beta"] == 0.0 and got["sortino"] == 0.0
    wiped = mt.period_stats([-1.0, -1.0], [-1.0, 0.5], [1.0, 0.0])  # equity 0: cagr -1, drawdown 100%
    assert wiped["cagr"] == -1.0 and wiped["max_drawdown"] == 1.0 and wiped["trades"] == 1


def test_invalid_inputs_raise():
    with pytest.raises(ValueError, match="-1, 0 or 1"):
        mt.net_returns([0.5], [0.1], 10.0)
    with pytest.raises(ValueError, match="bars"):
        mt.net_returns([1.0, 1.0], [0.1], 10.0)
    with pytest.raises(ValueError, match="rf"):
        mt.net_returns([1.0, 1.0], [0.1, 0.2], 10.0, rf=[0.0])
    with pytest.raises(ValueError, match="borrow_bps"):
        mt.net_returns([1.0], [0.1], 10.0, borrow_bps=-1.0)
    with pytest.raises(ValueError, match="no bars"):
        mt.period_stats([], [], [])
    with pytest.raises(ValueError, match="NaN"):
        mt.period_stats([1.0, 1.0], [0.1, math.nan], [0.1, 0.1])
    with pytest.raises(ValueError, match="benchmark"):
        mt.period_stats([1.0, 1.0], [0.1, 0.1], [0.1])
    with pytest.raises(ValueError, match="periods_per_year"):
        mt.period_stats([1.0], [0.1], [0.1], periods_per_year=0)


# ----------------------------------------------------------------------------------------------------------
# Trade list
# ----------------------------------------------------------------------------------------------------------

DATES = np.arange("2024-03-01", "2024-03-09", dtype="datetime64[D]")  # 2024-03-01 .. 2024-03-08
OPEN = np.array([99.0, 101.0, 108.0, 120.0, 112.0, 100.0, 103.0, 111.0])
CLOSE = np.array([100.0, 110.0, 121.0, 115.0, 104.0, 102.0, 105.0, 112.0])
SIGNAL = np.array([1, 1, -1, -1, 0, 1, 1, 1])  # p = 0, 1, 1, -1, -1, 0, 1, 1


def test_trade_list_fill_close_by_hand():
    # Period bars 1..7: long [1, 3), short [3, 5) (a reversal at bar 3), flat on bar 5, long [6, 8) open at the end.
    p_full = bt.positions(SIGNAL)
    r = bt.bar_returns(None, CLOSE, "close")
    net = mt.net_returns(p_full[1:8], r[1:8], 0.0)
    trades = mt.trade_list(p_full, net, DATES, None, CLOSE, 1, 8)
    assert [{k: v for k, v in t.items() if k != "return"} for t in trades] == [
        {
            "direction": "long",
            "entry_date": "2024-03-01",
            "exit_date": "2024-03-03",
            "entry_price": 100.0,
            "exit_price": 121.0,
            "bars": 2,
            "open": False,
        },
        {
            "direction": "short",
            "entry_date": "2024-03-03",
            "exit_date": "2024-03-05",
            "entry_price": 121.0,
            "exit_price": 104.0,
            "bars": 2,
            "open": False,
        },
        {
            "direction": "long",
            "entry_date": "2024-03-06",
            "exit_date": "2024-03-08",
            "entry_price": 102.0,
            "exit_price": 112.0,
            "bars": 2,
            "open": True,
        },
    ]
    # Without costs a trade's return is its price move: 121 / 100 - 1, 1 - (115/121 - 1) - ..., 112 / 102 - 1.
    assert trades[0]["return"] == pytest.approx(0.21, rel=1e-12)
    assert trades[1]["return"] == pytest.approx((2 - 115 / 121) * (2 - 104 / 115) - 1, rel=1e-12)
    assert trades[2]["return"] == pytest.approx(112 / 102 - 1, rel=1e-12)
    # A length-N net array gives the same list; so does the full-series p with other values before the period.
    full_net = np.full(8, np.nan)
    full_net[1:8] = net
    assert mt.trade_list(p_full, full_net, DATES.astype(str), None, CLOSE, 1, 8) == trades
    # A period starting inside the first long run (bar 2): the trade enters at close[1] on its first bar.
    late = mt.trade_list(p_full, mt.net_returns(p_full[2:8], r[2:8], 0.0), DATES, None, CLOSE, 2, 8)
    assert (late[0]["entry_date"], late[0]["entry_price"], late[0]["bars"]) == ("2024-03-02", 110.0, 1)


def test_trade_list_fill_next_open_by_hand():
    # next_open: p_t earns open[t+1] / open[t] - 1; the last bar (7) has no return, so the period is bars 0..6.
    # Trades: long [1, 3) at open[1] -> open[3]; short [3, 5) at open[3] -> open[5]; long [6, 7), open at the
    # period's end and marked at open[7] (where the return of bar 6 ends), on 2024-03-08.
    p_full = bt.positions(SIGNAL)
    r = bt.bar_returns(OPEN, CLOSE, "next_open")
    net = mt.net_returns(p_full[0:7], r[0:7], 10.0)
    trades = mt.trade_list(p_full, net, DATES, OPEN, None, 0, 7, "next_open", cost_bps=10.0)
    brief = [(t["direction"], t["entry_date"], t["exit_date"], t["entry_price"], t["exit_price"], t["bars"], t["open"])
             for t in trades]  # fmt: skip
    assert brief == [
        ("long", "2024-03-02", "2024-03-04", 101.0, 120.0, 2, False),
        ("short", "2024-03-04", "2024-03-06", 120.0, 100.0, 2, False),
        ("long", "2024-03-07", "2024-03-08", 103.0, 111.0, 1, True),
    ]
    c = 0.001
    assert trades[0]["return"] == pytest.approx((1 + 108 / 101 - 1 - c) * (120 / 108) * (1 - c) - 1, rel=1e-12)
    assert trades[1]["return"] == pytest.approx((1 - (112 / 120 - 1) - c) * (1 - (100 / 112 - 1)) * (1 - c) - 1)
    assert trades[2]["return"] == pytest.approx(111 / 103 - c - 1, rel=1e-12)
    stats = mt.period_stats(p_full[0:7], net, mt.net_returns(np.ones(7), r[0:7], 10.0), cost_bps=10.0)
    assert stats["trades"] == 3 and stats["win_rate"] == pytest.approx(sum(t["return"] > 1e-9 for t in trades) / 3)


def test_trade_list_matches_reference_on_random_cases():
    for seed in range(60):
        rng = np.random.default_rng(2000 + seed)
        n = int(rng.integers(3, 200))
        close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.02, n)))
        open_ = close * np.exp(rng.normal(0.0, 0.007, n))
        dates = np.datetime64("2020-01-01") + np.sort(rng.choice(3 * n, n, replace=False)).astype("timedelta64[D]")
        fill = mt.TRADE_FILLS[seed % 2]
        p_full = bt.positions(random_positions(rng, n, long_short=seed % 3 != 0))
        lo, hi = (1, n) if fill == "close" else (0, n - 1)
        start = int(rng.integers(lo, hi))
        stop = int(rng.integers(start + 1, hi + 1))
        r = bt.bar_returns(open_, close, fill)[start:stop]
        cost = float(rng.choice([0.0, 10.0]))
        rf = rng.uniform(0.0, 0.0004, stop - start) if seed % 4 == 0 else None
        net = mt.net_returns(p_full[start:stop], r, cost, borrow_bps=100.0, rf=rf)
        got = mt.trade_list(p_full, net, dates, open_, close, start, stop, fill, cost_bps=cost)
        want = ref_trade_list(p_full, net, dates, open_, close, start, stop, fill, cost)
        assert len(got) == len(want), seed
        for g, w in zip(got, want):
            assert {k: v for k, v in g.items() if k != "return"} == {k: v for k, v in w.items() if k != "return"}
            assert math.isclose(g["return"], w["return"], rel_tol=1e-9, abs_tol=1e-12), seed
            assert type(g["return"]) is float and type(g["bars"]) is int and type(g["open"]) is bool
        stats = mt.period_stats(p_full[start:stop], net, net, cost_bps=cost)
        assert stats["trades"] == len(got)
        assert stats["win_rate"] == (sum(t["return"] > bt.WIN_MIN for t in got) / len(got) if got else 0.0)


def test_trade_list_rejects_bad_periods():
    p_full = bt.positions(SIGNAL)
    net = np.zeros(7)
    with pytest.raises(ValueError, match="start >= 1"):
        mt.trade_list(p_full, net, DATES, None, CLOSE, 0, 7)
    with pytest.raises(ValueError, match="stop <= N - 1"):
        mt.trade_list(p_full, net, DATES, OPEN, None, 1, 8, "next_open")
    with pytest.raises(ValueError, match="empty or outside"):
        mt.trade_list(p_full, net, DATES, None, CLOSE, 3, 3)
    with pytest.raises(ValueError, match="expected 8 or 6"):
        mt.trade_list(p_full, net, DATES, None, CLOSE, 2, 8)
    with pytest.raises(ValueError, match="unknown fill"):
        mt.trade_list(p_full, net, DATES, None, CLOSE, 1, 8, "open")
