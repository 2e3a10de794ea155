"""The flagship problem: evolve trading strategies (typed GP) scored by vectorised backtests.

The fitness is a configurable list of objectives (`objectives.py`; default Sharpe and information ratio against
buy-and-hold), each averaged over the validation folds of the training period and over the instruments; a rule
must be in the market on at least `min_exposure` of the training bars. The folds, a selection period and the
holdout are cut at dates shared by every instrument (`calendar.py`). The selection period chooses the strategies
that are reported; the holdout is used once, for them, by `reporting.py` when the run ends.
"""

import hashlib
import math
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
from deap import base, gp, tools

from ..errors import Rejected
from ..nondominated import sel_nsga2
from ..problems.common import creator_class
from .backtest import FILLS, _layout, bar_returns
from .calendar import Calendar, make_calendar
from .data import DataError, check_periods_per_year, head, load_markets, stale_opens
from .language import WINDOWS, get_pset, to_expression
from .objectives import DEFAULT_OBJECTIVES, OBJECTIVES, fold_stats, fold_stats_many, parse_objectives
from .strategy import HEIGHT_LIMIT, IndicatorCache, compile_signal, register_strategy_operators

__all__ = ["trading", "TradingContext", "signal_values", "penalty", "tree_key", "MEMO_MAX_ENTRIES"]

MEMO_MAX_ENTRIES = 50_000  # results kept per process for distinct signals and for distinct trees (each memo)
_PENALTY = {1.0: -10.0, -1.0: 10.0}  # finite (NSGA-II subtracts fitnesses): far below any real strategy


def penalty(objectives):
    """The fitness of failed and rejected strategies: a bad finite value per objective (win rate, exposure: 0)."""
    bad = {"win_rate": 0.0, "exposure": 0.0, "max_drawdown": 1.0, "size": 1000.0}
    return tuple(bad.get(name, _PENALTY[OBJECTIVES[name][0]]) for name in objectives)


@dataclass
class TradingContext:
    """Everything a strategy evaluation and the end-of-run report need, built once per process."""

    markets: list
    returns: list  # per market: the return each bar's position earns (bar_returns with the fill)
    calendar: Calendar
    cost_bps: float
    borrow_bps: float
    rf: list  # per market: per-bar risk-free return (annual rate / periods_per_year), or None
    periods_per_year: int
    long_short: bool
    fill: str
    objectives: tuple
    min_exposure: float
    min_trades: float
    notes: list = field(default_factory=list)
    caches: list = field(default_factory=list)
    memo: OrderedDict = field(default_factory=OrderedDict)  # signal digest -> result of its backtest
    trees: OrderedDict = field(default_factory=OrderedDict)  # tree's node names -> the same result

    def __post_init__(self):
        self.layouts = [None if not p.training else _layout(r.shape[0], p.training)
                        for p, r in zip(self.calendar.markets, self.returns)]
        self.caches = self.caches or [IndicatorCache() for _ in self.markets]
        # What the search reads of each market: its bars up to the end of its last training fold (None: no
        # fold). The indicators are causal, so their values there are those of the whole series, bit for bit.
        self.searched = [head(m, p.training[-1][1]) if p.training else None
                         for m, p in zip(self.markets, self.calendar.markets)]
        self.search_caches = [IndicatorCache() for _ in self.markets]

    @property
    def folds(self):
        """Per market: the (start, stop) bars of the validation folds it takes part in."""
        return [p.training for p in self.calendar.markets]

    @property
    def holdout(self):
        return [p.holdout for p in self.calendar.markets]

    def signals(self, tree):
        """The strategy's signal s_t on every market (1/0, or 1/-1 with long_short; 0 during warm-up)."""
        return self._signals(tree, self.markets, self.caches)

    def search_signals(self, tree):
        """What the fitness reads: `signals` over each market's bars up to the end of its training folds (the
        selection period and the holdout are not computed during the search); None for a market without folds."""
        return self._signals(tree, self.searched, self.search_caches)

    def _signals(self, tree, markets, caches):
        return [None if m is None else signal_values(*compile_signal(tree, m, c), self.long_short)
                for m, c in zip(markets, caches)]


def signal_values(signal, defined, long_short):
    """s_t as floats: long/flat from the boolean signal, or long/short where every indicator is defined."""
    if long_short:
        return np.where(defined, np.where(signal, 1.0, -1.0), 0.0)
    return signal.astype(np.float64)


def signal_key(signals, long_short=True):
    """A digest of a strategy's signals on every market: equal exactly when the strategy behaves the same.
    Long/flat signals (`long_short` False: every s_t is 0 or 1) are told apart by where they are long alone."""
    digest = hashlib.blake2b(digest_size=16)
    for s in signals:
        if s is None:
            continue
        digest.update(np.packbits(s > 0).tobytes())
        if long_short:
            digest.update(np.packbits(s < 0).tobytes())
    return digest.digest()


def _number(name, value, low=0.0, high=math.inf, low_open=False):
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and (
        low < value if low_open else low <= value) and value <= high
    if not ok:
        bound = f"> {low:g}" if low_open else f">= {low:g}"
        raise ValueError(f"{name} must be a number {bound}" + (f" and <= {high:g}" if high < math.inf else "")
                         + f", got {value!r}")
    return float(value)


def _integer(name, value, low):
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return value


def trading(data="sp500", objectives=DEFAULT_OBJECTIVES, folds=4, holdout_years=4.0, selection_years=2.0,
            cost_bps=10.0, borrow_bps=0.0, risk_free=0.0, fill="close", long_short=False, min_exposure=0.1,
            min_trades=1.0, max_height=HEIGHT_LIMIT, periods_per_year=252, report_top=10, train_start="",
            holdout_start="", end=""):
    """The trading toolbox: strategies for the instruments in `data` (embedded name or CSV/Parquet path).

    `risk_free` is an annual rate (0.02 = 2%) or "column" (the data's `rf` column); it is earned while flat and
    subtracted in Sharpe and Sortino. `borrow_bps` is an annual fee on shorts. `end` (an ISO date) drops every
    bar after it before anything is computed; `holdout_start` (the holdout's first date) replaces holdout_years;
    `train_start` is the first date of the training folds (earlier bars are indicator history only). A
    walk-forward window sets all three.
    """
    names = parse_objectives(objectives)
    _integer("folds", folds, 1)
    _integer("max_height", max_height, 2)
    _integer("periods_per_year", periods_per_year, 1)
    _integer("report_top", report_top, 1)
    _number("holdout_years", holdout_years, low_open=True)
    _number("selection_years", selection_years, low_open=True)
    for name, value in (("cost_bps", cost_bps), ("borrow_bps", borrow_bps), ("min_trades", min_trades)):
        _number(name, value)
    _number("min_exposure", min_exposure, high=1.0)
    if fill not in FILLS:
        raise ValueError(f"fill must be one of {', '.join(FILLS)}, got {fill!r}")
    if risk_free != "column":
        _number("risk_free", risk_free, low=-0.05, high=1.0)
    dates = {key: _date(key, value) for key, value in (("train_start", train_start),
                                                       ("holdout_start", holdout_start), ("end", end))}
    markets = load_markets(data, min_bars=3, longest_window=max(WINDOWS))  # short histories join late (calendar)
    if dates["end"] is not None:
        markets = _until(markets, dates["end"])
    if risk_free == "column":
        missing = [m.name for m in markets if m.rf is None]
        if missing:
            raise DataError(f"{markets[0].source}: risk_free = \"column\" needs an `rf` column (annual rate, 0.02 "
                            f"= 2%), and instrument {missing[0]!r} has none. Add one, or give a constant rate.")
        rf = [np.asarray(m.rf) / periods_per_year for m in markets]
    else:
        rf = [np.full(m.n_bars, risk_free / periods_per_year) if risk_free else None for m in markets]
    returns = [bar_returns(m.open, m.close, fill) for m in markets]
    calendar = make_calendar(markets, returns, folds, holdout_years, selection_years, dates["holdout_start"],
                             dates["train_start"])
    if calendar.holdout_start > calendar.end:
        raise DataError(f"{markets[0].source}: holdout_start = {calendar.holdout_start} is after the data's last "
                        f"date with a return, {calendar.end}. Give an earlier date, or data that reach past it.")
    check_periods_per_year(markets, periods_per_year)
    # whether the opens look real is judged before the holdout: what the search may use must not depend on it
    seen = [head(m, int(np.searchsorted(m.dates, calendar.holdout_start))) for m in markets]
    notes, stale = [], [m for m in seen if stale_opens(m)]
    if stale:
        if fill == "next_open":
            raise DataError(f"{stale[0].source}: {stale_opens(stale[0])}; fill = \"next_open\" would really fill at "
                            f"the close there. Use fill = \"close\" (the default) or data with real opening prices.")
        notes.append(f"{'; '.join(stale_opens(m) for m in stale)}: `open` is left out of the strategy language, so "
                     f"no rule can fit that artefact.")
    ctx = TradingContext(markets, returns, calendar, float(cost_bps), float(borrow_bps), rf, periods_per_year,
                         bool(long_short), fill, names, float(min_exposure), float(min_trades), notes)
    ctx.report_top = report_top
    suffix = "_".join(names)
    fitness = creator_class(f"HpcevoFitnessTrading_{suffix}", base.Fitness,
                            weights=tuple(OBJECTIVES[n][0] for n in names))
    strategy = creator_class(f"HpcevoStrategy_{suffix}", gp.PrimitiveTree, fitness=fitness)
    tb = base.Toolbox()
    register_strategy_operators(tb, strategy, pset=get_pset(with_open=not stale), height_limit=max_height)
    tb.register("evaluate", evaluate_strategy, ctx=ctx)
    tb.register("evaluate_batch", evaluate_strategies, ctx=ctx)
    if len(names) > 1:
        tb.register("select", sel_nsga2)
        tb.register("survivors", distinct_survivors, select=sel_nsga2)
    else:
        tb.register("select", tools.selTournament, tournsize=3)
    tb.register("similar", same_behaviour)
    tb.register("complexity", len)
    tb.register("trial", trial_record, ctx=ctx)
    tb.register("describe", to_expression)
    tb.register("report", _write_report, ctx=ctx)
    tb.penalty = penalty(names)
    tb.context = ctx
    tb.objective_names = names
    return tb


def _write_report(*args, **kwargs):
    """reporting.write_report, imported when called: only the rank that writes the outputs loads its statistics
    libraries (arch, SciPy; about 0.7 s)."""
    from .reporting import write_report

    return write_report(*args, **kwargs)


def _date(name, value):
    """An ISO date option as datetime64[D]; "" is None (not set)."""
    if value == "":
        return None
    try:
        if not isinstance(value, str):
            raise ValueError
        return np.datetime64(value, "D")
    except ValueError:
        raise ValueError(f"{name} must be a date like 2015-01-02 (or \"\" for none), got {value!r}") from None


def _until(markets, end):
    """Each market without its bars after `end`; DataError when one keeps fewer than 3."""
    kept = [head(m, int(np.searchsorted(m.dates, end, side="right"))) for m in markets]
    short = [m for m in kept if m.n_bars < 3]
    if short:
        raise DataError(f"{markets[0].source}: end = {end} leaves instrument {short[0].name!r} {short[0].n_bars} "
                        f"bar(s) (its data start on {markets[0].dates[0]}). Give a later end date.")
    return kept


def evaluate_strategy(tree, ctx):
    """The objectives averaged over every (market, validation fold); Rejected below min_exposure or min_trades.

    A tree seen before in this process (the same nodes: late in a run about half the offspring are copies)
    returns its stored result without being compiled; a new tree whose signals were seen before returns theirs
    without a backtest. Both memos are pure caches: the result is a function of the tree alone. The signals are
    the search's (`TradingContext.search_signals`: no bar after the training folds)."""
    shape = tree_key(tree)
    hit = ctx.trees.get(shape)
    if hit is None:
        signals = ctx.search_signals(tree)
        key = signal_key(signals, ctx.long_short)
        hit = ctx.memo.get(key)
        if hit is None:
            hit = _remember(ctx.memo, key, _backtest(signals, ctx))
        _remember(ctx.trees, shape, hit)
    return _fitness(hit, tree, ctx, raise_rejected=True)


def evaluate_strategies(trees, ctx):
    """`toolbox.evaluate_batch`: what evaluate_strategy gives each tree, with the batch's new distinct signals
    backtested together (one compiled pass per market for all of them, `objectives.fold_stats_many`). One entry
    per tree: its fitness, or the exception evaluate_strategy would raise for it (a Rejected included)."""
    entries = [None] * len(trees)
    pending = {}  # signal key -> (signals, [(index, tree key)]) of the signals no memo holds
    for i, tree in enumerate(trees):
        shape = tree_key(tree)
        hit = ctx.trees.get(shape)
        if hit is None:
            try:
                signals = ctx.search_signals(tree)
            except Exception as exc:  # noqa: BLE001 - that tree's failure, as evaluate_strategy would raise it
                entries[i] = exc
                continue
            key = signal_key(signals, ctx.long_short)
            hit = ctx.memo.get(key)
            if hit is None:
                pending.setdefault(key, (signals, []))[1].append((i, shape))
                continue
            _remember(ctx.trees, shape, hit)
        entries[i] = _fitness(hit, tree, ctx)
    if pending:
        for (key, (_, waiting)), hit in zip(pending.items(), _backtests([s for s, _ in pending.values()], ctx)):
            if not isinstance(hit, Exception):
                _remember(ctx.memo, key, hit)
            for i, shape in waiting:
                if isinstance(hit, Exception):
                    entries[i] = hit
                else:
                    _remember(ctx.trees, shape, hit)
                    entries[i] = _fitness(hit, trees[i], ctx)
    return entries


def _remember(memo, key, value):
    memo[key] = value
    if len(memo) > MEMO_MAX_ENTRIES:
        memo.popitem(last=False)
    return value


def _fitness(hit, tree, ctx, raise_rejected=False):
    """The fitness tuple from a backtest's result, or Rejected (raised, or returned for a batch)."""
    if isinstance(hit, str):
        if raise_rejected:
            raise Rejected(hit)
        return Rejected(hit)
    return tuple(float(len(tree)) if name == "size" else hit[name] for name in ctx.objectives)


def tree_key(tree):
    """A tree's node names in prefix order: equal exactly for equal typed trees (each primitive's name fixes its
    arity and argument types, so the sequence reads back into one tree)."""
    return tuple([node.name for node in tree])


def _wanted(ctx):
    return [n for n in ctx.objectives if n != "size"]


def _costs(ctx):
    return ctx.cost_bps / 10_000.0, ctx.borrow_bps / 10_000.0 / ctx.periods_per_year


def _backtest(signals, ctx):
    """{objective: mean over (market, fold)}, or the reason for rejecting the strategy (a string)."""
    wanted, (c, borrow) = _wanted(ctx), _costs(ctx)
    return _combine([fold_stats(s, r, lay, rf, c, borrow, ctx.periods_per_year, wanted)
                     for s, r, lay, rf in zip(signals, ctx.returns, ctx.layouts, ctx.rf) if lay is not None], ctx)


def _backtests(many, ctx):
    """_backtest of each entry of `many` (a strategy's signals per market), a market at a time for all of them;
    an entry whose backtest raises gets the exception."""
    wanted, (c, borrow) = _wanted(ctx), _costs(ctx)
    per_market = [fold_stats_many([signals[m] for signals in many], r, lay, rf, c, borrow, ctx.periods_per_year,
                                  wanted)
                  for m, (r, lay, rf) in enumerate(zip(ctx.returns, ctx.layouts, ctx.rf)) if lay is not None]
    out = []
    for stats in zip(*per_market):
        failed = next((s for s in stats if isinstance(s, Exception)), None)
        out.append(failed if failed is not None else _combine(stats, ctx))
    return out


def _combine(per_market, ctx):
    """{objective: mean over (market, fold)} from each market's fold_stats, or the reason for rejecting."""
    wanted = _wanted(ctx)
    per = {n: [] for n in wanted}
    trades, bars, in_market = [], 0.0, 0.0
    for stats, n, held in per_market:
        for name in wanted:
            per[name].append(stats[name])
        trades.append(stats["trades"])
        bars += n
        in_market += held
    exposure = in_market / bars
    if exposure < ctx.min_exposure:
        return f"in the market on {exposure:.1%} of the training bars (min_exposure {ctx.min_exposure:g})"
    mean_trades = _mean(trades)
    if mean_trades < ctx.min_trades:
        return f"{mean_trades:g} trades per validation fold (min_trades {ctx.min_trades:g})"
    return {name: _mean(per[name]) for name in wanted}


def _mean(arrays):
    """np.concatenate(arrays).mean() as a float, for arrays or lists of floats. Below 8 values NumPy adds them one
    by one onto 0.0, which Python's sum does too (about 3 us less on the 4 folds of one market); from 8 on, NumPy
    itself."""
    values = [v for a in arrays for v in (a if isinstance(a, list) else a.tolist())]
    if len(values) < 8:
        return sum(values) / len(values)
    return float(np.concatenate(arrays).mean())


def same_behaviour(a, b):
    """Halls of fame compare fitness first; for strategies equal fitness means the same signals (one entry)."""
    return True


TRIAL_SAMPLE = 16  # one trial in this many (chosen by its key, so the same ones in every launch mode) is kept


def trial_record(ind, ctx):
    """(key, (per-bar Sharpe or NaN, expression or None)) of a scored strategy.

    The key is its fitness without `size`, so every tree of one signal is one trial. The expressions of a sample
    of the trials (those whose key is divisible by TRIAL_SAMPLE) let the report estimate how many of the run's
    trials are independent; the Sharpe ratios (from the fitness, when it is an objective) are reported."""
    values = ind.fitness.values
    kept = tuple(v for v, name in zip(values, ctx.objectives) if name != "size")
    key = hash(kept)
    sharpe = values[ctx.objectives.index("sharpe")] / math.sqrt(ctx.periods_per_year) \
        if "sharpe" in ctx.objectives else math.nan
    return key, (sharpe, to_expression(ind) if key % TRIAL_SAMPLE == 0 else None)


def distinct_survivors(individuals, k, select):
    """`select` (NSGA-II) over one representative of each distinct behaviour, its smallest tree, before any
    duplicate: a population keeps distinct signals, and bloat loses ties. Duplicates fill what is left."""
    groups = {}
    for ind in individuals:
        groups.setdefault(ind.fitness.values, []).append(ind)
    firsts, rest = [], []
    for members in groups.values():
        members = sorted(members, key=len)  # stable: the first of the smallest trees represents the group
        firsts.append(members[0])
        rest.extend(members[1:])
    if len(firsts) >= k:
        return select(firsts, k)
    return firsts + select(rest, k - len(firsts))
