"""Evaluate individuals without letting one bad evaluation break a map: failures come back as records.

The same `evaluate_one` runs in-process (a group of one rank) and on worker ranks (through
`evaluate_remote`, which uses the problem each process built for itself, so `evaluate` is never pickled).
"""

import math
import os
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass

from .errors import Rejected

__all__ = ["Failure", "evaluate_one", "evaluate_many", "evaluate_remote", "evaluate_remote_batch", "install_local",
           "REJECTED", "TIMEOUT"]

REJECTED = "Rejected"  # Failure.kind of an individual its evaluate rejected on purpose
TIMEOUT = "Timeout"  # Failure.kind of an evaluation that ran past eval_timeout

# per-process: the problem built by this rank, where it runs ("rank 3 on node12"), the evaluation time limit,
# and when the evaluation in progress started (read by the watchdog thread)
_LOCAL = {"timeout": 0.0, "started": None}


class _TimedOut(BaseException):
    """Raised into an evaluation by SIGALRM (a BaseException, so a user's `except Exception` cannot swallow it)."""


@dataclass(frozen=True)
class Failure:
    """Why one evaluation failed, and where."""

    kind: str
    message: str
    traceback: str
    where: str


def install_local(problem, where, timeout=0.0, abort=None):
    """Make this process's problem the one `evaluate_remote` uses (called once on every rank, main thread).

    With a `timeout`, SIGALRM interrupts an evaluation that runs past it; a watchdog thread ends the whole
    job through `abort` if one cannot be interrupted (stuck in C code) within a grace period after that.
    """
    _LOCAL.update(problem=problem, where=where, timeout=float(timeout or 0.0), started=None)
    if timeout:
        signal.signal(signal.SIGALRM, _alarm)
        if abort is not None and not _LOCAL.get("watchdog"):
            _LOCAL["watchdog"] = threading.Thread(target=_watchdog, args=(abort,), name="hpcevo-watchdog",
                                                  daemon=True)
            _LOCAL["watchdog"].start()


def _alarm(signum, frame):
    if _LOCAL["started"] is not None:
        raise _TimedOut()


def _watchdog(abort):
    while True:
        timeout = _LOCAL["timeout"]
        time.sleep(min(1.0, timeout / 2))
        started = _LOCAL["started"]
        grace = max(5.0, timeout)
        if started is not None and time.monotonic() - started > timeout + grace:
            os.write(2, f"hpcevo: an evaluation on {_LOCAL['where']} has run {time.monotonic() - started:.0f} s, past "
                        f"eval_timeout = {timeout:g} s plus {grace:g} s of grace, and cannot be interrupted (stuck "
                        f"outside Python, e.g. in C code or I/O); ending the whole job.\n".encode())
            sys.stderr.flush()
            abort(1)


def _call(evaluate, individual, scale=1):
    timeout = _LOCAL["timeout"] * scale
    if not timeout:
        return evaluate(individual)
    main = threading.current_thread() is threading.main_thread()
    _LOCAL["started"] = time.monotonic()
    try:
        if main:
            signal.setitimer(signal.ITIMER_REAL, timeout)
        return evaluate(individual)
    finally:
        if main:
            signal.setitimer(signal.ITIMER_REAL, 0)
        _LOCAL["started"] = None


def evaluate_one(evaluate, individual, n_objectives, where):
    """Return (values, None) or (None, Failure): exceptions, time-outs, wrong lengths and non-finite values fail."""
    try:
        values = _call(evaluate, individual)
    except _TimedOut:
        return None, Failure(TIMEOUT, f"the evaluation did not finish within eval_timeout = {_LOCAL['timeout']:g} s",
                             "", where)
    except Rejected as exc:
        return None, Failure(REJECTED, str(exc)[:500], "", where)
    except Exception as exc:  # user code may raise anything; the island decides what a failure means
        return None, Failure(type(exc).__name__, str(exc)[:500], traceback.format_exc(), where)
    return _checked(values, n_objectives, where)


def evaluate_many(problem, individuals, where):
    """Evaluate `individuals` as evaluate_one would, one (values, failure) per individual, through the toolbox's
    `evaluate_batch(individuals)` when it has one.

    The batch returns one entry per individual: its objective values, or an exception instance for an
    individual that failed (a `hpcevo.Rejected` for one rejected on purpose); only that individual is
    penalised.  A batch that raises, times out (eval_timeout times the batch's length) or returns a list of
    the wrong length is evaluated again one by one with `evaluate`, so a failing individual never costs the
    others their fitness; one that returns NotImplemented (it declines, having evaluated nothing) is evaluated
    one by one at once."""
    evaluate, n = problem.toolbox.evaluate, problem.n_objectives
    batch = getattr(problem.toolbox, "evaluate_batch", None)
    if batch is None or not individuals:
        return [evaluate_one(evaluate, ind, n, where) for ind in individuals]
    try:
        entries = _call(batch, individuals, scale=len(individuals))
        entries = None if entries is NotImplemented else list(entries)
    except (_TimedOut, Exception):  # noqa: BLE001 - any failure of the batch: evaluate one by one
        entries = None
    if entries is None or len(entries) != len(individuals):
        return [evaluate_one(evaluate, ind, n, where) for ind in individuals]
    return [_entry(entry, n, where) for entry in entries]


def _entry(entry, n_objectives, where):
    if isinstance(entry, Rejected):
        return None, Failure(REJECTED, str(entry)[:500], "", where)
    if isinstance(entry, BaseException):
        text = "".join(traceback.format_exception(type(entry), entry, entry.__traceback__))
        return None, Failure(type(entry).__name__, str(entry)[:500], text, where)
    return _checked(entry, n_objectives, where)


def _checked(values, n_objectives, where):
    """(values as floats, None), or (None, Failure) for values of the wrong length or not finite."""
    try:
        values = tuple(map(float, values))
    except (TypeError, ValueError) as exc:
        return None, Failure(type(exc).__name__, f"evaluate returned {values!r}, not a tuple of numbers: {exc}"[:500],
                             "", where)
    if len(values) != n_objectives:
        return None, Failure("WrongLength", f"evaluate returned {len(values)} values, the fitness has "
                             f"{n_objectives} objective(s)", "", where)
    for v in values:
        if not _isfinite(v):
            return None, Failure("NonFinite", f"evaluate returned {values}", "", where)
    return values, None


_isfinite = math.isfinite


def evaluate_remote(individual):
    """Task sent to a worker rank: evaluate with the worker's own problem."""
    problem = _LOCAL["problem"]
    return evaluate_one(problem.toolbox.evaluate, individual, problem.n_objectives, _LOCAL["where"])


def evaluate_remote_batch(individuals):
    """Task sent to a worker rank: a chunk of individuals through the worker's own problem's evaluate_batch."""
    return evaluate_many(_LOCAL["problem"], individuals, _LOCAL["where"])
