"""When a trading run ends: choose the reported strategies on the selection period, test them once on the
holdout, say how much of the result chance explains, and write strategies.csv, returns.csv and trades.csv.

Candidates are the distinct signals of the merged hall of fame and of the final populations, each shown by its
smallest tree. They are ranked by the Sharpe ratio of the selection period; the top `report_top` are reported.
Every figure comes from the run's data and seed only, so it is the same in every launch mode.
"""

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..output import atomic_write, csv_text
from ..rng import statistics_seed
from .backtest import positions
from .language import to_expression
from .metrics import METRICS, net_returns, period_stats, trade_list
from .overfitting import (
    deflated_sharpe_ratio,
    effective_trials,
    expected_max_sharpe,
    min_track_record_length,
    pbo_cscv,
    probabilistic_sharpe_ratio,
    sharpe_confidence_interval,
    sharpe_ratios,
    sharpe_stats,
    spa_pvalue,
    stationary_block_length,
)

__all__ = ["write_report", "DSR_THRESHOLD", "COLUMNS", "PERIODS", "Candidate", "candidates", "strategy_series",
           "strategy_returns", "read_returns"]

DSR_THRESHOLD = 0.95  # a strategy is flagged significant at this deflated Sharpe ratio
PBO_CANDIDATES = 200  # at most this many candidates enter the PBO matrix (best in-sample first)
BOOTSTRAP_REPS = 1000
CLUSTER_CORRELATION = 0.7  # strategies whose training returns correlate above this count as one trial
PERIODS = ("train", "selection", "holdout")
_PREFIX = {"train": "is", "selection": "sel", "holdout": "oos"}
COLUMNS = (["id", "expression", "market", "size", "selection_rank", "significant", "is_start", "is_end",
            "sel_start", "sel_end", "oos_start", "oos_end"]
           + [f"{p}_{k}" for p in ("is", "sel", "oos") for k in METRICS]
           + ["psr", "dsr", "min_trl", "oos_sharpe_ci_low", "oos_sharpe_ci_high", "oos_excess_sharpe_ci_low",
              "oos_excess_sharpe_ci_high"])
TRADE_COLUMNS = ["id", "expression", "market", "direction", "entry_date", "exit_date", "entry_price", "exit_price",
                 "bars", "return", "open", "period"]


@dataclass
class Candidate:
    expression: str
    tree: object
    signals: list
    fitness: tuple


def candidates(ctx, hall_of_fame, populations=()):
    """Distinct signals (before the holdout) of the hall of fame, then of the final populations (scored ones),
    each by its smallest tree (ties: the first expression in sort order), in that order of first appearance."""
    from .problem import signal_key

    found = {}
    # behaviour before the holdout: which trees count as one candidate, and so which tree shows it, must not
    # depend on the holdout's prices
    seen = [int(np.searchsorted(m.dates, ctx.calendar.holdout_start)) for m in ctx.markets]
    for ind in [*hall_of_fame, *(ind for pop in populations for ind in pop)]:
        if getattr(ind, "_hpcevo_penalized", False) or not ind.fitness.valid:
            continue
        signals = ctx.signals(ind)
        key = signal_key([s[:stop] for s, stop in zip(signals, seen)], ctx.long_short)
        expression = to_expression(ind)
        have = found.get(key)
        if have is None or (len(ind), expression) < (len(have.tree), have.expression):
            found[key] = Candidate(expression, ind, signals, tuple(ind.fitness.values))
    return list(found.values())


class _Series:
    """One instrument's (or the portfolio's) continuous daily net returns from the training start to the end."""

    def __init__(self, name, dates, period, bh, rf, p=None, nets=None, data=None):
        self.name, self.dates, self.period, self.bh, self.rf = name, dates, period, bh, rf
        self.p, self.nets = p, nets  # candidates x bars: positions, net returns (row i: candidate i)
        self.data = data  # (market, lo, hi) for instruments; None for the portfolio

    def mask(self, period):
        return self.period == period


def _market_series(ctx, m, cands, only=None):
    periods = ctx.calendar.markets[m]
    ranges = [*periods.training, periods.selection, periods.holdout]
    ranges = [r for r in ranges if r is not None]
    if not ranges:
        return None
    market = ctx.markets[m]
    lo, hi = min(a for a, _ in ranges), max(b for _, b in ranges)
    dates = market.dates[lo:hi]
    period = np.where(dates < ctx.calendar.selection_start, "train",
                      np.where(dates < ctx.calendar.holdout_start, "selection", "holdout"))
    r = ctx.returns[m][lo:hi]
    rf = ctx.rf[m][lo:hi] if ctx.rf[m] is not None else None
    # each period is traded as if deployed at its start: flat before it (an entry cost on its first bar if the
    # rule is in the market), the convention of the validation folds and of `hpcevo backtest --start`
    cuts = [0, *np.flatnonzero(period[1:] != period[:-1]) + 1, hi - lo]

    def net(p, only=None):  # p: one row of positions, or one per candidate (the same floats as row by row)
        return np.concatenate([net_returns(p[..., a:b], r[a:b], ctx.cost_bps, borrow_bps=ctx.borrow_bps,
                                           rf=None if rf is None else rf[a:b], periods_per_year=ctx.periods_per_year)
                               if only is None or period[a] in only else np.zeros(p.shape[:-1] + (b - a,))
                               for a, b in zip(cuts[:-1], cuts[1:])], axis=-1)

    series = _Series(market.name, dates, period, net(np.ones(hi - lo)), rf, data=(market, lo, hi))
    series.cuts = cuts
    series.p = np.zeros((len(cands), hi - lo))  # a row per candidate
    for i, cand in enumerate(cands):
        # a signal may stop early (the search's view, TradingContext.search_signals): flat after it, which only
        # statistics of the periods it covers may use (`only`)
        if cand.signals[m] is not None:  # None: a market the search did not compute (no training fold)
            p = positions(cand.signals[m])[lo:hi]
            series.p[i, :p.shape[0]] = p
    series.nets = net(series.p, only)
    return series


def _portfolio(parts):
    """Equal weight, each day, over the instruments that have a bar that day."""
    dates = np.unique(np.concatenate([s.dates for s in parts]))
    index = [np.searchsorted(dates, s.dates) for s in parts]

    def combine(get):  # get(s): one array, or one row per candidate (combined element by element)
        total, count = np.zeros(get(parts[0]).shape[:-1] + dates.shape), np.zeros(dates.shape[0])
        for s, at in zip(parts, index):
            total[..., at] += get(s)
            count[at] += 1
        return total / count

    period = np.empty(dates.shape[0], dtype=parts[0].period.dtype)
    for s, at in zip(parts, index):
        period[at] = s.period
    rf = combine(lambda s: s.rf) if all(s.rf is not None for s in parts) else None
    return _Series("portfolio", dates, period, combine(lambda s: s.bh), rf, p=combine(lambda s: s.p),
                   nets=combine(lambda s: s.nets))


def strategy_series(ctx, cands, only=None):
    """[per-instrument series..., portfolio series (several instruments only)]; the last one is the main one.

    only: the periods (PERIODS names) whose net returns the candidates need; 0 on the other periods' bars (each
    period is traded on its own, so the kept periods' figures are the same floats)."""
    parts = [s for s in (_market_series(ctx, m, cands, only) for m in range(len(ctx.markets))) if s is not None]
    if len(parts) > 1:
        parts.append(_portfolio(parts))
    return parts


def _excess(net, rf):
    return net - rf if rf is not None else net


def _excess_in(series, net, mask):
    """The excess returns over the risk-free rate of `net` (one of the series' return arrays, or its rows of
    them) on the bars of `mask`."""
    return _excess(net[..., mask], series.rf[mask] if series.rf is not None else None)


def _stats(series, i, period, ctx):
    """METRICS of candidate i (None: buy and hold) over one period of a series; NaN-filled when it has no bars."""
    mask = series.mask(period)
    if mask.sum() < 2:
        return {k: math.nan for k in METRICS} | {"bars": int(mask.sum()), "trades": 0}
    bh = series.bh[mask]
    rf = series.rf[mask] if series.rf is not None else None
    if i is None:
        p, net = np.ones(int(mask.sum())), bh
    else:
        p, net = series.p[i][mask], series.nets[i][mask]
    if series.data is None:  # portfolio: positions are averages; trade figures come from the instruments
        p = np.sign(p)
    return period_stats(p, net, bh, ctx.periods_per_year, rf, cost_bps=ctx.cost_bps)


def _span(series, period):
    dates = series.dates[series.mask(period)]
    return (str(dates[0]), str(dates[-1])) if dates.shape[0] else ("", "")


def write_report(run_dir, hall_of_fame, ctx, populations=(), trials=None, seed=0):
    """Rank 0, after the run: the report files; returns the summary.json entries and the verdict line."""
    cands = candidates(ctx, hall_of_fame, populations)
    if not cands:
        verdict = "no strategy to report: every candidate was rejected or failed"
        for name, columns in (("strategies.csv", COLUMNS), ("trades.csv", TRADE_COLUMNS)):
            atomic_write(Path(run_dir) / name, csv_text([], columns))
        return _summary(ctx, {"trials": len(trials or {}), "effective_trials": 0, "pbo": None, "spa_pvalue": None,
                              "verdict": verdict, "best_dsr": None, "significant": 0,
                              "dsr_threshold": DSR_THRESHOLD, "candidates": 0})
    all_series = strategy_series(ctx, cands)
    main = all_series[-1]
    train, sel = main.mask("train"), main.mask("selection")

    is_returns = [_excess_in(main, net, train) for net in main.nets]
    is_sr = sharpe_ratios(np.stack(is_returns)).tolist()
    sel_sr = sharpe_ratios(np.stack([_excess_in(main, net, sel) for net in main.nets])).tolist() if sel.sum() > 1 \
        else is_sr
    order = sorted(range(len(cands)), key=lambda i: (-sel_sr[i], -is_sr[i], cands[i].expression))
    reported = order[:ctx.report_top]

    # trials: the distinct signals the whole run scored; effective: clusters of correlated ones, counted in a
    # sample of them drawn over the whole run (not the final candidates, which evolution makes near-copies)
    n_trials = max(len(trials or {}), len(cands))
    clusters, n_eff, sampled = _effective(ctx, train, trials, n_trials)
    values = np.array([v[0] for v in (trials or {}).values() if math.isfinite(v[0])])
    trials_variance = float(values.var(ddof=1)) if values.shape[0] > 1 else None
    is_matrix = np.column_stack(is_returns)
    candidate_clusters = effective_trials(is_matrix, CLUSTER_CORRELATION) if len(cands) > 1 else 1
    t_train = int(train.sum())
    variance = 1.0 / max(1, t_train - 1)  # of a Sharpe estimate under the null (true Sharpe 0)

    ids = {i: f"S{rank + 1}" for rank, i in enumerate(reported)}
    rows, trade_rows = [], []
    main_row = {}
    for series in all_series:
        hold = series.mask("holdout")
        # the benchmark's bootstrap block length, shared by the series' confidence intervals
        bench_block = stationary_block_length(_excess_in(series, series.bh, hold)) if hold.sum() > 10 else None
        for i in [None, *reported]:
            row = _row(ctx, series, i, cands, ids, n_eff, seed, bench_block)
            rows.append(row)
            if series is main:
                main_row[i] = row
            if i is not None and series.data is not None:
                trade_rows.extend(_trades(ctx, series, i, cands[i].expression, ids[i]))

    pbo = None
    if len(cands) > 1:
        pbo_idx = order[:PBO_CANDIDATES]
        rows_used = train | sel
        matrix = np.column_stack([_excess_in(main, main.nets[i], rows_used) for i in pbo_idx])
        pbo = float(pbo_cscv(matrix)[0]) if matrix.shape[1] > 1 and matrix.shape[0] >= 8 else None
    hold = main.mask("holdout")
    spa = None
    if hold.sum() > 10:
        models = np.column_stack([main.nets[i][hold] for i in reported])
        spa = float(spa_pvalue(main.bh[hold], models, reps=BOOTSTRAP_REPS, seed=statistics_seed(seed, 1)))
    verdict = _verdict(main_row, reported, ids, n_trials, n_eff, pbo, spa)
    dsrs = [main_row[i]["dsr"] for i in reported if math.isfinite(main_row[i]["dsr"])]
    overfitting = {"trials": n_trials, "effective_trials": n_eff, "pbo": pbo, "spa_pvalue": spa, "verdict": verdict,
                   "best_dsr": max(dsrs) if dsrs else None,
                   "significant": sum(bool(main_row[i]["significant"]) for i in reported),
                   "dsr_threshold": DSR_THRESHOLD, "candidates": len(cands),
                   "expected_max_sharpe": expected_max_sharpe(n_eff, variance) * math.sqrt(ctx.periods_per_year),
                   "null_sharpe_variance": variance, "trials_sharpe_variance": trials_variance,
                   "sampled_trials": sampled, "sampled_clusters": clusters, "candidate_clusters": candidate_clusters}
    run_dir = Path(run_dir)
    atomic_write(run_dir / "strategies.csv", csv_text(rows, COLUMNS))
    atomic_write(run_dir / "trades.csv", csv_text(trade_rows, TRADE_COLUMNS))
    atomic_write(run_dir / "returns.csv", _returns_text(all_series, reported, ids))
    return _summary(ctx, overfitting)


def _effective(ctx, train, trials, n_trials):
    """(clusters in the sample, effective trials, sample size): the run's trials times the share of independent
    clusters (correlation of training returns above CLUSTER_CORRELATION: one cluster) in the sampled trials."""
    from .language import parse

    sample = sorted((k, v[1]) for k, v in (trials or {}).items() if v[1] is not None)
    if len(sample) < 2:
        return None, n_trials, len(sample)
    # the training returns alone: the search's signals (its warm indicator cache, no bar after the training folds)
    cands = [Candidate(e, tree, ctx.search_signals(tree), ()) for e, tree in ((e, parse(e)) for _, e in sample)]
    series = strategy_series(ctx, cands, only=("train",))[-1]
    matrix = np.ascontiguousarray(_excess_in(series, series.nets, train).T)  # T x N, as np.column_stack lays it
    clusters = effective_trials(matrix, CLUSTER_CORRELATION)
    return clusters, max(1, min(n_trials, round(n_trials * clusters / len(sample)))), len(sample)


def _summary(ctx, overfitting):
    periods = ctx.calendar.dates(ctx.markets)
    trading = {"objectives": list(ctx.objectives), "markets": [m.name for m in ctx.markets], "periods": periods,
               "folds": ctx.calendar.fold_dates(), "notes": list(ctx.notes)}
    lines = [f"note: {note}" for note in ctx.notes] + [f"verdict: {overfitting['verdict']}"]
    return {"trading": trading, "overfitting": overfitting, "print": lines}


def _row(ctx, series, i, cands, ids, n_eff, seed, bench_block):
    """One row of strategies.csv; bench_block: the series' buy-and-hold block length (None: holdout too short)."""
    stats = {p: _stats(series, i, p, ctx) for p in PERIODS}
    row = {"id": "BH" if i is None else ids[i], "expression": "buy_and_hold" if i is None else cands[i].expression,
           "market": series.name, "size": 0 if i is None else len(cands[i].tree),
           "selection_rank": 0 if i is None else int(ids[i][1:])}
    for period in PERIODS:
        start, end = _span(series, period)
        row[f"{_PREFIX[period]}_start"], row[f"{_PREFIX[period]}_end"] = start, end
        row.update({f"{_PREFIX[period]}_{k}": v for k, v in stats[period].items()})
    net = series.bh if i is None else series.nets[i]
    x = _excess_in(series, net, series.mask("train"))
    sr, t, skew, kurt = sharpe_stats(x)
    row["psr"] = probabilistic_sharpe_ratio(sr, t, skew, kurt)
    # SR0 from the null variance of a Sharpe estimate over these T bars, 1 / (T - 1): the spread of the trials'
    # own Sharpe ratios would also hold the real differences between strategies a search that finds an edge makes
    row["dsr"] = deflated_sharpe_ratio(sr, t, skew, kurt, n_eff, 1.0 / max(1, t - 1))
    row["min_trl"] = min_track_record_length(sr, skew, kurt)
    row["significant"] = bool(i is not None and row["dsr"] >= DSR_THRESHOLD)
    hold = series.mask("holdout")
    if hold.sum() > 10:
        xo, xb = _excess_in(series, net, hold), _excess_in(series, series.bh, hold)
        k = 0 if i is None else int(ids[i][1:])
        # block lengths: the strategy's, and the larger of it and the benchmark's (what each interval would find)
        block = bench_block if i is None else stationary_block_length(xo)  # buy and hold: xo is xb
        low, high = sharpe_confidence_interval(xo, ctx.periods_per_year, reps=BOOTSTRAP_REPS,
                                               seed=statistics_seed(seed, 2, k), block_size=block)
        row["oos_sharpe_ci_low"], row["oos_sharpe_ci_high"] = float(low), float(high)
        low, high = sharpe_confidence_interval(xo, ctx.periods_per_year, benchmark=xb, reps=BOOTSTRAP_REPS,
                                               seed=statistics_seed(seed, 3, k), block_size=max(block, bench_block))
        row["oos_excess_sharpe_ci_low"], row["oos_excess_sharpe_ci_high"] = float(low), float(high)
    else:
        for key in ("oos_sharpe_ci_low", "oos_sharpe_ci_high", "oos_excess_sharpe_ci_low",
                    "oos_excess_sharpe_ci_high"):
            row[key] = math.nan
    return {k: (float(v) if isinstance(v, (np.floating, float)) else v) for k, v in row.items()}


def _trades(ctx, series, i, expression, sid):
    market, lo, hi = series.data
    p_full = np.zeros(market.n_bars)
    p_full[lo:hi] = series.p[i]
    net_full = np.zeros(market.n_bars)
    net_full[lo:hi] = series.nets[i]
    out = []
    for a, b in zip(series.cuts[:-1], series.cuts[1:]):  # trades of each period, as its metrics count them
        period = str(series.period[a])
        for trade in trade_list(p_full, net_full, market.dates, market.open, market.close, lo + a, lo + b,
                                ctx.fill, cost_bps=ctx.cost_bps):
            out.append({"id": sid, "expression": expression, "market": market.name, **trade, "period": period})
    return out


def _returns_text(all_series, reported, ids):
    columns = ["date", "market", "period", "BH"] + [ids[i] for i in reported]
    rows = []
    for series in all_series:
        # .tolist(): the Python floats (and str) that float() (str()) of each element gives; astype(str): the
        # text str() gives a datetime64
        nets = [series.nets[i].tolist() for i in reported]
        bh, period, dates = series.bh.tolist(), series.period.tolist(), series.dates.astype(str).tolist()
        for t, date in enumerate(dates):
            row = {"date": date, "market": series.name, "period": period[t], "BH": bh[t]}
            row.update({ids[i]: net[t] for i, net in zip(reported, nets)})
            rows.append(row)
    return csv_text(rows, columns)


def _verdict(main_row, reported, ids, n_trials, n_eff, pbo, spa):
    """One plain sentence: is the best reported strategy skill or luck?"""
    tried = f"{n_trials:,} distinct strategies ({n_eff:,} effective)"
    pbo_text = f", PBO {pbo:.2f}" if pbo is not None else ""
    bh = main_row[None]
    beat = [i for i in reported if main_row[i]["oos_sharpe"] > bh["oos_sharpe"]]
    beat_text = (f"; {len(beat)} of {len(reported)} reported strategies beat buy-and-hold's holdout Sharpe "
                 f"{bh['oos_sharpe']:.2f}")
    flagged = [i for i in reported if main_row[i]["significant"]]
    if not flagged:
        best = max((main_row[i]["dsr"] for i in reported), default=math.nan)
        return f"no evidence of skill beyond chance: best DSR {best:.2f} after {tried}{pbo_text}{beat_text}"
    top = max(flagged, key=lambda i: (main_row[i]["dsr"], -int(ids[i][1:])))
    row = main_row[top]
    spa_text = f", SPA p = {spa:.3f}" if spa is not None else ""
    holdout = (f"holdout {row['oos_start']} to {row['oos_end']}: Sharpe {row['oos_sharpe']:.2f} against "
               f"buy-and-hold's {bh['oos_sharpe']:.2f}{spa_text}")
    if row["oos_sharpe"] > bh["oos_sharpe"] and (spa is None or spa < 0.05):
        return (f"evidence of skill: {ids[top]} has DSR {row['dsr']:.2f} after {tried} and beats buy-and-hold on "
                f"the {holdout}{pbo_text}")
    return (f"in-sample significance not confirmed out of sample: {ids[top]} has DSR {row['dsr']:.2f} after {tried}, "
            f"but on the {holdout}{pbo_text}; treat it as luck until more data confirm it")


def strategy_returns(expression, market=None, **options):
    """A strategy's daily net returns as a pandas Series indexed by date (training start to the data's end),
    with the conventions of a run given the same trading options (data, cost_bps, fill, risk_free, ...).

    `expression` is a strategies.csv expression or "buy_and_hold"; `market` an instrument name, or None for the
    portfolio (the only instrument when there is one). Point quantstats or empyrical at the result.
    """
    import pandas as pd

    from .language import parse
    from .problem import trading

    ctx = trading(**options).context
    tree = None if expression == "buy_and_hold" else parse(expression)
    cands = [] if tree is None else [Candidate(expression, tree, ctx.signals(tree), ())]
    all_series = strategy_series(ctx, cands)
    names = [s.name for s in all_series]
    if market is None:
        series = all_series[-1]
    elif market in names and market != "portfolio" or (market == "portfolio" and len(all_series) > 1):
        series = all_series[names.index(market)]
    else:
        raise ValueError(f"market {market!r} is not one of {', '.join(names)}")
    values = series.bh if tree is None else series.nets[0]
    return pd.Series(values, index=pd.DatetimeIndex(series.dates.astype("datetime64[ns]"), name="date"),
                     name=expression)


def read_returns(run_dir, market=None):
    """returns.csv of a run folder as a pandas DataFrame indexed by date (one column per reported strategy and
    BH, plus `period`), for one instrument or, by default, the portfolio (the only instrument when one)."""
    import pandas as pd

    frame = pd.read_csv(Path(run_dir) / "returns.csv", parse_dates=["date"])
    names = list(dict.fromkeys(frame["market"]))
    chosen = market if market is not None else ("portfolio" if "portfolio" in names else names[0])
    if chosen not in names:
        raise ValueError(f"market {chosen!r} is not one of {', '.join(names)}")
    return frame[frame["market"] == chosen].drop(columns="market").set_index("date")
