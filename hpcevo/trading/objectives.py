"""The menu of trading objectives and the fold statistics the fitness is computed from.

Every objective is a metric of a validation fold (see `metrics.py` for the definitions), averaged over every
(instrument, fold) pair the instrument takes part in; `size` is the tree's node count. The default pair,
Sharpe and information ratio against buy-and-hold, cannot be raised by trading less: a rule that is flat most of
the time has a Sharpe near 0 (flat bars count, earning the risk-free rate) and an information ratio near minus the
market's, and lucky rules with few trades are cut by the exposure constraint (`min_exposure`).
"""

import math

import numpy as np

from . import kernels
from .backtest import _ADD_AT, _evaluate, _take, _take_positions, _take_returns, fold_ratios
from .metrics import period_stats

__all__ = ["OBJECTIVES", "PRESETS", "DEFAULT_OBJECTIVES", "parse_objectives", "fold_stats", "fold_stats_many"]

# name -> (DEAP weight, label): +1 maximised, -1 minimised
OBJECTIVES = {
    "sharpe": (1.0, "Sharpe ratio"),
    "sortino": (1.0, "Sortino ratio"),
    "calmar": (1.0, "Calmar ratio"),
    "cagr": (1.0, "CAGR"),
    "excess_return": (1.0, "excess CAGR over buy-and-hold"),
    "information_ratio": (1.0, "information ratio against buy-and-hold"),
    "max_drawdown": (-1.0, "max drawdown"),
    "win_rate": (1.0, "win rate"),
    "exposure": (1.0, "exposure"),
    "turnover": (-1.0, "turnover (position changes a year)"),
    "size": (-1.0, "tree size"),
}
PRESETS = {"default": ("sharpe", "information_ratio"), "classic": ("sharpe", "max_drawdown", "win_rate")}
DEFAULT_OBJECTIVES = "default"
_FAST = {"sharpe", "sortino", "cagr", "excess_return", "information_ratio", "exposure", "turnover", "size"}


def parse_objectives(spec):
    """A tuple of objective names from a preset name or a comma-separated list; ValueError naming the menu."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"objectives must be a preset ({', '.join(PRESETS)}) or a comma-separated list of "
                         f"{', '.join(OBJECTIVES)}; got {spec!r}")
    spec = spec.strip()
    if spec in PRESETS:
        return PRESETS[spec]
    names = tuple(part.strip() for part in spec.split(","))
    for name in names:
        if name not in OBJECTIVES:
            presets = "; ".join(f"{k} = {','.join(v)}" for k, v in PRESETS.items())
            raise ValueError(f"objectives: unknown objective {name!r}; choose from {', '.join(OBJECTIVES)} or a preset "
                             f"({presets})")
    if len(set(names)) != len(names):
        raise ValueError(f"objectives: {spec!r} names an objective twice")
    return names


def fold_stats(signal, returns, lay, rf, c, borrow, periods_per_year, names):
    """({name: per-fold values (an array, or a list)} for `names`, "exposure" and "trades"; bars in total; bars in
    the market in total).

    Sharpe, information ratio, exposure and turnover without risk-free or borrow terms (the default objectives)
    go through one compiled pass (`kernels.fold_metrics`, when numba is installed; the same floats). Otherwise
    sums-only objectives go through segmented reductions over all folds at once; Sharpe, drawdown, Calmar and win
    rate through the backtest kernel (`backtest._evaluate`), or, with risk-free or borrow terms in the returns,
    fold by fold through `metrics.period_stats`; all agree with the per-bar references (tests).
    """
    p, r = _take(signal, returns, lay)
    if _compiled(rf, borrow, names):
        rows, status = kernels.fold_metrics(p, r, lay.firsts, c, math.sqrt(periods_per_year))
        if status == kernels.OK:  # else (cancelling sums, NaN or inf) the NumPy code below decides
            return _from_rows(rows, lay, periods_per_year, names)
    return _numpy_stats(p, r, lay, rf, c, borrow, periods_per_year, names)


def fold_stats_many(signals, returns, lay, rf, c, borrow, periods_per_year, names):
    """fold_stats for each signal of `signals` (one market), with the compiled pass run once for all of them;
    one entry per signal: fold_stats' result, or the ValueError it raises."""
    if not signals:
        return []
    taken = [_take_positions(s, lay) for s in signals]
    r = _take_returns(returns, lay)  # once for all of them
    done = [None] * len(signals)
    if _compiled(rf, borrow, names):
        rows, status = kernels.fold_metrics_many(np.stack(taken), r, lay.firsts, c, math.sqrt(periods_per_year))
        for i in np.flatnonzero(status == kernels.OK).tolist():
            done[i] = _from_rows(rows[i], lay, periods_per_year, names)
    for i, result in enumerate(done):
        if result is None:
            try:
                done[i] = _numpy_stats(taken[i], r, lay, rf, c, borrow, periods_per_year, names)
            except ValueError as exc:
                done[i] = exc
    return done


def _compiled(rf, borrow, names):
    """Whether the compiled pass computes these objectives (no risk-free or borrow terms)."""
    return kernels.AVAILABLE and rf is None and not borrow and kernels.FOLD_NAMES.issuperset(names)


def _from_rows(rows, lay, periods_per_year, names):
    """fold_stats' result from the compiled pass's rows, as lists of Python floats (the same values NumPy's
    element-wise division and product give; a few folds cost less as lists than as arrays)."""
    sharpe, info, held, trades, steps = rows.tolist()
    n = lay.float_list
    out = {"exposure": [h / m for h, m in zip(held, n)], "trades": trades}
    if "sharpe" in names:
        out["sharpe"] = sharpe
    if "information_ratio" in names:
        out["information_ratio"] = info
    if "turnover" in names:
        out["turnover"] = [s * periods_per_year / m for s, m in zip(steps, n)]
    return out, lay.bars, sum(held)  # whole numbers: exact in any order


def _numpy_stats(p, r, lay, rf, c, borrow, periods_per_year, names):
    """fold_stats by NumPy from the positions p and returns r of the folds laid end to end."""
    firsts = lay.firsts
    n = lay.float_lengths
    before = np.empty_like(p)
    before[0] = 0.0
    before[1:] = p[:-1]
    before[firsts] = 0.0
    step = np.abs(p - before)
    net = p * r
    if c:
        net -= c * step
    if borrow:
        net -= borrow * np.maximum(-p, 0.0)
    rf_bar = None
    if rf is not None:
        rf_bar = rf[lay.ridx] if lay.ridx is not None else rf[lay.lo:lay.hi]
        net += rf_bar * (1.0 - np.abs(p))
    if np.isnan(net).any():
        raise ValueError("NaN return or signal in a validation fold")
    out = {}
    excess = net - rf_bar if rf_bar is not None else net
    root = math.sqrt(periods_per_year)
    wanted = set(names)
    kernel = None
    if wanted - _FAST and rf_bar is None and not borrow:  # the backtest kernel: Sharpe, drawdown, win rate at once
        kernel = _evaluate(p, r, lay, c, periods_per_year, full=False)
        if "sharpe" in wanted:
            out["sharpe"] = kernel[:, 0]
    if wanted & {"sharpe", "sortino"} - set(out):
        s1 = _ADD_AT(excess, firsts)
        if "sharpe" in wanted and "sharpe" not in out:
            out["sharpe"] = _ratio(excess, lay, s1, root)
        if "sortino" in wanted:
            down = np.minimum(excess, 0.0)
            d2 = _ADD_AT(down * down, firsts) / n
            with np.errstate(divide="ignore", invalid="ignore"):
                out["sortino"] = np.where(d2 > 0.0, (s1 / n) / np.sqrt(d2) * root, 0.0)
    if wanted & {"information_ratio", "excess_return", "cagr"}:
        bench = r.copy()
        bench[firsts] -= c
        if "information_ratio" in wanted:
            diff = net - bench
            out["information_ratio"] = _ratio(diff, lay, _ADD_AT(diff, firsts), root)
        if wanted & {"excess_return", "cagr"}:
            cagr = _cagr(net, firsts, n, periods_per_year)
            out["cagr"] = cagr
            out["excess_return"] = cagr - _cagr(bench, firsts, n, periods_per_year)
    in_market = p != 0.0
    exposure = _ADD_AT(in_market.astype(np.float64), firsts)
    out["exposure"] = exposure / n
    out["trades"] = _ADD_AT((in_market & (step != 0.0)).astype(np.float64), firsts)  # runs of one position
    if "turnover" in wanted:
        out["turnover"] = _ADD_AT(step, firsts) * periods_per_year / n
    slow = wanted - _FAST
    if kernel is not None:
        drawdown, win_rate = kernel[:, 1], kernel[:, 2]
        if "max_drawdown" in slow:
            out["max_drawdown"] = drawdown
        if "win_rate" in slow:
            out["win_rate"] = win_rate
        if "calmar" in slow:
            cagr = out["cagr"] if "cagr" in out else _cagr(net, firsts, n, periods_per_year)
            with np.errstate(divide="ignore", invalid="ignore"):
                out["calmar"] = np.where(drawdown > 0.0, cagr / drawdown, 0.0)
        slow = set()
    if slow:  # risk-free or borrow terms in the returns: fold by fold through the metrics module
        rows = []
        for sl in lay.slices:
            pp, nn = p[sl], net[sl]
            bh = r[sl].copy()
            bh[0] -= c
            rows.append(period_stats(pp, nn, bh, periods_per_year, rf_bar[sl] if rf_bar is not None else None,
                                     cost_bps=c * 10_000.0))
        for key in slow:
            out[key] = np.array([row[key] for row in rows], dtype=np.float64)
    return out, lay.bars, float(exposure.sum())


def _ratio(x, lay, s1, root):
    """Annualised mean / std (ddof 1) per fold (`backtest.fold_ratios`), as an array."""
    return np.array(fold_ratios(x, lay, s1.tolist(), _ADD_AT(x * x, lay.firsts).tolist(), root))


def _cagr(net, firsts, n, periods_per_year):
    growth = net + 1.0
    if (growth <= 0.0).any():  # a bar that wipes the equity out: multiply, no logarithms
        final = np.multiply.reduceat(growth, firsts)
    else:
        final = np.exp(_ADD_AT(np.log(growth), firsts))
    with np.errstate(over="ignore"):
        return np.where(final > 0.0, np.power(np.maximum(final, 1e-300), periods_per_year / n) - 1.0, -1.0)
