"""The trading workload on your own CSV file: two synthetic instruments, 8 x 252 daily bars each.

    python examples/trading_own_csv.py [--quick] [--ranks N] [--out DIR]      # writes DIR-prices.csv, then runs
    python -m hpcevo run --data prices.csv -O holdout_years=2 --islands 4    # the same on any file of yours

`--data` reads a CSV (or .csv.gz, or Parquet) with a header row: a date column (date, datetime, timestamp or
time), open, high, low, close and volume in any case, and optionally a symbol (or ticker) column, one
instrument per symbol. Rows are oldest first; each instrument needs low <= open, close <= high and positive
prices. The last `holdout_years` (default 4) of the common calendar (one cut-off date for every instrument) are
never seen during evolution; the `selection_years` (default 2) before them choose the reported strategies; the
training years before that hold the 200-bar indicator warm-up and `folds` (default 4) validation folds.
"""

import csv
import sys

import numpy as np
import pandas as pd


def write_prices(path, years=8, seed=42):
    """Write deterministic synthetic daily OHLCV for two symbols to `path` (CSV); returns the path."""
    dates = pd.bdate_range("2011-01-03", periods=252 * years)
    rng = np.random.default_rng(seed)
    frames = []
    for symbol, start, volatility in (("ALPHA", 50.0, 0.012), ("BETA", 120.0, 0.018)):
        # Slow bull/bear regimes give trend-following rules something to find.
        regime = np.cumsum(rng.random(len(dates)) < 0.01) % 2
        log_returns = np.where(regime == 0, 0.0006, -0.0004) + volatility * rng.standard_normal(len(dates))
        close = np.round(start * np.exp(np.cumsum(log_returns)), 4)
        opening = np.round(np.concatenate([[start], close[:-1]]) * np.exp(0.002 * rng.standard_normal(len(dates))), 4)
        wick = 0.0005 + np.abs(0.004 * rng.standard_normal((2, len(dates))))  # keeps low <= open, close <= high
        frames.append(pd.DataFrame({
            "date": dates.strftime("%Y-%m-%d"), "symbol": symbol, "open": opening,
            "high": np.round(np.maximum(opening, close) * (1 + wick[0]), 4),
            "low": np.round(np.minimum(opening, close) * (1 - wick[1]), 4),
            "close": close, "volume": np.round(1e6 * np.exp(0.3 * rng.standard_normal(len(dates)))).astype(int),
        }))
    pd.concat(frames).to_csv(path, index=False)  # one file, the symbols one after the other
    return path


def prepare(out):
    """Script mode, before the run: write the CSV beside the run folder and pass it with --data."""
    out.parent.mkdir(parents=True, exist_ok=True)
    return ["--data", str(write_prices(out.parent / f"{out.name}-prices.csv"))]


def print_strategies(out):
    """Script mode: buy-and-hold and the strategies with the best in-sample Sharpe, with their holdout results."""
    with open(out / "strategies.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    hold = [r for r in rows if r["expression"] == "buy_and_hold"]
    best = sorted((r for r in rows if r["expression"] != "buy_and_hold"), key=lambda r: -float(r["is_sharpe"]))
    print(f"{'market':<6} {'in-sample Sharpe':>16} {'holdout Sharpe':>14} {'holdout return':>14}  strategy")
    for r in hold + best[:4]:
        print(f"{r['market']:<6} {float(r['is_sharpe']):>16.2f} {float(r['oos_sharpe']):>14.2f} "
              f"{float(r['oos_total_return']):>14.1%}  {r['expression']}")
    print(f"every strategy of the Pareto front, per market: {out / 'strategies.csv'}")


if __name__ == "__main__":
    from _run import run_example  # examples/_run.py: prints and runs `python -m hpcevo run ...`

    # -O sets the trading problem's options: a 2-year holdout (of the ~8 years) and a cost of 5 bps per position change.
    sys.exit(run_example("trading_own_csv", ["-O", "holdout_years=2", "-O", "cost_bps=5", "--islands", "4"],
                         quick=["--population", "16", "--generations", "2", "--migration-interval", "1"],
                         full=["--population", "100", "--generations", "40", "--migration-interval", "10"],
                         before=prepare, report=print_strategies))
