"""Rank 0's side of a run: a run folder that owns checkpoints, streamed logs, progress and outputs, or
the in-memory equivalent for `hpcevo.evolve(..., out=None)`.

Both are run sinks (`hpcevo.engine.RunSink`): the engine hands them records and checkpoint states and
never knows whether they reach files.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from . import __version__
from .checkpoint import CHECKPOINT_NAME, PARTS_DIR, check_parts, prune_parts, read_state, write_checkpoint
from .engine import MemorySink
from .errors import ConfigError, OutputError
from .output import (
    RunFiles,
    atomic_write,
    csv_text,
    make_run_dir,
    merged_hall_of_fame,
    readable,
    remove_shards,
    write_config,
    write_results,
    write_summary,
)
from .resume import STARTUP_FILES

__all__ = ["RunFolder", "MemoryRun", "OutputError"]


class RunFolder:
    """The run folder on rank 0: config.toml, ranks.csv, the streamed logs, checkpoint.pkl, the results and
    summary.json.  Every OSError while writing becomes an OutputError that says what is still intact."""

    def __init__(self, config, problem, start, world, out=sys.stdout):
        self.config, self.problem, self.start, self.world, self.out = config, problem, start, world, out
        self.path = None
        self.files = None
        self.resume_state = None
        self.checkpoint_bytes = None
        self.checkpoint_parts = None
        self.checkpoint_generation = None

    # -- opening ---------------------------------------------------------------------------------
    def open(self):
        """Create the folder (or reopen a resumed one); returns its path as a string. Raises ConfigError."""
        start = self.start
        try:
            if start.resume_from:
                self.resume_state = read_state(start.resume_from)
                self.path = Path(start.run_dir)
                header = check_parts(self.path, start.resume_from)  # every part there, of its size
                # parts a crash left behind a checkpoint that was never completed: the resumed run rewrites them
                prune_parts(self.path, set(header.get("parts", {})))
                self.files = RunFiles(self.path, self.problem.n_objectives, resume=self.resume_state["files"])
                remove_shards(self.path)  # rows after the checkpoint: the resumed run writes them again
                if start.written_by != __version__:
                    print(f"hpcevo: note: the checkpoint was written by hpcevo {start.written_by or 'unknown'}, "
                          f"this is {__version__}; results may differ from an uninterrupted run.", file=sys.stderr)
            else:
                self.path = make_run_dir(start.run_dir or self.config.out, self.config.problem,
                                         allowed=STARTUP_FILES if start.run_dir else ())
            self.config = dataclasses.replace(self.config, out=str(self.path))
            write_config(self.path, self.config)
            if not start.resume_from:
                self.files = RunFiles(self.path, self.problem.n_objectives)
        except OSError as exc:
            folder = exc.filename or start.run_dir or self.config.out
            raise ConfigError(f"cannot create or write the run folder {folder}: {exc.strerror or exc}. Choose "
                              f"another --out, or fix that folder's permissions.") from None
        return str(self.path)

    def write_ranks(self, processes):
        self.processes = processes
        self.startup = startup_summary(processes)
        with self._writing():
            atomic_write(self.path / "ranks.csv", csv_text(processes, ["rank", "host", "pid", "node"]))

    # -- the run sink ----------------------------------------------------------------------------
    def record(self, epoch, rows, migrations, seconds):
        with self._writing():
            self.files(epoch, rows, migrations, seconds)

    def merge_logs(self, part):
        """Append the leaders' log shards of `part` to the logs (before the checkpoint that ends it)."""
        with self._writing():
            self.files.merge(part)

    def checkpoint(self, state):
        with self._writing():
            state["files"] = self.files.sync()
            state["hall_of_fame"] = merged_hall_of_fame(state["islands"], self.problem, self.config.hall_of_fame)
            state["objective_names"] = getattr(self.problem.toolbox, "objective_names", None)
            # the manifest: where the islands' states lie (the leaders wrote them), not the states themselves
            manifest = {k: v for k, v in state.items() if k != "islands"} if "locations" in state else state
            self.checkpoint_bytes = write_checkpoint(self.path, self.config.to_toml(), self.config.problem, manifest)
            self.checkpoint_parts = len({where["part"] for where in state.get("locations", ())})
            self.checkpoint_generation = state["generation"]
            prune_parts(self.path, {where["part"] for where in state.get("locations", ())},
                        below=state.get("sequence"))

    def progress(self, results):
        with self._writing():
            self._outputs(results, "running")

    # -- the end ---------------------------------------------------------------------------------
    def abandon(self):
        """The run failed in this process (driven from Python): close the logs; the checkpoint stays as it was."""
        if self.files is not None:
            self.files.abandon()

    def finish(self, results, backend):
        """Close the logs, write the results and summary.json; returns the summary."""
        self.backend = backend
        with self._writing():
            self.files.close()
            return self._outputs(results, "stopped" if results["stopped"] else "complete", report=True)

    def _outputs(self, results, status, report=False):
        t0 = time.perf_counter()
        hof = write_results(self.path, self.config, self.problem, results)
        summary = build_summary(self, results, hof, status)
        lines = _report(self.problem, self.config, results, hof, summary, self.path) if report else []
        summary["seconds"]["output"] = time.perf_counter() - t0
        write_summary(self.path, summary)
        self.printed = lines
        return summary

    @contextmanager
    def _writing(self):
        """Turn an OSError while writing the run folder into an OutputError that says what is intact."""
        try:
            yield
        except OSError as exc:
            what = exc.filename or self.path
            done = self.checkpoint_generation
            kept = (f"the last good checkpoint (generation {done}) and the files written before are intact"
                    if done is not None else "no checkpoint had been written yet")
            raise OutputError(f"cannot write {what}: {exc.strerror or exc}. {kept[0].upper()}{kept[1:]}. Free space "
                              f"or fix the run folder {self.path}, then continue with: python -m hpcevo run --resume "
                              f"{self.path}") from None


class MemoryRun(MemorySink):
    """The same interface with nothing written: `hpcevo.evolve(..., out=None)`."""

    path = None
    resume_state = None
    checkpoint_bytes = None
    checkpoint_parts = None

    def __init__(self, config, problem, start, world, out=sys.stdout):
        super().__init__()
        self.config, self.problem, self.start, self.world, self.out = config, problem, start, world, out
        self.printed = []

    def open(self):
        return ""

    def abandon(self):
        pass

    def write_ranks(self, processes):
        self.processes = processes
        self.startup = startup_summary(processes)

    def finish(self, results, backend):
        self.backend = backend
        t0 = time.perf_counter()
        hof = merged_hall_of_fame(results["islands"], self.problem, self.config.hall_of_fame)
        results["hall_of_fame"] = hof
        summary = build_summary(self, results, hof, "stopped" if results["stopped"] else "complete")
        if callable(getattr(self.problem.toolbox, "report", None)):
            # the hook writes files: give it a folder that is removed afterwards, keep its summary entries
            with tempfile.TemporaryDirectory(prefix="hpcevo-report-") as folder:
                self.printed = _report(self.problem, self.config, results, hof, summary, Path(folder))
        summary["seconds"]["output"] = time.perf_counter() - t0
        return summary


def startup_summary(processes):
    """How long the ranks took to start (process start to ready to run: interpreter, MPI, imports, config,
    problem), from what each rank reported: the slowest (and where) and the median."""
    ages = sorted(p["startup"] for p in processes)
    slowest = max(processes, key=lambda p: (p["startup"], -p["rank"]))
    middle = len(ages) // 2
    median = ages[middle] if len(ages) % 2 else (ages[middle - 1] + ages[middle]) / 2
    return {"slowest_seconds": slowest["startup"], "median_seconds": round(median, 3),
            "slowest_rank": slowest["rank"], "slowest_host": slowest["host"]}


def build_summary(run, results, hof, status):
    """summary.json's content from the results (the same for a run folder and a run in memory)."""
    config, start, world, backend = run.config, run.start, run.world, run.backend
    islands = results["islands"]
    wall = results["wall_seconds"]
    eval_s = sum(r["eval_seconds"] for r in islands)
    step_s = sum(r["step_seconds"] for r in islands)
    return {
        "problem": config.problem, "seed": config.seed, "status": status,
        "stopped_by": results["stopped"], "generation": results["generation"], "generations": config.generations,
        "resumed_from_generation": start.generation if start.resume_from else None,
        "ranks": world.size, "groups": backend.n_groups,
        "ranks_per_island": config.ranks_per_island if world.size > 1 else 1, "islands": config.islands,
        "evaluations": sum(r["evaluations"] for r in islands), "wall_seconds": wall,
        "evaluations_per_second": results["session_evaluations"] / wall if wall > 0 else None,
        "seconds": {"evaluation": eval_s, "variation": step_s - eval_s,
                    "migration": results["migration_seconds"], "waiting": results["waiting_seconds"],
                    "checkpoint": results["checkpoint_seconds"], "output": None},
        "migration_share": results["migration_seconds"] / wall if wall > 0 else None,
        "waiting_share": results["waiting_seconds"] / wall if wall > 0 else None,
        "checkpoint": {"file": CHECKPOINT_NAME if run.path else None, "bytes": run.checkpoint_bytes,
                       "parts": run.checkpoint_parts, "parts_dir": PARTS_DIR if run.checkpoint_parts else None},
        "coordination": results.get("coordination"),
        "reproducible": config.migration != "async",  # async: results depend on timing
        "startup": getattr(run, "startup", None),
        "nodes": len({p["node"] for p in run.processes}) if getattr(run, "processes", None) else None,
        "best": ({"fitness": list(hof[0].fitness.values), "individual": readable(hof[0], run.problem.toolbox)}
                 if hof else None),
        "versions": _versions(),
    }


def _report(problem, config, results, hof, summary, folder):
    """Run the toolbox's report hook (problem-specific outputs, e.g. the trading problem's strategies.csv) into
    `folder`; its dict result joins the summary; returns the lines it asks to print at the end."""
    hook = getattr(problem.toolbox, "report", None)
    if not callable(hook):
        return []
    extra = hook(str(folder), hof, **_report_extras(hook, config, results))
    if not isinstance(extra, dict):
        return []
    lines = list(extra.pop("print", ()))
    summary.update(extra)
    return lines


def _report_extras(hook, config, results):
    """The keyword arguments a report hook asks for: `populations` (final, per island, in island order),
    `trials` (the union of the islands' toolbox.trial records) and `seed`."""
    params = inspect.signature(hook).parameters
    islands = results["islands"]
    offered = {
        "populations": lambda: [st.get("population", []) for st in islands],
        "trials": lambda: {k: v for st in islands for k, v in sorted(st.get("trials", {}).items())},
        "seed": lambda: config.seed,
    }
    accepts_all = any(p.kind is p.VAR_KEYWORD for p in params.values())
    return {k: make() for k, make in offered.items() if accepts_all or k in params}


def _kernels_text(kernels, version):
    """'numba X (JIT)', 'numba X (compiled ahead of time)' or 'NumPy (why the kernels are off)'."""
    if not kernels.AVAILABLE:
        return f"NumPy ({kernels.why_unavailable})"
    from importlib.metadata import PackageNotFoundError

    try:
        numba = f"numba {version('numba')}"
    except PackageNotFoundError:  # the ahead-of-time module runs without numba installed
        numba = "numba (not installed)"
    return f"{numba} ({'compiled ahead of time' if kernels.BACKEND == 'ahead of time' else 'JIT'})"


@functools.cache
def _versions():
    """The software versions for summary.json (computed once: summary.json is rewritten at every checkpoint)."""
    from importlib.metadata import version

    import mpi4py
    from mpi4py import MPI

    out = {"hpcevo": __version__, "deap": version("deap"), "mpi4py": mpi4py.__version__,
           "mpi": MPI.Get_library_version().splitlines()[0].strip(), "python": sys.version.split()[0]}
    kernels = sys.modules.get("hpcevo.trading.kernels")  # loaded by the trading problem only
    if kernels is not None:
        out["kernels"] = _kernels_text(kernels, version)
    return out
