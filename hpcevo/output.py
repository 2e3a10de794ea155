"""Everything a run writes, on rank 0 only: the run folder and its files.

`logbook.csv`, `migrations.csv` and `hall_of_fame.json` hold only results (byte-identical across launch
modes for the same config and seed); wall-clock figures go to `timings.csv` and `summary.json`.  The three
CSV logs are appended once per epoch (`RunFiles`); every other file is replaced atomically.
"""

import csv
import datetime
import io
import json
import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .errors import OutputError
from .island import new_hall_of_fame, stat_columns

__all__ = ["atomic_write", "csv_text", "make_run_dir", "write_config", "write_results", "write_summary", "RunFiles",
           "LogShard", "remove_shards",
           "logbook_columns", "merged_hall_of_fame", "readable"]


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


def csv_text(rows, columns, header=True):
    """CSV text of `rows` (dicts) in `columns` order; floats as repr, so they round-trip exactly."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    if header:
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
    for position, ind in enumerate(hof):  # position 0 = best
        entries.append({"position": position, "island": getattr(ind, "_hpcevo_island", None),
                        "fitness": [float(v) for v in ind.fitness.values], "individual": readable(ind, toolbox)})
    return json.dumps({"weights": list(weights), "individuals": entries}, indent=1) + "\n"


LOG_FILES = ("logbook.csv", "migrations.csv", "timings.csv")
MIGRATION_COLUMNS = ["epoch", "src", "dst", "count", "best_fitness"]
TIMING_COLUMNS = ["epoch", "seconds"]


def logbook_columns(n_objectives):
    return ["island", "gen", "nevals"] + stat_columns(n_objectives) + ["failures", "rejected"]


class RunFiles:
    """Rank 0's append-only logs: logbook.csv, migrations.csv, timings.csv, one block of rows per epoch.

    Streaming them keeps memory and checkpoints independent of the run's length.  A checkpoint records
    each file's length (and its last bytes); resuming truncates the files back to it, so rows written after
    the checkpoint by a run that then died are dropped and written again, identically.
    """

    def __init__(self, run_dir, n_objectives, resume=None):
        self.dir = Path(run_dir)
        self.columns = logbook_columns(n_objectives)
        self.handles = {}
        for name, columns in zip(LOG_FILES, (self.columns, MIGRATION_COLUMNS, TIMING_COLUMNS)):
            path = self.dir / name
            if resume is None:
                with open(path, "w", encoding="utf-8", newline="") as fh:
                    fh.write(csv_text([], columns))
            else:
                _truncate_to(path, resume[name])
            self.handles[name] = open(path, "a", encoding="utf-8", newline="")

    def __call__(self, epoch, rows, migrations, seconds):
        self.handles["logbook.csv"].write(csv_text(rows, self.columns, header=False))
        self.handles["migrations.csv"].write(csv_text(migrations, MIGRATION_COLUMNS, header=False))
        if seconds is not None:  # None: a resumed run's first exchange, the migration its last epoch skipped
            self.handles["timings.csv"].write(csv_text([{"epoch": epoch, "seconds": seconds}], TIMING_COLUMNS,
                                                       header=False))

    def sync(self):
        """Flush and fsync every log; returns what a checkpoint records of them: {name: [length, tail]}."""
        marks = {}
        for name, fh in self.handles.items():
            fh.flush()
            os.fsync(fh.fileno())
            size = os.fstat(fh.fileno()).st_size
            with open(self.dir / name, "rb") as raw:
                raw.seek(max(0, size - _TAIL))
                marks[name] = [size, raw.read(_TAIL).hex()]
        return marks

    def merge(self, part):
        """Append the rows and records the leaders' log shards hold for `part` (the interval that a checkpoint
        ends), in the files' order, then delete those shards; returns the number of shards merged."""
        shards = self.dir / SHARD_DIR
        merged = 0
        for name, key in (("logbook.csv", _logbook_key), ("migrations.csv", _migration_key)):
            paths = sorted(shards.glob(f"{Path(name).stem}.*.{part}.csv"))
            lines = [line for path in paths for line in path.read_text(encoding="utf-8").splitlines(keepends=True)]
            self.handles[name].write("".join(sorted(lines, key=key)))
            merged = max(merged, len(paths))
            for path in paths:
                path.unlink()
        return merged

    def close(self):
        for fh in self.handles.values():
            fh.close()
        remove_shards(self.dir, only_if_empty=True)

    def abandon(self):
        """Close the logs as they are (a run that failed in this process; a resume truncates them back)."""
        _close_quietly(self.handles)


SHARD_DIR = ".shards"


def _close_quietly(handles):
    """Close every file in `handles` (a dict), ignoring errors (the run is failing already), and forget them."""
    for fh in handles.values():
        try:
            fh.close()
        except OSError:
            pass
    handles.clear()


def _logbook_key(line):
    island, gen = line.split(",", 2)[:2]
    return int(gen), int(island)


def _migration_key(line):
    epoch, src, dst = line.split(",", 3)[:3]
    return int(epoch), int(src), int(dst)


def remove_shards(run_dir, only_if_empty=False):
    """Delete the log shards folder (rows written after the last checkpoint by a run that then stopped)."""
    shards = Path(run_dir) / SHARD_DIR
    if not shards.is_dir():
        return
    if not only_if_empty:
        for path in shards.iterdir():
            path.unlink()
    try:
        shards.rmdir()
    except OSError:
        pass


class LogShard:
    """One group leader's logbook rows and migration records (those of the routes into its islands) since the
    last checkpoint, in files of its own under the run folder's `.shards/`: written where they arise, so they
    never travel to rank 0, which merges each checkpoint's shards into logbook.csv and migrations.csv."""

    def __init__(self, run_dir, leader, n_objectives):
        self.run_dir = Path(run_dir)
        self.dir = self.run_dir / SHARD_DIR
        self.leader = leader
        self.columns = logbook_columns(n_objectives)
        self.part = 0
        self.handles = {}
        with self._writing():
            self.dir.mkdir(exist_ok=True)
            self._open()

    def _open(self):
        for name in ("logbook", "migrations"):
            self.handles[name] = open(self.dir / f"{name}.{self.leader}.{self.part}.csv", "w", encoding="utf-8",
                                      newline="")

    def add(self, rows, records):
        with self._writing():
            self.handles["logbook"].write(csv_text(rows, self.columns, header=False))
            self.handles["migrations"].write(csv_text(records, MIGRATION_COLUMNS, header=False))

    def seal(self, final=False):
        """Close this part (flushed and synced, so rank 0 reads it whole) and start the next unless `final`;
        returns the part sealed."""
        with self._writing():
            for fh in self.handles.values():
                fh.flush()
                os.fsync(fh.fileno())
                fh.close()
            self.handles.clear()
            sealed = self.part
            self.part += 1
            if not final:
                self._open()
        return sealed

    def abandon(self):
        """Close the files without sealing them (the run failed; a resume writes these rows again)."""
        _close_quietly(self.handles)

    @contextmanager
    def _writing(self):
        """An OSError becomes an OutputError that says what is intact and how to continue."""
        try:
            yield
        except OSError as exc:
            _close_quietly(self.handles)
            raise OutputError(f"cannot write the log shard {exc.filename or self.dir}: {exc.strerror or exc}. "
                              f"The run folder's last checkpoint and the files written before it are intact. "
                              f"Free space or fix the run folder {self.run_dir} (it must be on a filesystem every "
                              f"rank can write), then continue with: python -m hpcevo run --resume "
                              f"{self.run_dir}") from None


_TAIL = 64


def _truncate_to(path, mark):
    """Cut a log back to the length a checkpoint recorded, after checking it still ends as it did then."""
    from .checkpoint import CheckpointError

    size, tail = mark
    try:
        with open(path, "r+b") as fh:
            actual = os.fstat(fh.fileno()).st_size
            fh.seek(max(0, size - _TAIL))
            if actual < size or fh.read(min(size, _TAIL)).hex() != tail:
                raise CheckpointError(f"{path} is shorter than, or differs from, what the checkpoint recorded "
                                      f"({size:,} bytes): the run folder was changed after the checkpoint, so the "
                                      f"run cannot be continued exactly. Restore the folder as the run left it "
                                      f"(copy the whole folder, not checkpoint.pkl alone), or start a new run.")
            fh.truncate(size)
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing: a run folder is resumed whole (checkpoint.pkl with "
                              f"logbook.csv, migrations.csv and timings.csv). Copy the whole folder, or start a "
                              f"new run.") from None


def write_results(run_dir, config, problem, results):
    """Write hall_of_fame.json and errors.txt (if any); the logs are streamed by RunFiles. Returns the hof."""
    run_dir = Path(run_dir)
    islands = results["islands"]
    hof = merged_hall_of_fame(islands, problem, config.hall_of_fame)
    atomic_write(run_dir / "hall_of_fame.json", _hof_json(hof, problem.weights, problem.toolbox))
    if any(r["failures"] for r in islands):
        atomic_write(run_dir / "errors.txt", _errors_text(islands))
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
