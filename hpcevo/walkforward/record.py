"""The walk-forward record: each window's picks traded on its test period, stitched into one out-of-sample
series, and the trust statistics of the trading report applied to it.

Written on rank 0 from the window folders' files and the data only, so the same in every launch mode:
walkforward.csv (one row per window), walkforward_returns.csv (the stitched daily returns) and summary.json.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ..output import atomic_write, csv_text
from ..rng import statistics_seed
from .driver import window_config
from .files import BH_METRICS, COLUMNS, RETURN_COLUMNS, SEPARATOR, TEST_METRICS

__all__ = ["write_walkforward", "COLUMNS", "RETURN_COLUMNS", "read_picks"]

BOOTSTRAP_REPS = 1000

def read_picks(folder, top):
    """The expressions of S1..S{top} of a window's strategies.csv (its selection ranking), best first."""
    import csv

    with open(Path(folder) / "strategies.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    picks = {}
    for row in rows:
        if row["id"] != "BH" and int(row["selection_rank"]) <= top:
            picks.setdefault(int(row["selection_rank"]), row["expression"])
    return [picks[k] for k in sorted(picks)]


def _test_period(config, settings, window, folder):
    """(dates, positions, net, buy-and-hold, rf, expressions, period dates, ctx) of one window's test period."""
    from ..trading.language import parse
    from ..trading.problem import trading
    from ..trading.reporting import Candidate, strategy_series

    options = window_config(config, settings, window)["problem_options"]
    ctx = trading(**options).context
    expressions = read_picks(folder, settings.top)
    cands = [Candidate(e, tree, ctx.signals(tree), ()) for e, tree in ((e, parse(e)) for e in expressions)]
    series = strategy_series(ctx, cands)[-1]
    hold = series.mask("holdout")
    bh = series.bh[hold]
    rf = series.rf[hold] if series.rf is not None else np.zeros(bh.shape[0])
    if cands:
        p = np.mean([series.p[i][hold] for i in range(len(cands))], axis=0)
        net = np.mean([series.nets[i][hold] for i in range(len(cands))], axis=0)
        if series.data is None:  # portfolio: trade figures count the days the average position changes sign
            p = np.sign(p)
    else:  # every candidate was rejected: the window stays flat and earns the risk-free rate
        p, net = np.zeros(bh.shape[0]), rf.copy()
    return series.dates[hold], p, net, bh, rf, expressions, ctx.calendar.dates(ctx.markets), ctx


def write_walkforward(wf_dir, config, settings, windows, run_info):
    """Write the walk-forward's files; returns the lines to print (the verdict)."""
    from ..trading.metrics import period_stats
    from ..trading.overfitting import sharpe_confidence_interval, spa_pvalue

    wf_dir = Path(wf_dir)
    rows, parts = [], []
    ctx = None
    for window in windows:
        dates, p, net, bh, rf, expressions, spans, ctx = _test_period(config, settings, window,
                                                                      wf_dir / window.name)
        ppy, cost = ctx.periods_per_year, ctx.cost_bps
        test = period_stats(p, net, bh, ppy, rf, cost_bps=cost)
        hold = period_stats(np.ones(bh.shape[0]), bh, bh, ppy, rf, cost_bps=cost)
        row = {"window": window.index, "train_start": spans["train_start"], "train_end": spans["train_end"],
               "selection_start": spans["selection_start"], "selection_end": spans["selection_end"],
               "test_start": str(dates[0]), "test_end": str(dates[-1]), "expressions": SEPARATOR.join(expressions)}
        row.update({f"test_{k}": test[k] for k in TEST_METRICS})
        row.update({f"bh_{k}": hold[k] for k in BH_METRICS})
        rows.append(row)
        parts.append((window.index, dates, p, net, bh, rf))
    dates = np.concatenate([d for _, d, *_ in parts])
    p, net, bh, rf = (np.concatenate([part[k] for part in parts]) for k in (2, 3, 4, 5))
    index = np.concatenate([np.full(d.shape[0], i) for i, d, *_ in parts])
    ppy, seed = ctx.periods_per_year, config.seed
    record = period_stats(p, net, bh, ppy, rf, cost_bps=ctx.cost_bps)
    bh_record = period_stats(np.ones(bh.shape[0]), bh, bh, ppy, rf, cost_bps=ctx.cost_bps)
    x, xb = net - rf, bh - rf
    low, high = sharpe_confidence_interval(x, ppy, reps=BOOTSTRAP_REPS, seed=statistics_seed(seed, 4))
    diff_low, diff_high = sharpe_confidence_interval(x, ppy, benchmark=xb, reps=BOOTSTRAP_REPS,
                                                     seed=statistics_seed(seed, 5))
    spa = spa_pvalue(bh, net[:, None], reps=BOOTSTRAP_REPS, seed=statistics_seed(seed, 6)) if net.shape[0] > 10 \
        else None
    significant = diff_low > 0.0 and spa is not None and spa < 0.05
    result = {"windows": len(windows), "oos_sharpe": record["sharpe"], "buy_and_hold_sharpe": bh_record["sharpe"],
              "sharpe_diff_ci_low": diff_low, "sharpe_diff_ci_high": diff_high, "spa_pvalue": spa,
              "verdict": "", "significant": significant, "oos_sharpe_ci_low": low, "oos_sharpe_ci_high": high,
              "oos_start": str(dates[0]), "oos_end": str(dates[-1]), "bars": int(dates.shape[0]),
              "oos_total_return": record["total_return"], "buy_and_hold_total_return": bh_record["total_return"],
              "oos_max_drawdown": record["max_drawdown"], "buy_and_hold_max_drawdown": bh_record["max_drawdown"],
              "train_years": settings.train_years, "test_years": settings.test_years, "top": settings.top,
              "markets": [m.name for m in ctx.markets]}
    result["verdict"] = verdict(result)
    atomic_write(wf_dir / "walkforward.csv", csv_text(rows, COLUMNS))
    returns = [{"date": str(d), "window": int(i), "WF": float(a), "BH": float(b), "RF": float(c)}
               for d, i, a, b, c in zip(dates, index, net, bh, rf)]
    atomic_write(wf_dir / "walkforward_returns.csv", csv_text(returns, RETURN_COLUMNS))
    summary = {"command": "walkforward", "problem": config.problem, "seed": config.seed, "status": "complete",
               "walkforward": result,
               "windows": [{"window": w.index, "folder": w.name, "seed": window_config(config, settings, w)["seed"],
                            "train_start": str(w.train_start), "test_start": str(w.test_start),
                            "test_end": str(w.test_end)} for w in windows],
               **run_info}
    atomic_write(wf_dir / "summary.json", json.dumps(summary, indent=1) + "\n")
    return [f"walk-forward verdict: {result['verdict']}", f"hpcevo: walk-forward results in {wf_dir}"]


def verdict(r):
    """One sentence: does the procedure (search, select, trade the next period) beat buy-and-hold?"""
    def num(v):
        return "n/a" if v is None or not math.isfinite(v) else f"{v:.2f}"

    spa = "n/a" if r["spa_pvalue"] is None else f"{r['spa_pvalue']:.3f}"
    record = (f"the stitched test periods of {r['windows']} windows ({r['oos_start']} to {r['oos_end']}) have Sharpe "
              f"{num(r['oos_sharpe'])} against buy-and-hold's {num(r['buy_and_hold_sharpe'])}; the 95% interval of "
              f"the difference is [{num(r['sharpe_diff_ci_low'])}, {num(r['sharpe_diff_ci_high'])}], SPA p = {spa}")
    if r["significant"]:
        return f"evidence that the procedure has skill: {record}"
    return f"no evidence that the procedure beats buy-and-hold: {record}"
