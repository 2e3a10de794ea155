"""A run folder read into plain data for `hpcevo report`: its text files only, validated once.

Works on a finished run, a stopped one and one in progress (its result files are rewritten at every periodic
checkpoint, its CSV logs may grow meanwhile); optional files that are missing are listed in `Run.notes`.
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .readers import ReportError, read_csv, read_json, read_toml, to_bool, to_float, to_floats, to_int, to_text

__all__ = ["Run", "Returns", "load_run", "epoch_ends", "migration_generations", "migration_matrix",
           "top_strategies", "reported_strategies", "objective_label", "is_trading", "ReportError", "RUN_FILES",
           "PERIODS"]

RUN_FILES = ("config.toml", "logbook.csv", "migrations.csv", "hall_of_fame.json", "summary.json", "timings.csv")
TRADING_PROBLEMS = ("trading", "hpcevo.problems:trading", "hpcevo.trading.problem:trading")
OBJECTIVE_NAMES = {"trading": ("Sharpe", "max drawdown", "win rate"), "zdt1": ("f1", "f2")}
# how summary.json's trading objectives (metric names) read in figures and text
_OBJECTIVE_LABELS = {"sharpe": "Sharpe", "sortino": "Sortino", "calmar": "Calmar", "cagr": "CAGR",
                     "information_ratio": "information ratio"}
PERIODS = ("train", "selection", "holdout")  # returns.csv / trades.csv period names, in time order
_RETURNS_WHY = "no equity curves, drawdowns or yearly returns from the run's own backtest"
_LOG_INTS = ("island", "gen", "nevals", "failures", "rejected")
_WHY = {
    "migrations.csv": "no migration figure or migration marks",
    "hall_of_fame.json": "no best individuals or Pareto front; objectives are taken as maximised",
    "summary.json": "status, time split and evaluations/s unknown",
    "timings.csv": "epoch times unknown",
    "strategies.csv": "the trading problem writes it when a run ends or is stopped; the top strategies come from "
                      "hall_of_fame.json",
    "returns.csv": _RETURNS_WHY,
    "trades.csv": "no trade statistics",
}


@dataclass
class Returns:
    """returns.csv for one market (an instrument or `portfolio`): daily net returns per strategy id (BH, S1, ...),
    in date order, with the period (train/selection/holdout) of each date."""

    market: str
    dates: np.ndarray  # datetime64[D]
    periods: np.ndarray  # str
    series: dict  # id -> np.ndarray of float

    def spans(self):
        """[(period, first date, last date)] for the periods present, in time order."""
        found = []
        for period in PERIODS:
            dates = self.dates[self.periods == period]
            if dates.size:
                found.append((period, dates.min(), dates.max()))
        return found


@dataclass
class Run:
    """Everything the report shows, as plain Python/NumPy data; None for a missing optional file."""

    path: Path
    config: dict
    logbook: dict  # column -> np.ndarray, one entry per (island, generation) row
    n_objectives: int
    weights: tuple
    hall_of_fame: list = None  # [{"position", "island", "fitness", "individual"}, ...] best first
    migrations: list = None  # [{"epoch", "src", "dst", "count", "best_fitness"}, ...]
    summary: dict = None
    timings: list = None  # seconds per epoch (an epoch split by a stop and resume: its parts added)
    strategies: list = None  # rows of strategies.csv (trading runs)
    returns: dict = None  # market -> Returns, from returns.csv (trading runs)
    trades: list = None  # rows of trades.csv (trading runs)
    notes: list = field(default_factory=list)
    page_notes: list = field(default_factory=list)  # for report.html only (files older runs never wrote)

    @property
    def problem(self):
        return str(self.config.get("problem", "?"))

    @property
    def trading(self):
        return is_trading(self.problem)

    @property
    def strategies_have_ids(self):
        """strategies.csv in the current layout (id, selection period, overfitting statistics), not the older
        one of in-sample fold means and holdout metrics only."""
        return bool(self.strategies) and "id" in self.strategies[0]

    @property
    def trading_info(self):
        """summary.json's "trading" object ({} when absent)."""
        info = (self.summary or {}).get("trading")
        return info if isinstance(info, dict) else {}

    def objective_name(self, j):
        objectives = self.trading_info.get("objectives") if self.trading else None
        if isinstance(objectives, list) and len(objectives) == self.n_objectives:
            return objective_label(objectives[j])
        names = OBJECTIVE_NAMES.get(self.problem, ())
        return names[j] if j < len(names) and len(names) == self.n_objectives else (
            "fitness" if self.n_objectives == 1 else f"objective {j}")

    def stat(self, name, j):
        """The logbook column of statistic `name` (min/max/avg/std) of objective j."""
        return self.logbook[name if self.n_objectives == 1 else f"{name}_{j}"]

    def best_stat(self, j):
        """'min' for a minimised objective, 'max' for a maximised one."""
        return "min" if self.weights[j] < 0 else "max"

    @property
    def islands(self):
        return sorted(set(self.logbook["island"].tolist()))

    @property
    def n_islands(self):
        configured = self.config.get("islands")
        return max(configured if isinstance(configured, int) else 0, max(self.islands) + 1)

    @property
    def generation(self):
        """The last generation in the logbook."""
        return int(self.logbook["gen"].max())

    @property
    def evaluations(self):
        return int(self.logbook["nevals"].sum())


def is_trading(problem):
    return problem in TRADING_PROBLEMS


def objective_label(name):
    """'sharpe' -> 'Sharpe', 'information_ratio' -> 'information ratio', 'max_drawdown' -> 'max drawdown'."""
    name = str(name)
    return _OBJECTIVE_LABELS.get(name.lower(), name.replace("_", " "))


def load_run(path):
    """Read and validate the run folder at `path`; raises ReportError with what to fix."""
    path = Path(path)
    if not path.exists():
        raise ReportError(f"run folder {path} does not exist. Give the folder a run wrote (--out of `hpcevo run`, "
                          f"e.g. runs/trading-20250101-120000), copied from the cluster as a whole.")
    if not path.is_dir():
        raise ReportError(f"{path} is a file, not a run folder. Give the folder that holds its config.toml and "
                          f"logbook.csv.")
    absent = [name for name in ("config.toml", "logbook.csv") if not (path / name).is_file()]
    if absent == ["logbook.csv"]:
        raise ReportError(f"{path} has a config.toml but no logbook.csv yet: a run writes its results after its "
                          f"first checkpoint (every checkpoint_every epochs) and at the end. Try again later.")
    if absent:
        raise ReportError(f"{path} is not an hpcevo run folder: it lacks {' and '.join(absent)}. A run folder holds "
                          f"config.toml, logbook.csv, migrations.csv, hall_of_fame.json, summary.json and "
                          f"timings.csv (and strategies.csv for trading runs); give the folder `hpcevo run --out` "
                          f"wrote.")
    config = _config(path / "config.toml")
    notes = []
    logbook, n_objectives = _logbook(path / "logbook.csv", notes)
    run = Run(path, config, logbook, n_objectives, (1.0,) * n_objectives, notes=notes)
    run.hall_of_fame, weights = _optional(run, "hall_of_fame.json", _hall_of_fame, n_objectives) or (None, None)
    if weights is not None:
        run.weights = weights
    run.migrations = _optional(run, "migrations.csv", _migrations, run.notes)
    run.summary = _optional(run, "summary.json", _summary)
    timings = _optional(run, "timings.csv", lambda p: read_csv(p, ("epoch", "seconds"), {"epoch": to_int},
                                                                notes=run.notes)[1])
    run.timings = None if timings is None else _per_epoch(timings)
    if run.trading:
        run.strategies = _optional(run, "strategies.csv", _strategies)
        # an older run's strategies.csv (no id column) came without returns.csv and trades.csv: no note then
        notes = run.notes if run.strategies_have_ids else run.page_notes
        for name, reader, attribute in (("returns.csv", _returns, "returns"), ("trades.csv", _trades, "trades")):
            if (run.path / name).is_file():
                setattr(run, attribute, reader(run.path / name, run.notes))
            else:
                notes.append(f"{name} is missing: {_WHY[name]}.")
    return run


def _optional(run, name, reader, *args):
    file = run.path / name
    if not file.is_file():
        run.notes.append(f"{name} is missing: {_WHY[name]}.")
        return None
    return reader(file, *args)


def _config(file):
    config = read_toml(file)
    for key in ("problem", "generations", "migration_interval"):
        if key not in config:
            raise ReportError(f"{file} has no {key} setting: it is not the resolved config.toml an hpcevo run "
                              f"writes. Copy it again from the run folder.")
    for key in ("generations", "migration_interval"):
        if not isinstance(config[key], int) or isinstance(config[key], bool) or config[key] < 1:
            raise ReportError(f"{file}: {key} must be an integer >= 1, got {config[key]!r}.")
    if not isinstance(config.get("problem_options", {}), dict):
        raise ReportError(f"{file}: [problem_options] must be a table.")
    return config


def _logbook(file, notes):
    header, rows = read_csv(file, ("island", "gen", "nevals"), {c: to_int for c in _LOG_INTS}, notes=notes)
    n_objectives = 1 if "min" in header else sum(1 for c in header if c.startswith("min_"))
    stats = [f"{s}{suffix}" for suffix in ([""] if n_objectives == 1 else [f"_{j}" for j in range(n_objectives)])
             for s in ("min", "max", "avg", "std")]
    lacking = [c for c in stats if c not in header]
    if not n_objectives or lacking:
        raise ReportError(f"{file} line 1: the header lacks the statistics columns "
                          f"{', '.join(lacking) or 'min, max, avg, std'} (it has {', '.join(header)}).")
    if not rows:
        raise ReportError(f"{file} holds no rows: the run has not written any generation yet. Try again later.")
    columns = {c: np.array([row[c] for row in rows], dtype=np.int64 if c in _LOG_INTS else np.float64)
               for c in header}
    return columns, n_objectives


def _hall_of_fame(file, n_objectives):
    data = read_json(file)
    weights = data.get("weights") if isinstance(data, dict) else None
    entries = data.get("individuals") if isinstance(data, dict) else None
    if not _numbers(weights, n_objectives) or not isinstance(entries, list):
        raise ReportError(f"{file}: expected an object with \"weights\" ({n_objectives} number(s), as many as the "
                          f"logbook's objectives) and \"individuals\" (a list). Copy it again from the run folder.")
    for k, entry in enumerate(entries):
        if not (isinstance(entry, dict) and _numbers(entry.get("fitness"), n_objectives)
                and isinstance(entry.get("individual"), str)):
            raise ReportError(f"{file}: individual {k} needs \"fitness\" ({n_objectives} number(s)) and "
                              f"\"individual\" (text). Copy it again from the run folder.")
        if "position" not in entry and "rank" in entry:  # run folders written before the key was renamed
            entry["position"] = entry.pop("rank")
    return entries, tuple(float(w) for w in weights)


def _numbers(values, n):
    return (isinstance(values, list) and len(values) == n
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values))


def _migrations(file, notes):
    types = {"epoch": to_int, "src": to_int, "dst": to_int, "count": to_int, "best_fitness": to_floats}
    return read_csv(file, tuple(types), types, notes=notes)[1]


def _summary(file):
    data = read_json(file)
    if not isinstance(data, dict) or data.get("status") not in ("running", "stopped", "complete"):
        raise ReportError(f"{file}: expected an object whose \"status\" is running, stopped or complete. Copy it "
                          f"again from the run folder.")
    return data


_STRATEGY_TEXT = ("id", "expression", "market", "is_start", "is_end", "sel_start", "sel_end", "oos_start", "oos_end")


def _strategies(file):
    """strategies.csv: the current layout (id, expression, market, size, selection_rank, significant, period
    dates, then is_/sel_/oos_ metrics and the overfitting statistics) or the older one (expression, market,
    is_ and oos_ metrics, with integer oos_trades and oos_bars)."""
    types = {c: to_text for c in _STRATEGY_TEXT}
    types.update(size=to_int, significant=to_bool)
    header, rows = read_csv(file, ("expression", "market"), types)
    if "id" not in header:
        types.update(oos_trades=to_int, oos_bars=to_int)
        header, rows = read_csv(file, ("expression", "market", "is_sharpe", "oos_sharpe"), types)
        return rows
    required = ("size", "selection_rank", "significant", "is_sharpe", "sel_sharpe", "oos_sharpe")
    missing = [c for c in required if c not in header]
    if missing:
        raise ReportError(f"{file} line 1: the header lacks the column(s) {', '.join(missing)} (it has "
                          f"{', '.join(header)}). Copy it again from the run folder.")
    return rows


def _returns(file, notes):
    """returns.csv (date, market, period, BH, S1, ...) as {market: Returns}, markets in file order."""
    header, rows = read_csv(file, ("date", "market", "period"), {c: to_text for c in ("date", "market", "period")},
                            notes=notes)
    ids = [c for c in header if c not in ("date", "market", "period")]
    by_market = {}
    for row in rows:
        by_market.setdefault(row["market"], []).append(row)
    found = {}
    for market, market_rows in by_market.items():
        try:
            dates = np.array([row["date"] for row in market_rows], dtype="datetime64[D]")
        except ValueError:
            raise ReportError(f"{file}: market {market} has a date that is not YYYY-MM-DD. Copy it again from the "
                              f"run folder.") from None
        order = np.argsort(dates, kind="stable")
        found[market] = Returns(market, dates[order], np.array([row["period"] for row in market_rows])[order],
                                {i: np.array([row[i] for row in market_rows], dtype=np.float64)[order] for i in ids})
    return found


def _trades(file, notes):
    types = {c: to_text for c in ("id", "expression", "market", "direction", "entry_date", "exit_date", "period")}
    types.update(entry_price=to_float, exit_price=to_float, bars=to_int, open=to_bool)
    required = ("id", "market", "bars", "return", "open", "period")
    return read_csv(file, required, types, notes=notes)[1]


def epoch_ends(interval, generation):
    """The generation at which each epoch ended, for a run that has reached `generation`.

    Epochs are consecutive chunks of `interval` generations from generation 0, the last one possibly shorter;
    a run stopped or ended inside a chunk and then resumed or extended finishes that chunk (hpcevo 0.2 on).
    """
    if interval < 1:
        raise ValueError(f"interval must be >= 1, got {interval}")
    return [min(end, generation) for end in range(interval, generation + interval, interval)]


def _per_epoch(timings):
    """timings.csv's rows as seconds per epoch: the parts of an epoch split by a stop and resume added."""
    seconds = {}
    for row in timings:
        seconds[row["epoch"]] = seconds.get(row["epoch"], 0.0) + row["seconds"]
    return [seconds[epoch] for epoch in sorted(seconds)]


def migration_generations(epochs, ends):
    """The generations after which migrations happened: epoch e (0-based) ended at ends[e]."""
    return sorted({ends[e] for e in epochs if e < len(ends)})


def migration_matrix(migrations, n_islands):
    """Total migrants sent from island src (rows) to island dst (columns) over the whole run."""
    matrix = np.zeros((n_islands, n_islands), dtype=np.int64)
    for row in migrations:
        if row["src"] < n_islands and row["dst"] < n_islands:
            matrix[row["src"], row["dst"]] += row["count"]
    return matrix


# strategies.csv columns that describe a strategy rather than measure it (left out when finding duplicates)
_NOT_METRICS = ("id", "expression", "size", "selection_rank", "significant")


def _signature(rows):
    """Everything strategies.csv measured about one strategy, on every market: equal for strategies that trade
    alike (e.g. gt(a,b) and lt(b,a)). Values as repr so that nan equals nan."""
    return tuple(sorted((row["market"], tuple((c, repr(v)) for c, v in row.items() if c not in _NOT_METRICS))
                        for row in rows))


def _headline(rows):
    """The row that speaks for a strategy: the portfolio's when there are several instruments, else the one
    market's; a mean over the markets when there is no portfolio row."""
    if len(rows) == 1:
        return rows[0]
    for row in rows:
        if row["market"] == "portfolio":
            return row
    mean = dict(rows[0], market="mean")
    for column, value in rows[0].items():
        if isinstance(value, float):
            mean[column] = float(np.mean([row[column] for row in rows]))
    return mean


def _id_number(text):
    digits = text[1:] if text[:1] == "S" else ""
    return int(digits) if digits.isdigit() else float("inf")


def reported_strategies(run):
    """Buy-and-hold and every strategy of strategies.csv (current layout) in selection order, as dicts: id,
    expression, size, significant, rows (one per market), row (the headline row, see _headline), and duplicate_of
    (the id of an earlier strategy with the same expression or identical metrics, else None)."""
    by_id = {}
    for row in run.strategies or []:
        by_id.setdefault(row["id"], []).append(row)

    def rank(item):
        sid, rows = item
        if sid == "BH" or rows[0]["expression"] == "buy_and_hold":
            return (0, 0.0, 0.0)
        value = rows[0]["selection_rank"]
        return (1, value if np.isfinite(value) else float("inf"), _id_number(sid))

    found, seen_expressions, seen_metrics = [], {}, {}
    for sid, rows in sorted(by_id.items(), key=rank):
        expression, signature = rows[0]["expression"], _signature(rows)
        duplicate = seen_expressions.get(expression) or seen_metrics.get(signature)
        seen_expressions.setdefault(expression, sid)
        seen_metrics.setdefault(signature, sid)
        head = _headline(rows)
        found.append({"id": sid, "expression": expression, "size": rows[0]["size"],
                      "significant": rows[0]["significant"], "rows": rows, "row": head, "duplicate_of": duplicate,
                      "is_sharpe": head["is_sharpe"], "sel_sharpe": head["sel_sharpe"],
                      "oos_sharpe": head["oos_sharpe"]})
    return found


def top_strategies(run, n):
    """The `n` best distinct trading strategies, as dicts with id, expression, is_sharpe and oos_sharpe (and, from
    the current strategies.csv, sel_sharpe, row and rows; see reported_strategies).

    From the current strategies.csv: the reported strategies in selection order (S1 best on the selection
    period; the holdout never chose). From an older strategies.csv: by in-sample Sharpe (means over the
    instruments). Else from hall_of_fame.json (a run in progress; oos_sharpe None). One entry per distinct
    strategy: a repeated expression, or identical metrics (fitness), is left out.
    """
    if run.strategies_have_ids:
        return [s for s in reported_strategies(run) if s["id"] != "BH" and s["duplicate_of"] is None][:n]
    if run.strategies is not None:
        by_expression = {}
        for row in run.strategies:
            if row["expression"] != "buy_and_hold":
                by_expression.setdefault(row["expression"], []).append(row)
        found = [{"expression": e, "is_sharpe": float(np.mean([r["is_sharpe"] for r in rows])),
                  "oos_sharpe": float(np.mean([r["oos_sharpe"] for r in rows])), "signature": _signature(rows)}
                 for e, rows in by_expression.items()]
    else:
        seen = {}
        for entry in run.hall_of_fame or []:
            seen.setdefault(entry["individual"], tuple(repr(float(v)) for v in entry["fitness"]))
        found = [{"expression": e, "is_sharpe": float(f[0]), "oos_sharpe": None, "signature": f}
                 for e, f in seen.items()]
    found.sort(key=lambda s: (-s["is_sharpe"], s["expression"]))
    distinct, signatures = [], set()
    for s in found:
        signature = s.pop("signature")
        if signature not in signatures:  # expressions that trade alike: the first (by name) stands for them
            signatures.add(signature)
            distinct.append(s)
    for k, s in enumerate(distinct, 1):
        s["id"] = f"S{k}"
    return distinct[:n]
