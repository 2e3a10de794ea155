"""Evaluate individuals without letting one bad evaluation break a map: failures come back as records.

The same `evaluate_one` runs in-process (a group of one rank) and on worker ranks (through
`evaluate_remote`, which uses the problem each process built for itself, so `evaluate` is never pickled).
"""

import math
import traceback
from dataclasses import dataclass

from .errors import Rejected

__all__ = ["Failure", "evaluate_one", "evaluate_remote", "install_local", "REJECTED"]

REJECTED = "Rejected"  # Failure.kind of an individual its evaluate rejected on purpose

_LOCAL = {}  # per-process: the problem built by this rank and where it runs ("rank 3 on node12")


@dataclass(frozen=True)
class Failure:
    """Why one evaluation failed, and where."""

    kind: str
    message: str
    traceback: str
    where: str


def install_local(problem, where):
    """Make this process's problem the one `evaluate_remote` uses (called once on every rank)."""
    _LOCAL["problem"] = problem
    _LOCAL["where"] = where


def evaluate_one(evaluate, individual, n_objectives, where):
    """Return (values, None) or (None, Failure): exceptions, wrong lengths and non-finite values fail."""
    try:
        values = tuple(float(v) for v in evaluate(individual))
    except Rejected as exc:
        return None, Failure(REJECTED, str(exc)[:500], "", where)
    except Exception as exc:  # user code may raise anything; the island decides what a failure means
        return None, Failure(type(exc).__name__, str(exc)[:500], traceback.format_exc(), where)
    if len(values) != n_objectives:
        return None, Failure("WrongLength", f"evaluate returned {len(values)} values, the fitness has "
                             f"{n_objectives} objective(s)", "", where)
    if not all(math.isfinite(v) for v in values):
        return None, Failure("NonFinite", f"evaluate returned {values}", "", where)
    return values, None


def evaluate_remote(individual):
    """Task sent to a worker rank: evaluate with the worker's own problem."""
    problem = _LOCAL["problem"]
    return evaluate_one(problem.toolbox.evaluate, individual, problem.n_objectives, _LOCAL["where"])
