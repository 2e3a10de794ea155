"""Market data for the trading workload: the embedded S&P 500 / NASDAQ sets or a user's CSV / Parquet file.

`load_markets(spec)` reads the data once with pandas, validates it and returns one `Market` per instrument:
plain read-only NumPy arrays, so nothing downstream touches pandas.  Every problem is reported as a `DataError`
(a `UserError`: one paragraph, exit status 2) that names the file, the instrument, the column and the data row
(counted from 1 after the header) with its date, and says how to fix it.

An optional `rf` column (any case) holds the risk-free rate as an ANNUAL rate in decimal form: 0.05 is 5% a year.
Its values must lie in [-0.05, 1.0], so a column written in percent (5.0 for 5%) is refused, with the hint to
divide it by 100.  A daily or monthly rate cannot be told apart from a small annual one: convert it first.

Checks the loader does not make on its own (the caller decides): `stale_opens` notes series whose open is just
the previous close (common in old index data), and `check_periods_per_year` compares a problem's
periods_per_year with the bar frequency measured from the dates.
"""

import csv
import difflib
import gzip
import importlib.util
import io
import warnings
import zlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import UserError

__all__ = ["Market", "DataError", "load_markets", "EMBEDDED_MARKETS", "RF_RANGE", "STALE_OPEN_LIMIT",
           "head", "stale_open_share", "stale_opens", "check_periods_per_year"]

EMBEDDED_MARKETS = ("sp500", "nasdaq")
PRICE_COLUMNS = ("open", "high", "low", "close")
VALUE_COLUMNS = PRICE_COLUMNS + ("volume",)
DATE_COLUMNS = ("date", "datetime", "timestamp", "time")
SYMBOL_COLUMNS = ("symbol", "ticker")
RF_COLUMN = "rf"
RF_RANGE = (-0.05, 1.0)  # annual risk-free rate, decimal: anything outside is a mistake (percent, wrong column)
PARQUET_SUFFIXES = (".parquet", ".pq")
STALE_OPEN_LIMIT = 0.2  # share of bars with open == previous close above which opens look stale
_STALE_YEAR_LIMIT = 0.5  # ... and the share that marks one calendar year as stale
_PERIODS_TOLERANCE = 0.25  # periods_per_year may differ from the measured bars a year by this fraction
_EARLIEST, _LATEST = np.datetime64("1700-01-01"), np.datetime64("2200-12-31")


class DataError(UserError):
    """Market data that cannot be used: a missing or malformed file, column or value."""


@dataclass(frozen=True, eq=False)
class Market:
    """One instrument's daily bars as read-only, C-contiguous NumPy arrays of equal length.

    `dates` is datetime64[D]; the prices and volume are float64.  `rf` is the annual risk-free rate in decimal
    form (0.05 = 5% a year) per bar, float64, or None when the data have no rf column.  Arrays passed in are
    copied (and converted), so a Market never shares writable memory with its caller.
    """

    name: str
    dates: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    source: str = ""
    rf: np.ndarray | None = None

    def __post_init__(self):
        dates = np.array(self.dates, dtype="datetime64[D]", order="C")
        dates.flags.writeable = False
        object.__setattr__(self, "dates", dates)
        for column in VALUE_COLUMNS + (RF_COLUMN,):
            if column == RF_COLUMN and self.rf is None:
                continue
            values = np.array(getattr(self, column), dtype=np.float64, order="C")
            if values.shape != dates.shape or values.ndim != 1:
                raise ValueError(f"Market {self.name!r}: {column} has shape {values.shape}, dates {dates.shape}")
            values.flags.writeable = False
            object.__setattr__(self, column, values)

    @property
    def n_bars(self):
        """The number of bars (rows)."""
        return len(self.dates)

    def __repr__(self):
        span = f"{self.dates[0]}..{self.dates[-1]}" if self.n_bars else "empty"
        return f"Market({self.name!r}, {self.n_bars} bars, {span}, source={self.source!r})"


def load_markets(spec, min_bars=0, *, longest_window=None):
    """The markets named by `spec`, validated: a list of `Market`, one per instrument.

    `spec` is "sp500", "nasdaq" or "sp500+nasdaq" (the embedded data sets), or the path of a CSV file
    (optionally gzip-compressed, `.gz`) or a Parquet file (needs pyarrow).  A file with a `symbol` or `ticker`
    column holds one instrument per symbol (in order of first appearance); otherwise it is one instrument named
    after the file.  An instrument with fewer than `min_bars` bars is refused; `longest_window`, when given, is
    quoted in that message (the caller computes `min_bars` from it and the validation periods).  An optional
    `rf` column (annual risk-free rate, decimal) fills `Market.rf`; see the module docstring.
    """
    text = str(spec).strip()
    names = [part.strip() for part in text.split("+")]
    if text and all(name in EMBEDDED_MARKETS for name in names):
        markets = []
        for name in names:
            payload = resources.files("hpcevo").joinpath("data").joinpath(f"{name}.csv.gz").read_bytes()
            source = f"embedded {name}"
            label = _label(source)
            markets += _from_frame(_parse_csv(_decode(gzip.decompress(payload), label), label), name, source)
        return _check_lengths(markets, min_bars, longest_window)
    path = Path(text)
    return _check_lengths(_from_frame(_read_file(path), _stem(path), str(path)), min_bars, longest_window)


def _label(source):
    """How messages name a source: "embedded data set sp500" or "data file PATH"."""
    if source.startswith("embedded "):
        return f"embedded data set {source.removeprefix('embedded ')}"
    return f"data file {source}"


# ---------------------------------------------------------------------------------------------------------------
# Reading the file into a DataFrame


def _stem(path):
    name = path.name
    for suffix in (".gz", ".csv", ".txt") + PARQUET_SUFFIXES:
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
    return name


def _read_file(path):
    label = _label(str(path))
    if not path.exists():
        hint = ""
        close = difflib.get_close_matches(str(path), [*EMBEDDED_MARKETS, "sp500+nasdaq"], n=1)
        if close:
            hint = f' Did you mean the embedded data set "{close[0]}"?'
        raise DataError(f"{label} does not exist: check the path given to --data.{hint} The embedded data sets "
                        f"are {', '.join(EMBEDDED_MARKETS)} and sp500+nasdaq.")
    if path.is_dir():
        raise DataError(f"{label} is a directory: give the path of a CSV or Parquet file to --data.")
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xls", ".ods"):
        raise DataError(f"{label} is a spreadsheet, which hpcevo does not read: export the sheet as CSV "
                        f"(comma-separated, with a header row) and pass that file to --data.")
    if suffix in PARQUET_SUFFIXES:
        return _read_parquet(path, label)
    try:
        payload = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{label} cannot be read: {exc.strerror or exc}. Check the file's permissions.") from None
    if suffix == ".gz" or payload[:2] == b"\x1f\x8b":
        try:
            payload = gzip.decompress(payload)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(f"{label} is not a valid gzip file ({_exc_text(exc)}): recompress it with gzip, or "
                            f"decompress it and pass the plain CSV file.") from None
    return _parse_csv(_decode(payload, label), label)


def _decode(payload, label):
    try:
        text = payload.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        offset = exc.start + (3 if payload.startswith(b"\xef\xbb\xbf") else 0)
        line = payload[:offset].count(b"\n") + 1
        raise DataError(f"{label} is not valid UTF-8: line {line} holds the byte {payload[offset:offset + 1]!r} "
                        f"(at byte offset {offset}). Save the file with UTF-8 encoding (for example \"CSV UTF-8\" "
                        f"in a spreadsheet program) and try again.") from None
    if not text.strip():
        raise DataError(f"{label} is empty: it needs a header line (date,open,high,low,close,volume) and one line "
                        f"per bar.")
    return text


def _exc_text(exc):
    """An exception's message on one line, without a final period (messages append their own)."""
    return " ".join(str(exc).split()).rstrip(".") or type(exc).__name__


def _parse_csv(text, label):
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_filter=False, index_col=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, csv.Error) as exc:
        message = _exc_text(exc)
        raise DataError(f"{label} cannot be parsed as CSV: {message}. Check that it is comma-separated and that "
                        f"every line has as many fields as the header.") from None
    return frame


def _read_parquet(path, label):
    if importlib.util.find_spec("pyarrow") is None:
        raise DataError(f"{label} is a Parquet file, and reading Parquet needs pyarrow, which is not installed: "
                        f"pip install pyarrow (or save the data as CSV).")
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises many types (ArrowInvalid, OSError, ...)
        message = _exc_text(exc)
        raise DataError(f"{label} cannot be read as Parquet: {message}. Check that it is a complete Parquet "
                        f"file.") from None
    if _find_column(frame.columns, DATE_COLUMNS) is None and _is_date_index(frame.index):
        frame = frame.rename_axis(frame.index.name or "date").reset_index()
    return frame.reset_index(drop=True)


def _is_date_index(index):
    if isinstance(index, pd.MultiIndex):
        return False
    return pd.api.types.is_datetime64_any_dtype(index.dtype) or str(index.name).strip().lower() in DATE_COLUMNS


# ---------------------------------------------------------------------------------------------------------------
# Validation


def _find_column(columns, wanted):
    """The first column whose stripped, lower-cased name is in `wanted` (None if none is)."""
    for column in columns:
        if str(column).strip().lower() in wanted:
            return column
    return None


def _found(columns):
    return ", ".join(f'"{c}"' for c in columns) if len(columns) else "none"


class _Where:
    """Builds the "data file X, instrument Y, column Z, data row N (date D)" prefix of messages."""

    def __init__(self, label, symbols, dates_text):
        self.label, self.symbols, self.dates_text = label, symbols, dates_text

    def __call__(self, row, column=None, show_date=True):
        parts = [self.label]
        if self.symbols is not None:
            parts.append(f"instrument {self.symbols[row]}")
        if column is not None:
            parts.append(f'column "{column}"')
        parts.append(f"data row {row + 1}{self.date(row) if show_date else ''}")
        return ", ".join(parts)

    def date(self, row):
        text = self.dates_text[row] if self.dates_text is not None else ""
        return f" (date {text})" if text else ""


_KNOWN_COLUMNS = VALUE_COLUMNS + DATE_COLUMNS + SYMBOL_COLUMNS + (RF_COLUMN,)


def _columns(frame, label):
    columns = [str(c) for c in frame.columns]
    lowered = [c.strip().lower() for c in columns]
    for column in columns:  # read_csv renames a repeated header "close" to "close.1"
        base, dot, number = column.rpartition(".")
        if dot and number.isdigit() and base.strip().lower() in _KNOWN_COLUMNS \
                and base in columns:
            raise DataError(f"{label}: the column {base.strip().lower()} appears twice (\"{base}\" twice). Remove "
                            f"or rename one of them.")
    for name in set(lowered):
        if lowered.count(name) > 1 and name in _KNOWN_COLUMNS:
            same = [c for c, low in zip(columns, lowered) if low == name]
            raise DataError(f"{label}: the column {name} appears twice ({_found(same)}); column names are read "
                            f"without regard to case. Remove or rename one of them.")
    if len(columns) == 1 and any(sep in columns[0] for sep in (";", "\t", "|")):
        sep = next(s for s in (";", "\t", "|") if s in columns[0])
        raise DataError(f"{label} has a single column {columns[0]!r}: it seems to use {sep!r} as separator, but "
                        f"hpcevo reads comma-separated files. Save it with commas between the fields.")
    chosen = {}
    for name in VALUE_COLUMNS:
        if name not in lowered:
            close = difflib.get_close_matches(name, lowered, n=1, cutoff=0.6)
            hint = f' Did you mean "{columns[lowered.index(close[0])]}"?' if close else ""
            raise DataError(f'{label} has no "{name}" column.{hint} Columns found: {_found(columns)}. hpcevo needs '
                            f"the columns date, open, high, low, close and volume (in any case); rename the "
                            f"column, or add a volume column of zeros if the data have no volume.")
        chosen[name] = frame.columns[lowered.index(name)]
    date = _find_column(frame.columns, DATE_COLUMNS)
    if date is None:
        close = difflib.get_close_matches("date", lowered, n=1, cutoff=0.6)
        hint = f' Did you mean "{columns[lowered.index(close[0])]}"?' if close else ""
        raise DataError(f"{label} has no date column.{hint} Columns found: {_found(columns)}. Name the column "
                        f"that holds each bar's date one of {', '.join(DATE_COLUMNS)} (in any case).")
    chosen["date"] = date
    chosen["symbol"] = _find_column(frame.columns, SYMBOL_COLUMNS)
    chosen[RF_COLUMN] = _find_column(frame.columns, (RF_COLUMN,))
    return chosen


def _as_text(series):
    """Cells as stripped strings ("" for missing), for messages and parsing."""
    if pd.api.types.is_string_dtype(series.dtype) or series.dtype == object:
        series = series.astype(object).where(series.notna(), "")
        return series.astype(str).str.strip().to_numpy(dtype=object)
    return series.astype(str).fillna("NaN").to_numpy(dtype=object)  # pandas 3 keeps NaN through astype(str)


def _parse_dates(series, raw, where, column):
    """datetime64[D] array; raises DataError at the first cell that is not a date."""
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        parsed = series
    else:
        texts = pd.Series(raw, dtype=object)
        parsed = None
        try:
            parsed = pd.to_datetime(texts, format="ISO8601", errors="coerce")
        except (ValueError, TypeError, OverflowError) as exc:
            _date_failure(exc, where, column)
        if parsed.notna().sum() == 0:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    parsed = pd.to_datetime(texts, errors="coerce")
                except (ValueError, TypeError, OverflowError) as exc:
                    _date_failure(exc, where, column)
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_localize(None)
    days = parsed.to_numpy().astype("datetime64[D]")
    bad = np.isnat(days) | (days < _EARLIEST) | (days > _LATEST)
    if bad.any():
        row = int(np.argmax(bad))
        text = where.dates_text[row]
        if text in ("", "NaT", "NaN", "nan", "None"):
            what = "the date is missing" + (f' ("{text}")' if text else " (empty cell)")
        else:
            what = f'"{text}" is not a date'
        raise DataError(f"{where(row, column, show_date=False)}: {what}. Write dates as YYYY-MM-DD (for example "
                        f"2020-01-31), one per row, between {_EARLIEST} and {_LATEST}.")
    return days


def _date_failure(exc, where, column):
    message = _exc_text(exc)
    raise DataError(f'{where.label}, column "{column}": the dates cannot be parsed ({message}). Write dates as '
                    f"YYYY-MM-DD (for example 2020-01-31), all in the same format and time zone.") from None


def _first(masks):
    """(row, column) of the earliest True over several per-column masks (column order breaks ties), or None."""
    best = None
    for column, mask in masks:
        if mask.any():
            row = int(np.argmax(mask))
            if best is None or row < best[0]:
                best = (row, column)
    return best


def _parse_floats(texts):
    """Python's float() of each text (exact round trip, unlike pandas 2's fast parser); NaN where it fails."""
    try:
        return texts.astype(np.float64)
    except (ValueError, TypeError, OverflowError):
        numbers = np.full(len(texts), np.nan)
        for i, text in enumerate(texts):
            try:
                numbers[i] = float(text)
            except (ValueError, TypeError, OverflowError):
                pass
        return numbers


def _numbers(frame, chosen, where):
    names = VALUE_COLUMNS + ((RF_COLUMN,) if chosen[RF_COLUMN] is not None else ())
    values, raws = {}, {}
    for name in names:
        series = frame[chosen[name]]
        raw = _as_text(series)
        if pd.api.types.is_bool_dtype(series.dtype):
            numbers = np.full(len(series), np.nan)
        elif pd.api.types.is_numeric_dtype(series.dtype):
            numbers = series.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            numbers = _parse_floats(raw)
        values[name], raws[name] = numbers, raw
    hit = _first((chosen[n], ~np.isfinite(values[n])) for n in names)
    if hit:
        row, column = hit
        name = str(column).strip().lower()
        text = raws[name][row]
        if text == "" or text.lower() in ("nan", "na", "n/a", "null", "none", "-", "#n/a"):
            what = f'the value is missing ("{text}")' if text else "the value is missing (empty cell)"
            fix = "Fill in the value or remove the row"
        elif np.isnan(values[name][row]):
            what = f'"{text}" is not a number'
            fix = "Write plain numbers with a dot as the decimal point and no thousands separators or currency signs"
        else:
            what = f'"{text}" is not finite'
            fix = "Replace it with the real value or remove the row"
        if name == RF_COLUMN:
            fix += " (rf is the annual risk-free rate in decimal form, 0.05 for 5% a year; remove the rf column if " \
                   "the data have none)"
        raise DataError(f"{where(row, column)}: {what}. {fix}.")
    hit = _first((chosen[n], values[n] <= 0) for n in PRICE_COLUMNS)
    if hit:
        row, column = hit
        text = raws[str(column).strip().lower()][row]
        raise DataError(f"{where(row, column)}: prices must be positive, got {text}. Fix the value or remove the "
                        f"row (returns are computed from price ratios).")
    negative = values["volume"] < 0
    if negative.any():
        row = int(np.argmax(negative))
        raise DataError(f"{where(row, chosen['volume'])}: volume must not be negative, got {raws['volume'][row]}. "
                        f"Fix the value (use 0 where the volume is unknown).")
    if RF_COLUMN in values:
        _check_rf(values[RF_COLUMN], raws[RF_COLUMN], where, chosen[RF_COLUMN])
    o, h, lo, c = (values[n] for n in PRICE_COLUMNS)
    checks = ((h < lo, "high is below low"),
              (h < np.maximum(o, c), "high is below the open or the close"),
              (lo > np.minimum(o, c), "low is above the open or the close"))
    hit = _first((what, mask) for mask, what in checks)
    if hit:
        row, what = hit
        shown = ", ".join(f"{n} {raws[n][row]}" for n in PRICE_COLUMNS)
        raise DataError(f"{where(row)}: {what} ({shown}). Each bar needs low <= open, close <= high; check "
                        f"whether the columns are swapped or the row is mistyped.")
    return values


def _check_rf(rates, raw, where, column):
    low, high = RF_RANGE
    outside = (rates < low) | (rates > high)
    if not outside.any():
        return
    row = int(np.argmax(outside))
    rate = rates[row]
    if high < rate <= 100:
        fix = (f"It looks like a percentage: rf is an annual rate in decimal form (0.05 for 5% a year), so divide "
               f"the column by 100 ({raw[row]} becomes {rate / 100:g})")
    else:
        fix = ("rf is an annual rate in decimal form (0.05 for 5% a year): fix the value, or remove the rf column "
               "if it holds something else")
    raise DataError(f"{where(row, column)}: the risk-free rate {raw[row]} is outside [{low:g}, {high:g}]. {fix}.")


def _from_frame(frame, default_name, source):
    label = _label(source)
    if frame.shape[0] == 0:
        raise DataError(f"{label} has a header but no data rows: add one line per bar below the header.")
    chosen = _columns(frame, label)
    symbols = None
    if chosen["symbol"] is not None:
        symbols = _as_text(frame[chosen["symbol"]])
        empty = symbols == ""
        if empty.any():
            row = int(np.argmax(empty))
            raise DataError(f'{label}, column "{chosen["symbol"]}", data row {row + 1}: the symbol is missing. '
                            f"Fill in which instrument the row belongs to, or remove the row.")
    dates_text = _as_text(frame[chosen["date"]])
    where = _Where(label, symbols, dates_text)
    days = _parse_dates(frame[chosen["date"]], dates_text, where, chosen["date"])
    where.dates_text = np.array([str(d) for d in days], dtype=object)
    values = _numbers(frame, chosen, where)
    if symbols is None:
        groups = [(default_name, np.arange(len(days)))]
    else:
        order = list(dict.fromkeys(symbols.tolist()))
        groups = [(name, np.flatnonzero(symbols == name)) for name in order]
    markets = []
    for name, rows in groups:
        _check_order(days[rows], rows, where, chosen["date"])
        rf = values[RF_COLUMN][rows] if RF_COLUMN in values else None
        markets.append(Market(name=name, dates=days[rows], source=source, rf=rf,
                              **{n: values[n][rows] for n in VALUE_COLUMNS}))
    return markets


def _check_order(days, rows, where, column):
    if len(days) < 2:
        return
    step = days[1:] - days[:-1]
    bad = step <= np.timedelta64(0, "D")
    if not bad.any():
        return
    i = int(np.argmax(bad)) + 1
    here, before = int(rows[i]), int(rows[i - 1])
    if days[i] == days[i - 1]:
        raise DataError(f'{where(here, column)}: duplicate date {days[i]}, also in data row {before + 1}. Keep one '
                        f"bar per day (remove the duplicate row); intraday data must be aggregated to daily bars.")
    newest_first = len(days) > 2 and (step < np.timedelta64(0, "D")).all()
    hint = " All its rows are newest-first: reverse their order." if newest_first else ""
    raise DataError(f"{where(here, column)}: dates are not in increasing order: {days[i]} is earlier than "
                    f"{days[i - 1]} in data row {before + 1}. Sort the rows by date, oldest first.{hint}")


def _check_lengths(markets, min_bars, longest_window):
    window = f" {longest_window}" if longest_window is not None else ""
    for market in markets:
        if market.n_bars < min_bars:
            label = _label(market.source)
            which = f", instrument {market.name}," if len(markets) > 1 else ""
            raise DataError(f"{label}{which} needs at least {min_bars} bars (longest indicator window{window} + "
                            f"validation periods): has {market.n_bars}. Use a longer history, or fewer or shorter "
                            f"validation periods.")
    return markets


# ---------------------------------------------------------------------------------------------------------------
# Realism checks on loaded markets (the caller decides whether to warn or refuse)


def _market_label(market):
    return f"{_label(market.source)}: instrument {market.name}" if market.source else f"instrument {market.name}"


def head(market, stop):
    """The market's first `stop` bars as a Market of their own (the same name and source)."""
    rf = None if market.rf is None else market.rf[:stop]
    return Market(market.name, market.dates[:stop], market.open[:stop], market.high[:stop], market.low[:stop],
                  market.close[:stop], market.volume[:stop], market.source, rf)


def stale_open_share(market, start=0, stop=None):
    """The share of bars t in [max(start, 1), stop) whose open equals the previous bar's close exactly.

    `start` and `stop` are bar indices read like a slice (None is the end, negative counts from the end); bar 0
    has no previous close and never counts.  0.0 when the range holds no such bar.
    """
    start, stop, _ = slice(start, stop).indices(market.n_bars)
    start = max(start, 1)
    if stop <= start:
        return 0.0
    return float(np.mean(market.open[start:stop] == market.close[start - 1:stop - 1]))


def stale_opens(market):
    """None when the opens look real, else a one-sentence note saying where they are just the previous close.

    The opens look real when the share of stale opens (`stale_open_share`) over the whole series is at most
    `STALE_OPEN_LIMIT` and no calendar year has more than half of its bars stale (a year's bars are those dated
    in it, bar 0 excluded).  Otherwise the note names the first to the last stale year, from the first bar dated
    in the first of them to the last bar dated in the last, and the share over all bars in that span (years in
    between included); with no stale year it quotes the share over the whole series.
    """
    if market.n_bars < 2:
        return None
    same = market.open[1:] == market.close[:-1]
    years = market.dates[1:].astype("datetime64[Y]")
    unique, inverse = np.unique(years, return_inverse=True)
    per_year = np.bincount(inverse, weights=same) / np.bincount(inverse)
    stale = unique[per_year > _STALE_YEAR_LIMIT]
    overall = float(same.mean())
    if len(stale) == 0:
        if overall <= STALE_OPEN_LIMIT:
            return None
        return (f"{market.name}: open equals the previous close on {overall:.0%} of bars from {market.dates[0]} to "
                f"{market.dates[-1]} (more than {STALE_OPEN_LIMIT:.0%}), so many opens may be stale")
    first, last = stale[0], stale[-1]
    all_years = market.dates.astype("datetime64[Y]")
    span = np.flatnonzero((all_years >= first) & (all_years <= last))
    share = stale_open_share(market, span[0], span[-1] + 1)
    years_text = f"year {first}" if first == last else f"years {first}-{last}"
    return (f"{market.name}: open equals the previous close on {share:.0%} of bars from {market.dates[span[0]]} to "
            f"{market.dates[span[-1]]} ({years_text}), so opens are stale there")


def _bars_per_year(dates):
    """(bars a year, how it was measured) from the dates, or None with fewer than 2 bars.

    The median bar count over complete calendar years: those with bars in an earlier and a later year, and the
    first / last year when the series begins / ends within 7 days of that year's start / end.  Without a
    complete year: the bar intervals (bars - 1) per span of the dates in years of 365.25 days.
    """
    n = len(dates)
    if n < 2:
        return None
    years = dates.astype("datetime64[Y]")
    unique, counts = np.unique(years, return_counts=True)
    complete = (unique > years[0]) & (unique < years[-1])
    week = np.timedelta64(7, "D")
    if dates[0] - years[0].astype("datetime64[D]") < week:
        complete[0] = True
    if (years[-1] + 1).astype("datetime64[D]") - dates[-1] <= week:
        complete[-1] = True
    if complete.any():
        return float(np.median(counts[complete])), "median of its complete calendar years"
    days = int((dates[-1] - dates[0]) / np.timedelta64(1, "D"))
    return (n - 1) / (days / 365.25), f"from its {n} bars over {days} days, with no complete calendar year"


def check_periods_per_year(markets, periods_per_year):
    """The measured bars a year of each market, as a dict name -> float; DataError if periods_per_year is off.

    Bars a year are measured from the dates (see `_bars_per_year`: the median bar count of complete calendar
    years, else bar intervals per year of the span).  periods_per_year is refused when it differs from an
    instrument's measure by more than 25% of the measure, either way.  Markets with fewer than 2 bars cannot be
    measured and are left out of the dict.
    """
    if isinstance(periods_per_year, bool) or not isinstance(periods_per_year, (int, float)) \
            or not (np.isfinite(periods_per_year) and periods_per_year > 0):
        raise ValueError(f"periods_per_year must be a positive number, got {periods_per_year!r}")
    measured = {}
    for market in markets:
        found = _bars_per_year(market.dates)
        if found is None:
            continue
        measure, how = found
        if abs(periods_per_year - measure) > _PERIODS_TOLERANCE * measure:
            about = int(np.floor(measure + 0.5))
            raise DataError(f"{_market_label(market)} has about {about} bars a year ({how}), but periods_per_year "
                            f"is {periods_per_year:g}; set problem option periods_per_year = {about} (252 for daily "
                            f"stock data, 52 weekly, 12 monthly).")
        measured[market.name] = measure
    return measured
