"""`hpcevo run` from start to finish on every rank: config, problem, world checks, evolution, outputs.

User mistakes are found once (config on rank 0, the problem on every rank), reported once by rank 0,
and every rank returns status 2 together.  Anything else that goes wrong on any rank ends the whole
job at once through `World.abort`, naming the rank and host.
"""

import dataclasses
import functools
import inspect
import os
import sys
import time
import traceback
from contextlib import contextmanager
from pathlib import Path

from . import __version__
from .checkpoint import CHECKPOINT_NAME, read_state, write_checkpoint
from .comm import detect_world
from .engine import Control, resolve_topology, run_islands
from .errors import ConfigError, UserError, WorldError
from .output import RunFiles, atomic_write, csv_text, make_run_dir, readable, write_config, write_results, write_summary
from .problem import load_problem
from .resume import STARTUP_FILES, plan_run
from .stopping import EXIT_INTERRUPTED, EXIT_OUTPUT, EXIT_STOPPED, StopFlag

__all__ = ["run", "report_crash"]


def _check_world(world, config):
    """Raise WorldError when the launched ranks do not fit the config; return the number of groups."""
    rpi = config.ranks_per_island
    if world.size == 1:
        return 1
    if world.size % rpi:
        raise WorldError(f"{world.size} ranks cannot be split into groups of ranks_per_island = {rpi}: launch a "
                         f"multiple of {rpi} ranks (e.g. mpiexec -n {rpi * max(1, world.size // rpi)}) or change "
                         f"--ranks-per-island.")
    groups = world.size // rpi
    if config.islands and config.islands < groups:
        raise WorldError(f"islands = {config.islands} is fewer than the {groups} rank groups ({world.size} ranks / "
                         f"ranks_per_island {rpi}): {groups - config.islands} group(s) would sit idle. Set islands to "
                         f"at least {groups}, raise --ranks-per-island, or launch fewer ranks.")
    if rpi > 1 and not world.thread_multiple():
        raise WorldError("ranks_per_island > 1 needs an MPI initialised with MPI_THREAD_MULTIPLE (group leaders "
                         "migrate while their executor serves workers), and this MPI did not grant it. Set "
                         "MPI4PY_RC_THREAD_LEVEL=multiple, use an MPI built with thread support (e.g. the mpich "
                         "extra: pip install 'hpcevo[mpich]'), or run with ranks_per_island = 1.")
    return groups


def _agree(world, error):
    """All ranks exchange their own user error (or None); rank 0 prints the first. True when all are fine."""
    errors = world.allgather(error)
    for rank, message in enumerate(errors):
        if message is not None:
            if world.rank == 0:
                where = "" if rank == 0 else f" (on rank {rank})"
                print(f"hpcevo: error{where}: {message}", file=sys.stderr, flush=True)
            return False
    return True


def _rank0(world, step):
    """Run `step` on rank 0 only and broadcast (value, error message); rank 0 prints the error."""
    payload = None
    if world.rank == 0:
        try:
            payload = (step(), None)
        except UserError as exc:
            payload = (None, str(exc))
            print(f"hpcevo: error: {exc}", file=sys.stderr, flush=True)
    return world.bcast(payload)


def run(config_path, overrides, out=sys.stdout, resume=None):
    """Run (or with `resume`, continue) the search described by the config file and flags; returns the exit
    status: 0 complete, 2 user mistake, EXIT_STOPPED stopped early with a checkpoint."""
    started = time.perf_counter()
    world = detect_world()
    stop = StopFlag(announce=world.rank == 0, interrupt_now=lambda: _interrupt_now(world)).install()
    try:
        return _run(world, stop, config_path, overrides, out, resume, started)
    finally:
        stop.restore()


def _run(world, stop, config_path, overrides, out, resume, started):
    def prepare():
        config, start = plan_run(config_path, overrides, resume)
        return config.resolve(_check_world(world, config)), start

    (config, start), error = _unpack(_rank0(world, prepare))
    if error:
        return 2
    try:
        problem, error = load_problem(config.problem, config.problem_options, config.algorithm, config.on_error), None
        resolve_topology(config.topology)
    except UserError as exc:
        problem, error = None, str(exc)
    if not _agree(world, error):
        return 2
    if config.algorithm == "auto":
        config = dataclasses.replace(config, algorithm="nsga2" if problem.n_objectives > 1 else "simple")
    if world.size == 1 and config.ranks_per_island > 1:
        print("hpcevo: note: one process runs every island; ranks_per_island applies under mpiexec.",
              file=sys.stderr)
    loaded = {}

    def begin():
        try:
            return _begin()
        except OSError as exc:
            folder = exc.filename or start.run_dir or config.out
            raise ConfigError(f"cannot create or write the run folder {folder}: {exc.strerror or exc}. Choose "
                              f"another --out, or fix that folder's permissions.") from None

    def _begin():
        if start.resume_from:
            loaded["state"] = read_state(start.resume_from)
            run_dir = Path(start.run_dir)
            loaded["files"] = RunFiles(run_dir, problem.n_objectives, resume=loaded["state"]["files"])
            if start.written_by != __version__:
                print(f"hpcevo: note: the checkpoint was written by hpcevo {start.written_by or 'unknown'}, this is "
                      f"{__version__}; results may differ from an uninterrupted run.", file=sys.stderr)
        else:
            run_dir = make_run_dir(start.run_dir or config.out, config.problem, allowed=STARTUP_FILES
                                   if start.run_dir else ())
        write_config(run_dir, dataclasses.replace(config, out=str(run_dir)))
        if not start.resume_from:
            loaded["files"] = RunFiles(run_dir, problem.n_objectives)
        return str(run_dir)

    run_dir, error = _rank0(world, begin)
    if error:
        return 2
    config = dataclasses.replace(config, out=run_dir)
    # which process is which rank: a rank killed outright cannot say so itself, and the launcher names PIDs
    processes = world.allgather({"rank": world.rank, "host": world.host, "pid": os.getpid()})
    if world.rank == 0:
        atomic_write(Path(run_dir) / "ranks.csv", csv_text(processes, ["rank", "host", "pid"]))
    backend = world.backend(config.ranks_per_island)
    stop.attach(backend.notify_stop)
    if world.rank == 0 and config.progress:
        verb = f"resuming at generation {start.generation}" if start.resume_from else "starting"
        print(f"hpcevo {__version__}: {config.problem}, {config.islands} islands x {config.population} "
              f"({config.algorithm}), {config.generations} generations, {world.size} rank(s) in "
              f"{backend.n_groups} group(s), seed {config.seed}, {verb} -> {run_dir}", file=out, flush=True)
    checkpoint = {}

    def write(state):
        with _writing(run_dir, checkpoint):
            state["files"] = loaded["files"].sync()
            checkpoint["bytes"] = write_checkpoint(run_dir, config.to_toml(), config.problem, state)
            checkpoint["generation"] = state["generation"]

    def progress(results):
        with _writing(run_dir, checkpoint):
            _outputs(world, config, problem, run_dir, results, backend, start, checkpoint, "running")

    root = world.rank == 0
    def record(*args):
        with _writing(run_dir, checkpoint):
            loaded["files"](*args)

    control = Control(stop=stop, resuming=bool(start.resume_from), resume=loaded.get("state"),
                      checkpoint=write if root else None, progress=progress if root else None,
                      record=record if root else None, started=started)
    results = None
    with backend.serving(problem, config.chunksize, config.eval_timeout) as evaluator:
        if evaluator is not None:
            try:
                results = run_islands(config, problem, backend, evaluator, out=out, control=control)
            except OutputError as exc:
                report_crash(str(exc), EXIT_OUTPUT, plain=True)
            except BaseException:  # abort from here: leaving the executor would wait on its workers
                report_crash(crash_text(), 130 if isinstance(sys.exc_info()[1], KeyboardInterrupt) else 1)
    status = 0
    if world.rank == 0:
        try:
            with _writing(run_dir, checkpoint):
                loaded["files"].close()
                status = _finish(world, config, problem, run_dir, results, backend, start, checkpoint, out)
        except OutputError as exc:
            report_crash(str(exc), EXIT_OUTPUT, plain=True)
    return world.bcast(status)


class OutputError(RuntimeError):
    """Rank 0 could not write to the run folder (disk full, folder removed or not writable)."""


@contextmanager
def _writing(run_dir, checkpoint):
    """Turn an OSError while writing the run folder into an OutputError that says what is intact."""
    try:
        yield
    except OSError as exc:
        what = exc.filename or run_dir
        kept = (f"the last good checkpoint (generation {checkpoint['generation']}) and the files written before are "
                f"intact" if checkpoint.get("generation") is not None else "no checkpoint had been written yet")
        raise OutputError(f"cannot write {what}: {exc.strerror or exc}. {kept[0].upper()}{kept[1:]}. Free space or "
                          f"fix the run folder {run_dir}, then continue with: python -m hpcevo run --resume "
                          f"{run_dir}") from None


def _unpack(payload):
    value, error = payload
    return (value if value is not None else (None, None)), error


def _interrupt_now(world):
    """A second SIGINT: end every rank at once (the last checkpoint, if any, stays as it was)."""
    os.write(2, f"hpcevo: second SIGINT on {world.where}: ending the whole job now, without a new checkpoint.\n"
                .encode())
    world.abort(EXIT_INTERRUPTED)


def _finish(world, config, problem, run_dir, results, backend, start, checkpoint, out):
    """Rank 0: write the outputs and summary; returns the exit status (0, or EXIT_STOPPED when stopped early)."""
    stopped = results["stopped"]
    summary, hof = _outputs(world, config, problem, run_dir, results, backend, start, checkpoint,
                            "stopped" if stopped else "complete", report=True)
    if stopped:
        print(f"hpcevo: stopped after generation {results['generation']} of {config.generations} ({stopped}); "
              f"checkpoint written to {Path(run_dir) / CHECKPOINT_NAME}. Continue with:\n"
              f"  python -m hpcevo run --resume {run_dir}\n"
              f"(on any number of ranks, e.g. under mpiexec or srun). Exit status {EXIT_STOPPED}.",
              file=sys.stderr, flush=True)
        return EXIT_STOPPED
    if config.progress:
        best = "/".join(f"{v:.6g}" for v in hof[0].fitness.values) if hof else "n/a"
        print(f"done: {summary['evaluations']:,} evaluations in {summary['wall_seconds']:.2f}s "
              f"({summary['evaluations_per_second'] or 0:,.0f}/s), best {best}; results in {run_dir}",
              file=out, flush=True)
    return 0


def _outputs(world, config, problem, run_dir, results, backend, start, checkpoint, status, report=False):
    """Rank 0: the result files and summary.json (`status`: running, stopped or complete); (summary, hof)."""
    t0 = time.perf_counter()
    hof = write_results(run_dir, config, problem, results)
    islands = results["islands"]
    evaluations = sum(r["evaluations"] for r in islands)
    wall = results["wall_seconds"]
    eval_s = sum(r["eval_seconds"] for r in islands)
    step_s = sum(r["step_seconds"] for r in islands)
    summary = {
        "problem": config.problem, "seed": config.seed, "status": status,
        "stopped_by": results["stopped"], "generation": results["generation"], "generations": config.generations,
        "resumed_from_generation": start.generation if start.resume_from else None,
        "ranks": world.size, "groups": backend.n_groups,
        "ranks_per_island": config.ranks_per_island if world.size > 1 else 1, "islands": config.islands,
        "evaluations": evaluations, "wall_seconds": wall,
        "evaluations_per_second": results["session_evaluations"] / wall if wall > 0 else None,
        "seconds": {"evaluation": eval_s, "variation": step_s - eval_s,
                    "migration": results["migration_seconds"], "waiting": results["waiting_seconds"],
                    "checkpoint": results["checkpoint_seconds"], "output": None},
        "migration_share": results["migration_seconds"] / wall if wall > 0 else None,
        "waiting_share": results["waiting_seconds"] / wall if wall > 0 else None,
        "checkpoint": {"file": CHECKPOINT_NAME, "bytes": checkpoint.get("bytes")},
        "best": ({"fitness": list(hof[0].fitness.values), "individual": readable(hof[0], problem.toolbox)}
                 if hof else None),
        "versions": _versions(),
    }
    hook = getattr(problem.toolbox, "report", None)
    lines = []
    if report and callable(hook):  # problem-specific outputs (e.g. the trading problem's strategies.csv)
        extra = hook(run_dir, hof, **_report_extras(hook, config, results))
        if isinstance(extra, dict):  # more summary.json entries; "print": lines for the end of the run
            lines = list(extra.pop("print", ()))
            summary.update(extra)
    summary["seconds"]["output"] = time.perf_counter() - t0
    write_summary(run_dir, summary)
    for line in lines if config.progress or status != "running" else ():
        print(line, file=sys.stdout, flush=True)
    return summary, hof


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


@functools.cache
def _versions():
    """The software versions for summary.json (computed once: summary.json is rewritten at every checkpoint)."""
    from importlib.metadata import version

    import mpi4py
    from mpi4py import MPI

    return {"hpcevo": __version__, "deap": version("deap"), "mpi4py": mpi4py.__version__,
            "mpi": MPI.Get_library_version().splitlines()[0].strip(), "python": sys.version.split()[0]}


def report_crash(exc_text, status=1, plain=False):
    """Print what failed where (or that Ctrl-C arrived), then end every rank of the job (never returns).

    `plain`: `exc_text` is a one-paragraph message, not a traceback."""
    try:
        world = detect_world()
    except WorldError:
        world = None
    where = world.where if world is not None else "this process"
    if status == 130:
        print(f"hpcevo: interrupted (SIGINT) on {where}; ending the whole job.", file=sys.stderr, flush=True)
    elif plain:
        print(f"hpcevo: error on {where}, ending the whole job: {exc_text}", file=sys.stderr, flush=True)
    else:
        print(f"hpcevo: {where} failed; ending the whole job.\n{exc_text}", file=sys.stderr, flush=True)
    if world is None:
        sys.exit(status)
    world.abort(status)


def crash_text():
    return traceback.format_exc().rstrip()
