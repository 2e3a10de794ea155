"""Everything a run writes, on rank 0 only: the run folder and its files.

`logbook.csv`, `migrations.csv` and `hall_of_fame.json` hold only results (byte-identical across launch
modes for the same config and seed); wall-clock figures go to `timings.csv` and `summary.json`.
"""

import csv
import datetime
import io
import json
import os
from pathlib import Path

import numpy as np

from .island import new_hall_of_fame, stat_columns

__all__ = ["atomic_write", "csv_text", "make_run_dir", "write_config", "write_results", "write_summary",
           "merged_hall_of_fame", "readable"]


def make_run_dir(out, problem_name, allowed=()):
    """Create the run folder: `out` if given (it must be absent or empty, but for `allowed` names), else
    runs/<problem>-<time>."""
    if out:
        path = Path(out)
        if path.exists() and (not path.is_dir() or any(p.name not in allowed for p in path.iterdir())):
            from .errors import ConfigError

            raise ConfigError(f"output folder {path} already exists and is not empty; hpcevo never overwrites a "
                              f"run. Pass another --out, or remove that folder.")
    else:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        # a factory's module and function both name the run: runs/mypkg_problems_make_toolbox-<time>
        safe = "".join(ch if ch.isalnum() else "_" for ch in problem_name.replace(":", "."))
        path = Path("runs") / f"{safe}-{stamp}"
        suffix = 1
        while path.exists():
            suffix += 1
            path = Path("runs") / f"{safe}-{stamp}-{suffix}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def atomic_write(path, text):
    """Write `text` to `path` through a temporary file, fsync and rename: never a half-written file."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_config(run_dir, config):
    atomic_write(Path(run_dir) / "config.toml", config.to_toml())


def csv_text(rows, columns):
    """CSV text of `rows` (dicts) in `columns` order; floats as repr, so they round-trip exactly."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([repr(row[c]) if isinstance(row[c], float) else row[c] for c in columns])
    return buf.getvalue()


def merged_hall_of_fame(island_results, problem, size):
    """The best individuals across islands (a Pareto front when several objectives), in a fixed order."""
    hof = new_hall_of_fame(problem, size)
    for result in island_results:
        hof.update(result["hof"])
    return list(hof)


def readable(ind, toolbox=None):
    """The individual as text: the toolbox's `describe` if it has one, else `str()` (full precision for arrays)."""
    describe = getattr(toolbox, "describe", None)
    if callable(describe):
        return describe(ind)
    return str(ind.tolist()) if isinstance(ind, np.ndarray) else str(ind)


def _hof_json(hof, weights, toolbox):
    entries = []
    for rank, ind in enumerate(hof):
        entries.append({"rank": rank, "island": getattr(ind, "_hpcevo_island", None),
                        "fitness": [float(v) for v in ind.fitness.values], "individual": readable(ind, toolbox)})
    return json.dumps({"weights": list(weights), "individuals": entries}, indent=1) + "\n"


def write_results(run_dir, config, problem, results):
    """Write logbook.csv, migrations.csv, hall_of_fame.json, errors.txt (if any) and timings.csv."""
    run_dir = Path(run_dir)
    islands = results["islands"]
    rows = [row for result in islands for row in result["rows"]]
    columns = ["island", "gen", "nevals"] + stat_columns(problem.n_objectives) + ["failures", "rejected"]
    atomic_write(run_dir / "logbook.csv", csv_text(rows, columns))
    atomic_write(run_dir / "migrations.csv",
                  csv_text(results["migrations"], ["epoch", "src", "dst", "count", "best_fitness"]))
    hof = merged_hall_of_fame(islands, problem, config.hall_of_fame)
    atomic_write(run_dir / "hall_of_fame.json", _hof_json(hof, problem.weights, problem.toolbox))
    if any(r["failures"] for r in islands):
        atomic_write(run_dir / "errors.txt", _errors_text(islands))
    timing_rows = [{"epoch": e, "seconds": s} for e, s in enumerate(results["epoch_seconds"])]
    atomic_write(run_dir / "timings.csv", csv_text(timing_rows, ["epoch", "seconds"]))
    return hof


def _errors_text(islands):
    """Each kind of failed evaluation once: the islands that saw it, then its first occurrence."""
    kinds = {}
    for result in islands:
        for kind, text in result["failures"].items():
            kinds.setdefault(kind, []).append((result["index"], text))
    parts = []
    for kind, seen in kinds.items():
        where = ", ".join(str(index) for index, _ in seen)
        parts.append(f"{kind} (islands {where}); first seen on {seen[0][1]}")
    return "\n\n".join(parts) + "\n"


def write_summary(run_dir, summary):
    atomic_write(Path(run_dir) / "summary.json", json.dumps(summary, indent=1) + "\n")
