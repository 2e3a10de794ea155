"""Market data: the embedded sets, a round trip through a user CSV, and one test per malformed input."""

import gzip
import importlib.util
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hpcevo.errors import UserError
from hpcevo.trading.data import DataError, Market, load_markets

HEADER = "date,open,high,low,close,volume"
GOOD_ROWS = [
    "2020-01-02,10,11,9,10.5,100",
    "2020-01-03,10.5,12,10,11,200",
    "2020-01-06,11,11.5,10.5,11.2,0",
    "2020-01-07,11.2,11.8,11,11.6,150",
]


def write(tmp_path, text, name="prices.csv"):
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def csv_text(rows, header=HEADER):
    return "\n".join([header, *rows]) + "\n"


def with_row(index, row):
    """GOOD_ROWS with the row at `index` (0-based) replaced."""
    rows = list(GOOD_ROWS)
    rows[index] = row
    return rows


def error_for(path, **kwargs):
    with pytest.raises(DataError) as info:
        load_markets(str(path), **kwargs)
    message = str(info.value)
    assert "\n" not in message, "one paragraph"
    assert isinstance(info.value, UserError)
    return message


# --------------------------------------------------------------------------------------------------------------
# Embedded data


@pytest.mark.parametrize("name", ["sp500", "nasdaq"])
def test_embedded_data_loads(name):
    (market,) = load_markets(name)
    assert market.name == name and market.source == f"embedded {name}"
    assert market.n_bars == 5031
    assert market.dates.dtype == np.dtype("datetime64[D]")
    assert str(market.dates[0]) == "1999-01-04" and str(market.dates[-1]) == "2018-12-31"
    assert (np.diff(market.dates) > np.timedelta64(0, "D")).all()
    for column in ("open", "high", "low", "close", "volume"):
        values = getattr(market, column)
        assert values.dtype == np.float64 and values.flags.c_contiguous and not values.flags.writeable
        assert values.shape == (5031,) and np.isfinite(values).all()
        with pytest.raises(ValueError):
            values[0] = 1.0
    assert not market.dates.flags.writeable
    assert (market.high >= market.low).all()
    assert (market.high >= np.maximum(market.open, market.close)).all()
    assert (market.low <= np.minimum(market.open, market.close)).all()
    assert (market.volume >= 0).all()


def test_embedded_first_row_matches_source():
    (market,) = load_markets("sp500")
    assert market.open[0] == 1229.22998 and market.close[0] == 1228.099976 and market.volume[0] == 877000000


def test_embedded_pair_gives_two_markets():
    markets = load_markets("sp500+nasdaq")
    assert [m.name for m in markets] == ["sp500", "nasdaq"]
    assert all(m.n_bars == 5031 for m in markets)
    assert not np.array_equal(markets[0].close, markets[1].close)


def test_market_is_frozen_and_copies_its_inputs():
    close = np.array([1.0, 2.0])
    market = Market("x", np.array(["2020-01-01", "2020-01-02"], dtype="datetime64[D]"), close, close, close, close,
                    [0, 0])
    close[0] = 5.0
    assert market.close[0] == 1.0 and market.volume.dtype == np.float64
    with pytest.raises(AttributeError):
        market.name = "y"


# --------------------------------------------------------------------------------------------------------------
# Round trip


def test_round_trip_two_instruments_mixed_case(tmp_path):
    text = ("Ticker,DATE,Open,HIGH,low,Close,Volume,Adj Close\n"
            "AAA,2021-03-01,1.5,2.25,1.25,2,1000,9\n"
            "BBB,2021-03-01,100,101,99.5,100.5,0,9\n"
            "AAA,2021-03-02,2,3,1.75,2.5,1500,9\n"
            "BBB,2021-03-02,100.5,102,100,101.75,20,9\n"
            "BBB,2021-03-03,101.75,103,101,102,30,9\n")
    aaa, bbb = load_markets(write(tmp_path, text))
    assert (aaa.name, bbb.name) == ("AAA", "BBB")
    assert aaa.source == str(tmp_path / "prices.csv")
    assert aaa.dates.tolist() == np.array(["2021-03-01", "2021-03-02"], dtype="datetime64[D]").tolist()
    assert aaa.open.tolist() == [1.5, 2.0] and aaa.high.tolist() == [2.25, 3.0]
    assert aaa.low.tolist() == [1.25, 1.75] and aaa.close.tolist() == [2.0, 2.5]
    assert aaa.volume.tolist() == [1000.0, 1500.0]
    assert bbb.n_bars == 3 and bbb.close.tolist() == [100.5, 101.75, 102.0] and bbb.volume.tolist() == [0, 20, 30]


def test_single_instrument_named_after_file_and_gzip(tmp_path):
    path = write(tmp_path, gzip.compress(csv_text(GOOD_ROWS).encode()), name="spy.csv.gz")
    (market,) = load_markets(path)
    assert market.name == "spy" and market.n_bars == 4
    assert market.close.tolist() == [10.5, 11.0, 11.2, 11.6]


def test_min_bars_accepts_enough(tmp_path):
    (market,) = load_markets(write(tmp_path, csv_text(GOOD_ROWS)), min_bars=4)
    assert market.n_bars == 4


# --------------------------------------------------------------------------------------------------------------
# Malformed inputs: one test each, asserting the key phrase, the file name and the row / date


def test_missing_file(tmp_path):
    message = error_for(tmp_path / "nope.csv")
    assert "nope.csv does not exist" in message and "--data" in message


def test_misspelled_embedded_name():
    message = error_for("nasdq")
    assert "does not exist" in message and 'Did you mean the embedded data set "nasdaq"?' in message


def test_directory(tmp_path):
    message = error_for(tmp_path)
    assert f"{tmp_path} is a directory" in message


def test_unreadable_file(tmp_path, monkeypatch):
    path = write(tmp_path, csv_text(GOOD_ROWS))

    def refuse(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", refuse)  # chmod 0 does not stop root
    message = error_for(path)
    assert "prices.csv cannot be read: Permission denied" in message and "permissions" in message


def test_empty_file(tmp_path):
    message = error_for(write(tmp_path, "  \n\n"))
    assert "prices.csv is empty" in message


def test_header_only(tmp_path):
    message = error_for(write(tmp_path, HEADER + "\n"))
    assert "prices.csv has a header but no data rows" in message


def test_wrong_encoding(tmp_path):
    data = csv_text(GOOD_ROWS).encode() + "2020-01-08,11,12,10,11,5,caf\u00e9\n".encode("latin-1")
    message = error_for(write(tmp_path, data))
    assert "prices.csv is not valid UTF-8: line 6" in message and "UTF-8 encoding" in message


def test_bad_gzip(tmp_path):
    message = error_for(write(tmp_path, b"not gzip at all", name="prices.csv.gz"))
    assert "prices.csv.gz is not a valid gzip file" in message


def test_not_parseable(tmp_path):
    rows = with_row(2, "2020-01-06,11,11.5,10.5,11.2,0,7,8")
    message = error_for(write(tmp_path, csv_text(rows)))
    assert "prices.csv cannot be parsed as CSV" in message and "as many fields as the header" in message


def test_wrong_separator(tmp_path):
    message = error_for(write(tmp_path, "date;open;high;low;close;volume\n2020-01-02;1;1;1;1;1\n"))
    assert "prices.csv has a single column" in message and "';' as separator" in message


def test_spreadsheet(tmp_path):
    message = error_for(write(tmp_path, b"PK\x03\x04", name="prices.xlsx"))
    assert "prices.xlsx is a spreadsheet" in message and "export the sheet as CSV" in message


def test_missing_column_with_suggestion(tmp_path):
    text = csv_text(GOOD_ROWS, header="date,open,high,low,clsoe,volume")
    message = error_for(write(tmp_path, text))
    assert 'prices.csv has no "close" column. Did you mean "clsoe"?' in message
    assert 'Columns found: "date", "open", "high", "low", "clsoe", "volume"' in message


def test_missing_volume_column(tmp_path):
    rows = [row.rsplit(",", 1)[0] for row in GOOD_ROWS]
    message = error_for(write(tmp_path, csv_text(rows, header="Date,Open,High,Low,Close")))
    assert 'prices.csv has no "volume" column' in message and "volume column of zeros" in message


def test_missing_date_column(tmp_path):
    message = error_for(write(tmp_path, csv_text(GOOD_ROWS, header="dates,open,high,low,close,volume")))
    assert "prices.csv has no date column. Did you mean \"dates\"?" in message


def test_column_twice_in_different_case(tmp_path):
    rows = [row + ",1" for row in GOOD_ROWS]
    message = error_for(write(tmp_path, csv_text(rows, header=HEADER + ",Close")))
    assert "prices.csv: the column close appears twice" in message


def test_same_column_twice(tmp_path):
    rows = [row + ",1" for row in GOOD_ROWS]
    message = error_for(write(tmp_path, csv_text(rows, header=HEADER + ",volume")))
    assert "prices.csv: the column volume appears twice" in message


def test_unparseable_date(tmp_path):
    message = error_for(write(tmp_path, csv_text(with_row(2, "2020-13-45,11,11.5,10.5,11.2,0"))))
    assert 'prices.csv, column "date", data row 3: "2020-13-45" is not a date' in message


def test_empty_date(tmp_path):
    message = error_for(write(tmp_path, csv_text(with_row(1, ",10.5,12,10,11,200"))))
    assert 'prices.csv, column "date", data row 2: the date is missing (empty cell)' in message


def test_unsorted_dates(tmp_path):
    message = error_for(write(tmp_path, csv_text(with_row(2, "2019-12-31,11,11.5,10.5,11.2,0"))))
    assert "prices.csv" in message and "data row 3 (date 2019-12-31)" in message
    assert "dates are not in increasing order: 2019-12-31 is earlier than 2020-01-03 in data row 2" in message


def test_newest_first(tmp_path):
    message = error_for(write(tmp_path, csv_text(GOOD_ROWS[::-1])))
    assert "dates are not in increasing order" in message and "rows are newest-first" in message
    assert "data row 2 (date 2020-01-06)" in message


def test_duplicate_dates(tmp_path):
    message = error_for(write(tmp_path, csv_text(with_row(2, "2020-01-03,11,11.5,10.5,11.2,0"))))
    assert "prices.csv" in message and "data row 3 (date 2020-01-03)" in message
    assert "duplicate date 2020-01-03, also in data row 2" in message


def test_missing_price(tmp_path):
    message = error_for(write(tmp_path, csv_text(with_row(1, "2020-01-03,10.5,12,10,,200"))))
    assert 'prices.csv, column "close", data row 2 (date 2020-01-03): the value is missing (empty cell)' in message


def test_nan_price(tmp_path):
    message = error_for(write(tmp_path, csv_text(with_row(3, "2020-01-07,NaN,11.8,11,11.6,150"))))
    assert 'column "open", data row 4 (date 2020-01-07): the value is missing ("NaN")' in message
    assert "prices.csv" in message


def test_non_numeric_price(tmp_path):
    message = error_for(write(tmp_path, csv_text(with_row(1, '2020-01-03,10.5,"1,200",10,11,200'))))
    assert 'column "high", data row 2 (date 2020-01-03): "1,200" is not a number' in message
    assert "prices.csv" in message


def test_infinite_volume(tmp_path):
    message = error_for(write(tmp_path, csv_text(with_row(0, "2020-01-02,10,11,9,10.5,inf"))))
    assert 'column "volume", data row 1 (date 2020-01-02): "inf" is not finite' in message


def test_non_positive_price(tmp_path):
    message = error_for(write(tmp_path, csv_text(with_row(2, "2020-01-06,11,11.5,0,11.2,0"))))
    assert 'prices.csv, column "low", data row 3 (date 2020-01-06): prices must be positive, got 0' in message


def test_negative_volume(tmp_path):
    message = error_for(write(tmp_path, csv_text(with_row(3, "2020-01-07,11.2,11.8,11,11.6,-150"))))
    assert 'prices.csv, column "volume", data row 4 (date 2020-01-07): volume must not be negative' in message


def test_high_below_low(tmp_path):
    message = error_for(write(tmp_path, csv_text(with_row(1, "2020-01-03,10.5,10,12,11,200"))))
    assert "prices.csv, data row 2 (date 2020-01-03): high is below low" in message


def test_high_below_open_or_close(tmp_path):
    message = error_for(write(tmp_path, csv_text(with_row(2, "2020-01-06,11,11.5,10.5,11.7,0"))))
    assert "prices.csv, data row 3 (date 2020-01-06): high is below the open or the close" in message


def test_low_above_open_or_close(tmp_path):
    message = error_for(write(tmp_path, csv_text(with_row(3, "2020-01-07,11.2,11.8,11.3,11.6,150"))))
    assert "prices.csv, data row 4 (date 2020-01-07): low is above the open or the close" in message


def test_problem_names_instrument(tmp_path):
    text = ("symbol,date,open,high,low,close,volume\n"
            "AAA,2020-01-02,1,2,1,1.5,10\n"
            "BBB,2020-01-02,1,2,1,1.5,10\n"
            "BBB,2020-01-01,1,2,1,1.5,10\n")
    message = error_for(write(tmp_path, text))
    assert "prices.csv, instrument BBB, column \"date\", data row 3 (date 2020-01-01)" in message
    assert "dates are not in increasing order" in message


def test_missing_symbol(tmp_path):
    text = "symbol,date,open,high,low,close,volume\nAAA,2020-01-02,1,2,1,1.5,10\n,2020-01-03,1,2,1,1.5,10\n"
    message = error_for(write(tmp_path, text))
    assert 'prices.csv, column "symbol", data row 2: the symbol is missing' in message


def test_too_few_bars(tmp_path):
    message = error_for(write(tmp_path, csv_text(GOOD_ROWS)), min_bars=300, longest_window=200)
    assert "prices.csv needs at least 300 bars (longest indicator window 200 + validation periods): has 4" in message


def test_too_few_bars_names_instrument(tmp_path):
    text = ("ticker,date,open,high,low,close,volume\n"
            "AAA,2020-01-02,1,2,1,1.5,10\nAAA,2020-01-03,1,2,1,1.5,10\nBBB,2020-01-02,1,2,1,1.5,10\n")
    message = error_for(write(tmp_path, text), min_bars=2)
    assert "prices.csv, instrument BBB, needs at least 2 bars" in message and "has 1" in message


def test_embedded_too_few_bars():
    message = error_for("nasdaq", min_bars=6000)
    assert "embedded data set nasdaq needs at least 6000 bars" in message
    assert "(longest indicator window + validation periods)" in message
    assert "has 5031" in message


def test_parquet_without_pyarrow(tmp_path, monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "pyarrow" else real_find_spec(name, *a))
    message = error_for(write(tmp_path, b"PAR1", name="prices.parquet"))
    assert "prices.parquet is a Parquet file" in message and "pip install pyarrow" in message


@pytest.mark.skipif(importlib.util.find_spec("pyarrow") is None, reason="needs pyarrow")
def test_parquet_with_date_index(tmp_path):
    import pandas as pd

    frame = pd.DataFrame({"Open": [1.0, 2.0], "High": [2.0, 3.0], "Low": [0.5, 1.5], "Close": [1.5, 2.5],
                          "Volume": [10, 0]}, index=pd.DatetimeIndex(["2020-01-02", "2020-01-03"], name="Date"))
    path = tmp_path / "prices.parquet"
    frame.to_parquet(path)
    (market,) = load_markets(path)
    assert market.name == "prices" and market.close.tolist() == [1.5, 2.5]
    assert str(market.dates[1]) == "2020-01-03"


# --------------------------------------------------------------------------------------------------------------
# Property tests


@st.composite
def ohlcv(draw):
    n = draw(st.integers(1, 12))
    price = st.floats(0.01, 1e6, allow_nan=False, allow_infinity=False)
    gaps = draw(st.lists(st.integers(1, 5), min_size=n, max_size=n))
    dates = np.datetime64("2001-01-01") + np.cumsum(gaps).astype("timedelta64[D]")
    opens = np.array(draw(st.lists(price, min_size=n, max_size=n)))
    closes = np.array(draw(st.lists(price, min_size=n, max_size=n)))
    up = np.array(draw(st.lists(st.floats(1.0, 1.5), min_size=n, max_size=n)))
    down = np.array(draw(st.lists(st.floats(0.5, 1.0), min_size=n, max_size=n)))
    highs = np.maximum(opens, closes) * up
    lows = np.minimum(opens, closes) * down
    highs = np.maximum(highs, np.maximum(opens, closes))  # rounding of the products must not break the invariant
    lows = np.minimum(lows, np.minimum(opens, closes))
    volumes = np.array(draw(st.lists(st.integers(0, 10**12), min_size=n, max_size=n)), dtype=np.float64)
    return dates, opens, highs, lows, closes, volumes


def frame_text(dates, *columns):
    lines = [HEADER]
    for i, day in enumerate(dates):
        lines.append(",".join([str(day), *(repr(float(col[i])) for col in columns[:4]), str(int(columns[4][i]))]))
    return "\n".join(lines) + "\n"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ohlcv())
def test_valid_frames_load_exactly(data):
    dates, *columns = data
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "random.csv"
        path.write_text(frame_text(dates, *columns))
        (market,) = load_markets(path)
    assert market.name == "random"
    assert np.array_equal(market.dates, dates)
    for name, values in zip(("open", "high", "low", "close", "volume"), columns):
        assert np.array_equal(getattr(market, name), values), name


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ohlcv(), st.data())
def test_one_corrupt_cell_raises_data_error(data, draw):
    dates, *columns = data
    text = frame_text(dates, *columns)
    lines = text.splitlines()
    row = draw.draw(st.integers(1, len(lines) - 1), label="row")
    column = draw.draw(st.integers(0, 5), label="column")
    if column == 0:
        bad = draw.draw(st.sampled_from(["", "abc", "-1", "2001-02-30", "NaN", "yesterday"]), label="bad")
    else:
        bad = draw.draw(st.sampled_from(["", "NaN", "nan", "-1", "-0.5", "abc", "1.2.3", "inf", "1e999x"]), label="bad")
    cells = lines[row].split(",")
    cells[column] = bad
    lines[row] = ",".join(cells)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "corrupt.csv"
        path.write_text("\n".join(lines) + "\n")
        with pytest.raises(DataError) as info:
            load_markets(path)
    message = str(info.value)
    assert "corrupt.csv" in message and re.search(rf"data row {row}\b", message), message
