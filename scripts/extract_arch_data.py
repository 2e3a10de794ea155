"""Extract the S&P 500 and NASDAQ Composite daily OHLCV bundled with `arch` into hpcevo/data/*.csv.gz.

`arch` (NCSA licence) is needed only to run this script, never by hpcevo itself.  Run it from a scratch venv:

    python3 -m venv /tmp/archenv && /tmp/archenv/bin/pip install arch pandas
    /tmp/archenv/bin/python scripts/extract_arch_data.py

The output is deterministic (gzip mtime 0, no file name in the header, fixed float formatting), so rerunning it
with the same arch version gives byte-identical files; it prints each file's row count, date range and sha256.
"""

import argparse
import gzip
import hashlib
import io
import math
from pathlib import Path

import arch
import arch.data.nasdaq
import arch.data.sp500

DATASETS = {"sp500": arch.data.sp500, "nasdaq": arch.data.nasdaq}
COLUMNS = ("Open", "High", "Low", "Close", "Volume")
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "hpcevo" / "data"


def _number(value):
    """The value as text: integral volumes as integers, prices as Python's shortest round-trip repr."""
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"non-finite value {value!r} in the source data")
    return repr(value)


def _volume(value):
    value = float(value)
    if value.is_integer():
        return str(int(value))
    return _number(value)


def to_csv_bytes(frame):
    """The frame (arch's layout: a Date index and capitalised columns) as hpcevo's CSV text, encoded."""
    lines = ["date,open,high,low,close,volume"]
    dates = frame.index.strftime("%Y-%m-%d")
    cols = [frame[c].to_numpy() for c in COLUMNS]
    for i, day in enumerate(dates):
        prices = ",".join(_number(col[i]) for col in cols[:4])
        lines.append(f"{day},{prices},{_volume(cols[4][i])}")
    return ("\n".join(lines) + "\n").encode("ascii")


def gzip_bytes(data):
    """Deterministic gzip: mtime 0 and no embedded file name."""
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as handle:
        handle.write(data)
    return buffer.getvalue()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: hpcevo/data)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"arch {arch.__version__}")
    for name, module in DATASETS.items():
        frame = module.load()
        if not (frame.index.is_monotonic_increasing and frame.index.is_unique):
            raise SystemExit(f"{name}: dates are not sorted and unique in arch {arch.__version__}")
        payload = gzip_bytes(to_csv_bytes(frame))
        path = args.out / f"{name}.csv.gz"
        path.write_bytes(payload)
        digest = hashlib.sha256(payload).hexdigest()
        first, last = frame.index[0].strftime("%Y-%m-%d"), frame.index[-1].strftime("%Y-%m-%d")
        print(f"{path.name}: {len(frame)} rows, {first} to {last}, {len(payload)} bytes, sha256 {digest}")


if __name__ == "__main__":
    main()
