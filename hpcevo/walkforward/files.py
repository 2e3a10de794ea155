"""The columns of a walk-forward folder's CSV files: what record.py writes and the report reads (kept here, free
of the trading problem's imports, so a report reads a copied folder without loading it)."""

__all__ = ["COLUMNS", "RETURN_COLUMNS", "SEPARATOR", "TEST_METRICS", "BH_METRICS"]

TEST_METRICS = ("sharpe", "total_return", "cagr", "max_drawdown", "exposure", "trades", "information_ratio", "bars")
BH_METRICS = ("sharpe", "total_return", "cagr", "max_drawdown")
COLUMNS = (("window", "train_start", "train_end", "selection_start", "selection_end", "test_start", "test_end",
            "expressions") + tuple(f"test_{k}" for k in TEST_METRICS) + tuple(f"bh_{k}" for k in BH_METRICS))
RETURN_COLUMNS = ("date", "window", "WF", "BH", "RF")
SEPARATOR = " ; "  # between the expressions of one window's picks in walkforward.csv
