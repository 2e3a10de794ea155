"""`python -m hpcevo backtest "EXPR"`: re-run one strategy expression and print its metrics as JSON;
`python -m hpcevo backtest --run RUN_DIR`: re-score a finished trading run's reported strategies."""

import argparse
import csv
import json
import tomllib
from pathlib import Path

import numpy as np

from ..console import say
from ..errors import UserError

__all__ = ["add_arguments", "backtest_command", "backtest_markets", "backtest_run", "DEFAULTS"]

# the backtest settings a run records in its config.toml [problem_options] (the trading problem's defaults):
# option -> (flag, default)
DEFAULTS = {"data": ("--data", "sp500"), "cost_bps": ("--cost-bps", 10.0), "fill": ("--fill", "close"),
            "long_short": ("--long-short", False), "borrow_bps": ("--borrow-bps", 0.0),
            "risk_free": ("--risk-free", 0.0), "periods_per_year": ("--periods-per-year", 252)}
_FILLS = ("close", "next_open")  # backtest.FILLS, without importing the kernels for --help
_EXAMPLE = "and(gt(sma(close,20),sma(close,100)),lt(rsi(close,14),70))"


def _risk_free(text):
    if text.strip() == "column":
        return "column"
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an annual rate such as 0.02, or column, got {text!r}") from None


def add_arguments(parser):
    parser.add_argument("expression", nargs="?", default=None,
                        help=f'a strategy, e.g. "{_EXAMPLE}" (or --run RUN_DIR instead)')
    parser.add_argument("--run", metavar="RUN_DIR",
                        help="re-score the reported strategies (S1, S2, ... of RUN_DIR/strategies.csv) with the "
                             "run's own settings (RUN_DIR/config.toml [problem_options]) and print a JSON list, one "
                             "object per strategy per market; a flag given here wins over the run's setting")
    parser.add_argument("--data", help="sp500 | nasdaq | sp500+nasdaq | a CSV or Parquet file (default sp500; with "
                                       "--run, the run's own data)")
    parser.add_argument("--cost-bps", type=float,
                        help="cost per unit of position change (default 10; with --run, the run's cost_bps)")
    parser.add_argument("--fill", choices=_FILLS,
                        help="trade at the signal bar's close (default) or the next bar's open (with --run, the "
                             "run's fill)")
    parser.add_argument("--long-short", action=argparse.BooleanOptionalAction,
                        help="short when the signal is false; --no-long-short: flat (default flat; with --run, the "
                             "run's long_short)")
    parser.add_argument("--start", help="first date of the period (YYYY-MM-DD; default: the first bar with a return)")
    parser.add_argument("--end", help="last date of the period, inclusive (default: the last bar with a return)")
    parser.add_argument("--periods-per-year", type=int,
                        help="for Sharpe and CAGR (default 252; with --run, the run's periods_per_year)")
    parser.add_argument("--borrow-bps", type=float,
                        help="annual fee on shorts, in bps (default 0; with --run, the run's borrow_bps)")
    parser.add_argument("--risk-free", type=_risk_free, metavar="RATE|column",
                        help="annual risk-free rate earned while flat and subtracted in Sharpe/Sortino (0.02 = 2%%), "
                             "or column: the data's rf column (default 0; with --run, the run's risk_free)")
    parser.epilog = ("With --run, each setting comes from, in order: the flag given here, the run's config.toml "
                     "[problem_options], the default above; --data and --start/--end pick the data and period of "
                     "the re-score (default: the run's data, all of it).")


def _period(market, returns, start, end):
    from .backtest import valid_span

    lo, hi = valid_span(returns)
    try:
        if start:
            lo = max(lo, int(np.searchsorted(market.dates, np.datetime64(start, "D"), side="left")))
        if end:
            hi = min(hi, int(np.searchsorted(market.dates, np.datetime64(end, "D"), side="right")))
    except ValueError:
        raise UserError(f"--start/--end must be dates like 2015-01-02, got {start!r} / {end!r}.") from None
    if hi - lo < 2:
        raise UserError(f"the period {start or 'start'} .. {end or 'end'} holds {max(hi - lo, 0)} bars of "
                        f"{market.name} ({market.source}); choose dates inside its data, "
                        f"{market.dates[0]} .. {market.dates[-1]}.")
    return lo, hi


def _risk_free_returns(market, risk_free, periods_per_year, lo, hi):
    """The per-bar risk-free returns of bars lo..hi-1, as the trading problem computes them, or None (none)."""
    if risk_free == "column":
        if market.rf is None:
            raise UserError(f"{market.source}: risk_free = \"column\" needs an `rf` column (annual rate, 0.02 = 2%), "
                            f"and instrument {market.name!r} has none. Add one, or give --risk-free RATE.")
        return (np.asarray(market.rf) / periods_per_year)[lo:hi]
    return np.full(hi - lo, risk_free / periods_per_year) if risk_free else None


def _backtest(tree, markets, cost_bps, fill, long_short, start, end, periods_per_year, borrow_bps, risk_free):
    """backtest_markets on markets already loaded."""
    from .backtest import bar_returns, positions
    from .language import to_expression
    from .metrics import net_returns, period_stats
    from .problem import signal_values
    from .strategy import compile_signal

    results = []
    for market in markets:
        returns = bar_returns(market.open, market.close, fill)
        lo, hi = _period(market, returns, start, end)
        signal = signal_values(*compile_signal(tree, market, {}), long_short)
        p, r = positions(signal)[lo:hi], returns[lo:hi]
        rf = _risk_free_returns(market, risk_free, periods_per_year, lo, hi)
        kw = {"borrow_bps": borrow_bps, "rf": rf, "periods_per_year": periods_per_year}
        net, bh = net_returns(p, r, cost_bps, **kw), net_returns(np.ones(hi - lo), r, cost_bps, **kw)
        result = {"expression": to_expression(tree), "market": market.name, "start": str(market.dates[lo]),
                  "end": str(market.dates[hi - 1]), "fill": fill, "cost_bps": cost_bps, "long_short": long_short,
                  "borrow_bps": borrow_bps, "risk_free": risk_free}
        result.update(period_stats(p, net, bh, periods_per_year, rf, cost_bps=cost_bps))
        result["buy_and_hold"] = period_stats(np.ones(hi - lo), bh, bh, periods_per_year, rf, cost_bps=cost_bps)
        results.append(result)
    return results


def backtest_markets(expression, data="sp500", cost_bps=10.0, fill="close", long_short=False, start=None, end=None,
                     periods_per_year=252, borrow_bps=0.0, risk_free=0.0):
    """Metrics of one strategy (metrics.METRICS, against buy-and-hold over the same bars) on every instrument of
    `data`: a list of dicts, one per market. The period starts flat, as each period of a run does. `risk_free` is
    an annual rate or "column" (the data's `rf` column)."""
    # here, not at the top: `hpcevo run` builds this command's parser, and must not pay for pandas and scipy
    from .data import load_markets
    from .language import parse

    tree = parse(expression)
    return _backtest(tree, load_markets(data), cost_bps, fill, long_short, start, end, periods_per_year, borrow_bps,
                     risk_free)


# ---------------------------------------------------------------------------------------------------------------
# --run RUN_DIR


def _id_order(sid):
    digits = sid[1:] if sid[:1] == "S" else ""
    return (0, int(digits), "") if digits.isdigit() else (1, 0, sid)


def _read_config(folder):
    """RUN_DIR/config.toml as a dict; UserError when it is missing or unreadable."""
    file = folder / "config.toml"
    try:
        text = file.read_bytes().decode("utf-8")
        config = tomllib.loads(text)
    except FileNotFoundError:
        raise UserError(f"{file} not found: --run re-scores with the run's own settings, which the run folder's "
                        f"config.toml holds. Copy the whole run folder (it is written when the run starts).") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UserError(f"{file} cannot be read ({detail}); --run needs the run's settings from it. Copy it again "
                        f"from the run folder.") from None
    options = config.get("problem_options", {})
    if not isinstance(options, dict):
        raise UserError(f"{file}: problem_options is {type(options).__name__} {options!r}, not a table; the run's "
                        f"trading settings cannot be read from it. Copy it again from the run folder.")
    return config


def _read_strategies(folder, problem):
    """[(id, expression)] of RUN_DIR/strategies.csv's reported strategies, in id order (S1, S2, ...); `problem` is
    config.toml's problem key, if known (for the message when there is no strategies.csv)."""
    file = folder / "strategies.csv"
    if not file.is_file():
        said = f' (its config.toml says problem = "{problem}")' if isinstance(problem, str) and problem != \
            "trading" else ""
        raise UserError(f"{file} not found: the run may not have finished (the trading problem writes "
                        f"strategies.csv when a run ends or is stopped; resume it with `python -m hpcevo run "
                        f"--resume {folder}`), or it was not a trading run{said}. --run re-scores a trading run's "
                        f"reported strategies.")
    try:
        text = file.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UserError(f"{file} cannot be read ({detail}). Copy it again from the run folder.") from None
    reader = csv.DictReader(text.splitlines())
    header = reader.fieldnames or []
    missing = [c for c in ("id", "expression") if c not in header]
    if missing:
        has = f"it has {', '.join(header)}" if header else "the file is empty"
        raise UserError(f"{file} line 1: the header lacks the column(s) {', '.join(missing)} ({has}); --run needs "
                        f"the current layout, with an id per reported strategy. Copy it again from the run folder, "
                        f"or backtest its expressions one at a time with `python -m hpcevo backtest EXPR`.")
    found = {}
    for line, row in enumerate(reader, 2):
        sid, expression = (row.get("id") or "").strip(), (row.get("expression") or "").strip()
        if sid == "BH" or expression == "buy_and_hold":
            continue
        if not sid or not expression:
            raise UserError(f"{file} line {line}: a row without {'an id' if not sid else 'an expression'}. Copy it "
                            f"again from the run folder.")
        found.setdefault(sid, expression)
    if not found:
        raise UserError(f"{file} lists no reported strategies (buy-and-hold only, or no rows: every candidate of "
                        f"that run was rejected or failed), so there is nothing to re-score.")
    return sorted(found.items(), key=lambda item: _id_order(item[0]))


def _checked(name, value, file):
    """A setting read from config.toml, its type checked (numbers as floats); UserError when it is bad."""
    flag = DEFAULTS[name][0]
    if name == "data":
        ok = isinstance(value, str) and value.strip() != ""
        want = "a data set name or a file path"
    elif name == "fill":
        ok, want = value in _FILLS, f"one of {', '.join(_FILLS)}"
    elif name == "long_short":
        ok, want = isinstance(value, bool), "true or false"
    elif name == "periods_per_year":
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
        want = "an integer >= 1"
    else:
        number = isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)
        ok = number or (name == "risk_free" and value == "column")
        want = "a number" + (' or "column"' if name == "risk_free" else "")
        if number:
            value = float(value)
    if not ok:
        raise UserError(f"{file} [problem_options] {name} = {value!r}: it must be {want}. Fix it there, or give "
                        f"{flag} to override it.")
    return value


def backtest_run(run_dir, data=None, start=None, end=None, **overrides):
    """Re-score a finished trading run's reported strategies: a list of dicts, one per strategy id (in id order)
    per market, each `id` then what backtest_markets returns.

    The settings (cost_bps, fill, long_short, borrow_bps, risk_free, periods_per_year) are each the keyword given
    here when not None, else the run's config.toml [problem_options] value, else the trading problem's default;
    `data` likewise (default: the run's own data). The period is `start`..`end` (default: all of the data).
    """
    unknown = sorted(set(overrides) - set(DEFAULTS))
    if unknown:
        raise TypeError(f"backtest_run() got unexpected keyword(s) {', '.join(unknown)}")
    folder = Path(run_dir)
    if not folder.exists():
        raise UserError(f"run folder {run_dir} does not exist; --run takes the folder a trading run wrote (`python "
                        f"-m hpcevo run --out RUN_DIR`), with its config.toml and strategies.csv.")
    if not folder.is_dir():
        raise UserError(f"{run_dir} is not a folder; --run takes the folder a trading run wrote (`python -m hpcevo "
                        f"run --out RUN_DIR`), with its config.toml and strategies.csv.")
    config_file = folder / "config.toml"
    if not (folder / "strategies.csv").is_file():  # the likelier cause: say it first (with the run's problem)
        try:
            problem = _read_config(folder).get("problem")
        except UserError:
            problem = None
        _read_strategies(folder, problem)
    config = _read_config(folder)
    strategies = _read_strategies(folder, config.get("problem"))
    options = config.get("problem_options", {})
    settings = {}
    for name, (_, default) in DEFAULTS.items():
        given = data if name == "data" else overrides.get(name)
        settings[name] = given if given is not None else _checked(name, options.get(name, default), config_file)
    from .data import DataError, load_markets  # here, after the run folder's checks: they answer at once
    from .language import ExpressionError, parse

    trees = []
    for sid, expression in strategies:
        try:
            trees.append((sid, parse(expression)))
        except ExpressionError as exc:
            raise UserError(f"{folder / 'strategies.csv'}: strategy {sid} does not parse: {exc}") from None
    try:
        markets = load_markets(settings["data"])
    except DataError as exc:
        if data is not None:
            raise
        raise UserError(f"the run's data, {settings['data']!r} ({config_file} [problem_options] data), cannot be "
                        f"used here: {exc} Give --data to re-score on other data.") from None
    results = []
    for sid, tree in trees:
        for result in _backtest(tree, markets, settings["cost_bps"], settings["fill"], settings["long_short"], start,
                                end, settings["periods_per_year"], settings["borrow_bps"], settings["risk_free"]):
            results.append({"id": sid, **result})
    return results


def backtest_command(args):
    if args.run is not None:
        if args.expression is not None:
            raise UserError(f"give a strategy expression or --run RUN_DIR, not both (got {args.expression!r} and "
                            f"--run {args.run}): --run re-scores the run's reported strategies, an expression "
                            f"backtests that one strategy.")
        output = backtest_run(args.run, args.data, args.start, args.end, cost_bps=args.cost_bps, fill=args.fill,
                              long_short=args.long_short, borrow_bps=args.borrow_bps, risk_free=args.risk_free,
                              periods_per_year=args.periods_per_year)
    else:
        if args.expression is None:
            raise UserError(f'give a strategy expression to backtest, e.g. `python -m hpcevo backtest "{_EXAMPLE}"`, '
                            f"or --run RUN_DIR to re-score a finished run's reported strategies.")
        given = {name: getattr(args, name) for name in DEFAULTS}
        settings = {name: default if given[name] is None else given[name] for name, (_, default) in DEFAULTS.items()}
        results = backtest_markets(args.expression, settings["data"], settings["cost_bps"], settings["fill"],
                                   settings["long_short"], args.start, args.end, settings["periods_per_year"],
                                   settings["borrow_bps"], settings["risk_free"])
        output = results[0] if len(results) == 1 else {"markets": results}
    say(json.dumps(output, indent=1))  # `hpcevo backtest ... | head`: a reader that leaves is not a failure
    return 0
