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
from hpcevo.trading.data import (
    STALE_OPEN_LIMIT,
    DataError,
    Market,
    check_periods_per_year,
    load_markets,
    stale_open_share,
    stale_opens,
)

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
# Risk-free rate column

RF_RATES = ["0.0525", "0.05", "-0.001", "0"]


def rf_rows(rates=RF_RATES):
    return [f"{row},{rate}" for row, rate in zip(GOOD_ROWS, rates)]


def test_no_rf_column_gives_none(tmp_path):
    (market,) = load_markets(write(tmp_path, csv_text(GOOD_ROWS)))
    assert market.rf is None


@pytest.mark.parametrize("name", ["sp500", "nasdaq"])
def test_embedded_data_has_no_rf(name):
    (market,) = load_markets(name)
    assert market.rf is None


def test_rf_loaded_exactly(tmp_path):
    (market,) = load_markets(write(tmp_path, csv_text(rf_rows(), header=HEADER + ",RF")))
    assert market.rf.tolist() == [0.0525, 0.05, -0.001, 0.0]
    assert market.rf.dtype == np.float64 and market.rf.flags.c_contiguous and not market.rf.flags.writeable
    assert market.close.tolist() == [10.5, 11.0, 11.2, 11.6]


def test_rf_at_the_range_edges(tmp_path):
    (market,) = load_markets(write(tmp_path, csv_text(rf_rows(["-0.05", "1.0", "1", "0.9999"]),
                                                      header=HEADER + ",rf")))
    assert market.rf.tolist() == [-0.05, 1.0, 1.0, 0.9999]


def test_rf_two_instruments(tmp_path):
    text = ("symbol,date,open,high,low,close,volume,Rf\n"
            "AAA,2021-03-01,1.5,2.25,1.25,2,1000,0.01\n"
            "BBB,2021-03-01,100,101,99.5,100.5,0,0.02\n"
            "AAA,2021-03-02,2,3,1.75,2.5,1500,0.011\n"
            "BBB,2021-03-02,100.5,102,100,101.75,20,0.021\n"
            "BBB,2021-03-03,101.75,103,101,102,30,0.022\n")
    aaa, bbb = load_markets(write(tmp_path, text))
    assert aaa.rf.tolist() == [0.01, 0.011] and bbb.rf.tolist() == [0.02, 0.021, 0.022]
    assert not bbb.rf.flags.writeable


def test_rf_error_names_instrument(tmp_path):
    text = ("ticker,date,open,high,low,close,volume,rf\n"
            "AAA,2021-03-01,1.5,2.25,1.25,2,1000,0.01\n"
            "BBB,2021-03-01,100,101,99.5,100.5,0,4.5\n")
    message = error_for(write(tmp_path, text))
    assert message.startswith(f'data file {tmp_path / "prices.csv"}, instrument BBB, column "rf", data row 2 '
                              f"(date 2021-03-01): the risk-free rate 4.5 is outside [-0.05, 1].")
    assert "divide the column by 100 (4.5 becomes 0.045)" in message


BAD_RF = [
    ("", 'data row 2 (date 2020-01-03): the value is missing (empty cell). Fill in the value or remove the row '
         "(rf is the annual risk-free rate in decimal form, 0.05 for 5% a year; remove the rf column if the data "
         "have none)."),
    ("NaN", 'data row 2 (date 2020-01-03): the value is missing ("NaN"). Fill in the value or remove the row (rf '
            "is the annual risk-free rate"),
    ("5%", 'data row 2 (date 2020-01-03): "5%" is not a number. Write plain numbers with a dot as the decimal point'),
    ("inf", 'data row 2 (date 2020-01-03): "inf" is not finite. Replace it with the real value or remove the row '
            "(rf is the annual"),
    ("5.25", "data row 2 (date 2020-01-03): the risk-free rate 5.25 is outside [-0.05, 1]. It looks like a "
             "percentage: rf is an annual rate in decimal form (0.05 for 5% a year), so divide the column by 100 "
             "(5.25 becomes 0.0525)."),
    ("100", "data row 2 (date 2020-01-03): the risk-free rate 100 is outside [-0.05, 1]. It looks like a percentage"),
    ("1.0001", "the risk-free rate 1.0001 is outside [-0.05, 1]. It looks like a percentage"),
    ("-0.06", "data row 2 (date 2020-01-03): the risk-free rate -0.06 is outside [-0.05, 1]. rf is an annual rate "
              "in decimal form (0.05 for 5% a year): fix the value, or remove the rf column if it holds something "
              "else."),
    ("250", "the risk-free rate 250 is outside [-0.05, 1]. rf is an annual rate in decimal form"),
]


@pytest.mark.parametrize("bad, expected", BAD_RF, ids=[b or "empty" for b, _ in BAD_RF])
def test_bad_rf(tmp_path, bad, expected):
    rates = list(RF_RATES)
    rates[1] = bad
    message = error_for(write(tmp_path, csv_text(rf_rows(rates), header=HEADER + ",rf")))
    assert message.startswith(f'data file {tmp_path / "prices.csv"}, column "rf", data row 2 (date 2020-01-03): ')
    assert expected in message
    if bad in ("-0.06", "250"):
        assert "percentage" not in message


def test_first_bad_rf_row_is_named(tmp_path):
    message = error_for(write(tmp_path, csv_text(rf_rows(["0.01", "0.02", "3", "4"]), header=HEADER + ",rf")))
    assert 'column "rf", data row 3 (date 2020-01-06): the risk-free rate 3 is outside' in message


def test_rf_column_twice(tmp_path):
    rows = [row + ",0.01" for row in rf_rows()]
    message = error_for(write(tmp_path, csv_text(rows, header=HEADER + ",rf,RF")))
    assert "prices.csv: the column rf appears twice" in message


@pytest.mark.skipif(importlib.util.find_spec("pyarrow") is None, reason="needs pyarrow")
def test_parquet_rf_round_trip(tmp_path):
    import pandas as pd

    frame = pd.DataFrame({"symbol": ["A", "B", "A"], "date": pd.to_datetime(["2020-01-02", "2020-01-02", "2020-01-03"]),
                          "open": [1.0, 5.0, 2.0], "high": [2.0, 6.0, 3.0], "low": [0.5, 4.0, 1.5],
                          "close": [1.5, 5.5, 2.5], "volume": [10, 0, 3], "RF": [0.0525, 0.01, 0.0526]})
    path = tmp_path / "prices.parquet"
    frame.to_parquet(path)
    a, b = load_markets(path)
    assert a.rf.tolist() == [0.0525, 0.0526] and b.rf.tolist() == [0.01]
    assert a.rf.dtype == np.float64 and not a.rf.flags.writeable


@pytest.mark.skipif(importlib.util.find_spec("pyarrow") is None, reason="needs pyarrow")
@pytest.mark.parametrize("bad, expected", [(float("nan"), 'the value is missing ("NaN")'),
                                           (4.25, "divide the column by 100 (4.25 becomes 0.0425)")])
def test_parquet_bad_rf(tmp_path, bad, expected):
    import pandas as pd

    frame = pd.DataFrame({"date": pd.to_datetime(["2020-01-02", "2020-01-03"]), "open": [1.0, 2.0],
                          "high": [2.0, 3.0], "low": [0.5, 1.5], "close": [1.5, 2.5], "volume": [10, 0],
                          "rf": [0.01, bad]})
    path = tmp_path / "prices.parquet"
    frame.to_parquet(path)
    message = error_for(path)
    assert 'prices.parquet, column "rf", data row 2 (date 2020-01-03)' in message and expected in message


def test_market_rf_is_optional_and_copied():
    dates = np.array(["2020-01-01", "2020-01-02"], dtype="datetime64[D]")
    close = np.array([1.0, 2.0])
    rf = [0.01, 0.02]
    market = Market("x", dates, close, close, close, close, [0, 0], "src", rf)
    rf[0] = 9.0
    assert market.rf.tolist() == [0.01, 0.02] and market.rf.dtype == np.float64 and not market.rf.flags.writeable
    assert Market("x", dates, close, close, close, close, [0, 0], source="s").rf is None
    with pytest.raises(ValueError, match="rf has shape"):
        Market("x", dates, close, close, close, close, [0, 0], rf=[0.01])


# --------------------------------------------------------------------------------------------------------------
# Stale opens


def market_from(dates, opens, closes, name="syn"):
    opens, closes = np.asarray(opens, dtype=float), np.asarray(closes, dtype=float)
    high, low = np.maximum(opens, closes) * 1.01, np.minimum(opens, closes) * 0.99
    return Market(name, dates, opens, high, low, closes, np.zeros(len(closes)), source="synthetic")


def business_days(first, last):
    days = np.arange(np.datetime64(first), np.datetime64(last) + 1)
    return days[np.is_busday(days)]


def random_walk(dates, seed=1):
    """Closes of a random walk and opens that differ from the previous close (never stale)."""
    rng = np.random.default_rng(seed)
    closes = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, len(dates))))
    opens = np.concatenate([[100.0], closes[:-1] * (1 + rng.uniform(0.001, 0.003, len(dates) - 1))])
    return opens, closes


def test_stale_open_share_exact_fraction():
    dates = np.datetime64("2020-01-01") + np.arange(6)
    closes = [10.0, 11.0, 12.0, 13.0, 14.0, 15.0]
    opens = [9.0, 10.0, 11.5, 12.0, 13.5, 14.0]  # bars 1, 3 and 5 open at the previous close
    market = market_from(dates, opens, closes)
    assert stale_open_share(market) == 3 / 5
    assert stale_open_share(market, 0, 3) == 1 / 2  # bars 1 and 2
    assert stale_open_share(market, 2) == 2 / 4  # bars 2..5
    assert stale_open_share(market, 3, 4) == 1.0
    assert stale_open_share(market, 4, 5) == 0.0
    assert stale_open_share(market, -2) == 1 / 2  # bars 4 and 5
    assert stale_open_share(market, 3, 3) == 0.0 and stale_open_share(market_from(dates[:1], [1], [1])) == 0.0


def test_stale_open_share_is_exact_equality():
    dates = np.datetime64("2020-01-01") + np.arange(3)
    market = market_from(dates, [1.0, 1.0 + 1e-12, 2.0], [1.0, 2.0, 2.5])
    assert stale_open_share(market) == 1 / 2


def test_stale_opens_embedded_sp500():
    (market,) = load_markets("sp500")
    assert stale_open_share(market) == 2004 / 5030  # 39.8%
    assert stale_opens(market) == ("sp500: open equals the previous close on 96% of bars from 1999-01-04 to "
                                   "2005-12-30 (years 1999-2005), so opens are stale there")
    stop = int(np.searchsorted(market.dates, np.datetime64("2006-01-01")))
    assert stop == 1760 and stale_open_share(market, 0, stop) == 1694 / 1759  # 96.3% in 1999-2005
    assert stale_open_share(market, stop) == 310 / 3271  # 9.5% from 2006 on


def test_stale_opens_embedded_nasdaq_is_clean():
    (market,) = load_markets("nasdaq")
    assert stale_open_share(market) < 0.002 and stale_opens(market) is None


def test_stale_opens_clean_synthetic_market():
    dates = business_days("2010-01-01", "2014-12-31")
    assert stale_opens(market_from(dates, *random_walk(dates))) is None
    assert stale_opens(market_from(dates[:1], [1.0], [1.0])) is None


def test_stale_opens_one_stale_year():
    dates = business_days("2010-01-01", "2014-12-31")
    opens, closes = random_walk(dates)
    in_2012 = np.flatnonzero(dates.astype("datetime64[Y]") == np.datetime64("2012", "Y"))
    opens[in_2012] = closes[in_2012 - 1]
    market = market_from(dates, opens, closes, name="idx")
    assert stale_open_share(market) == pytest.approx(len(in_2012) / (len(dates) - 1))
    assert stale_opens(market) == (f"idx: open equals the previous close on 100% of bars from {dates[in_2012[0]]} to "
                                   f"{dates[in_2012[-1]]} (year 2012), so opens are stale there")


def test_stale_opens_spread_thinly_over_the_series():
    dates = business_days("2010-01-01", "2014-12-31")
    opens, closes = random_walk(dates)
    every_third = np.arange(1, len(dates), 3)  # a third of the bars in every year: no year above half
    opens[every_third] = closes[every_third - 1]
    market = market_from(dates, opens, closes)
    assert STALE_OPEN_LIMIT < stale_open_share(market) < 0.5
    assert stale_opens(market) == ("syn: open equals the previous close on 33% of bars from 2010-01-01 to "
                                   "2014-12-31 (more than 20%), so many opens may be stale")


# --------------------------------------------------------------------------------------------------------------
# periods_per_year against the dates


def test_periods_per_year_embedded_daily():
    assert check_periods_per_year(load_markets("sp500+nasdaq"), 252) == {"sp500": 252.0, "nasdaq": 252.0}
    assert check_periods_per_year(load_markets("sp500"), 300) == {"sp500": 252.0}  # within 25%


def test_periods_per_year_embedded_refuses_weekly():
    with pytest.raises(DataError) as info:
        check_periods_per_year(load_markets("sp500"), 52)
    assert str(info.value) == ("embedded data set sp500: instrument sp500 has about 252 bars a year (median of its "
                               "complete calendar years), but periods_per_year is 52; set problem option "
                               "periods_per_year = 252 (252 for daily stock data, 52 weekly, 12 monthly).")
    with pytest.raises(DataError, match="periods_per_year is 320; set problem option periods_per_year = 252"):
        check_periods_per_year(load_markets("sp500"), 320)


def test_periods_per_year_weekly_synthetic():
    dates = np.arange(np.datetime64("2001-01-05"), np.datetime64("2010-12-31"), 7)  # Fridays
    market = market_from(dates, *random_walk(dates), name="weekly")
    assert check_periods_per_year([market], 52) == {"weekly": 52.0}
    with pytest.raises(DataError) as info:
        check_periods_per_year([market], 252)
    assert str(info.value) == ("data file synthetic: instrument weekly has about 52 bars a year (median of its "
                               "complete calendar years), but periods_per_year is 252; set problem option "
                               "periods_per_year = 52 (252 for daily stock data, 52 weekly, 12 monthly).")


def test_periods_per_year_monthly_and_names_the_bad_instrument():
    months = np.arange(np.datetime64("2000-01", "M"), np.datetime64("2010-01", "M")).astype("datetime64[D]")
    daily = business_days("2000-01-01", "2009-12-31")
    monthly, stocks = market_from(months, *random_walk(months), "m"), market_from(daily, *random_walk(daily), "d")
    assert check_periods_per_year([monthly], 12) == {"m": 12.0}
    with pytest.raises(DataError, match="synthetic: instrument m has about 12 bars a year .* periods_per_year is 252"):
        check_periods_per_year([stocks, monthly], 252)


def test_periods_per_year_without_a_complete_year():
    dates = np.arange(np.datetime64("2001-03-02"), np.datetime64("2001-10-01"), 7)  # 31 weekly bars, 210 days
    market = market_from(dates, *random_walk(dates), name="short")
    assert len(dates) == 31
    assert check_periods_per_year([market], 52) == {"short": pytest.approx(30 / (210 / 365.25))}
    with pytest.raises(DataError, match=r"about 52 bars a year \(from its 31 bars over 210 days, with no complete "
                                        r"calendar year\), but periods_per_year is 12"):
        check_periods_per_year([market], 12)
    assert check_periods_per_year([market_from(dates[:1], [1.0], [1.0])], 7) == {}


@pytest.mark.parametrize("bad", [0, -1, float("nan"), True, "252"])
def test_periods_per_year_must_be_positive(bad):
    with pytest.raises(ValueError, match="periods_per_year must be a positive number"):
        check_periods_per_year(load_markets("sp500"), bad)


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
