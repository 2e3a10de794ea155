"""`hpcevo report`: figures and a text summary of a run folder, read from its text files only (no pickles), so
it works on a laptop from a copied folder.

`rundata` reads and validates the folder into plain data, `equity` recomputes trading equity curves with the
trading problem's own code, `figures` draws (the only module that imports matplotlib, the `plot` extra),
`tearsheet` turns returns.csv and trades.csv into equity, drawdown, yearly returns and trade statistics, `page`
writes the self-contained report.html, `summary_text` writes the summary and `command` is the command line.
"""

from .rundata import ReportError, Run, epoch_ends, load_run, migration_generations

__all__ = ["ReportError", "Run", "epoch_ends", "load_run", "migration_generations"]
