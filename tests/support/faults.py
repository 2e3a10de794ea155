"""Fault injection for the fault-matrix tests: problems that misbehave on one rank after a number of evaluations."""

import math
import os
import signal
import time

from deap import base, tools

from hpcevo.problems import rastrigin
from hpcevo.problems.common import creator_class

FAULTS = ("raise", "nan", "inf", "wrong_length", "hang", "hang_c", "exit", "kill")


def _rank():
    from mpi4py import MPI

    return MPI.COMM_WORLD.Get_rank()


def faulty(fault="raise", rank=1, after=40, dimension=5, delay=0.0):
    """Rastrigin whose evaluations on MPI rank `rank` misbehave from the `after`-th one there on:
    raise, return NaN / inf / two values, os._exit (exit) or SIGKILL itself (kill); or only the `after`-th
    sleeps forever (hang), or does so with SIGALRM blocked (hang_c: like C code that never returns to Python)."""
    if fault not in FAULTS:
        raise ValueError(f"fault must be one of {FAULTS}")
    tb = rastrigin(dimension=dimension)
    tb.register("evaluate", _faulty_eval, evaluate=tb.evaluate, fault=fault, rank=rank, after=after, delay=delay,
                counter=[0])
    return tb


def _faulty_eval(ind, evaluate, fault, rank, after, delay, counter):
    if delay:
        time.sleep(delay)
    if _rank() != rank:
        return evaluate(ind)
    counter[0] += 1
    if counter[0] < after:
        return evaluate(ind)
    if fault == "raise":
        raise RuntimeError(f"injected failure on rank {rank}")
    if fault in ("nan", "inf"):
        return (math.nan if fault == "nan" else math.inf,)
    if fault == "wrong_length":
        return (1.0, 2.0)
    if fault in ("hang", "hang_c"):
        if counter[0] > after:  # one evaluation hangs; the later ones return
            return evaluate(ind)
        if fault == "hang_c":
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        time.sleep(3600)
    if fault == "exit":
        os._exit(3)
    os.kill(os.getpid(), signal.SIGKILL)


def poisoned_migrants(rank=2, after=40, dimension=5):
    """Rastrigin whose individuals stop pickling on `rank` after `after` evaluations there: that leader raises
    while sending its emigrants to rank 0 (during migration)."""
    tb = rastrigin(dimension=dimension)
    fitness = creator_class("FitnessMin", base.Fitness, weights=(-1.0,))
    cls = creator_class("PoisonIndividual", list, fitness=fitness, __reduce__=_reduce_or_raise)
    tb.register("individual", _individual, cls, tb.individual)
    tb.register("population", tools.initRepeat, list, tb.individual)
    tb.register("evaluate", _count_eval, evaluate=tb.evaluate, rank=rank, after=after, counter=[0])
    return tb


_POISONED = []


def _individual(cls, make):
    return cls(make())


def _reduce_or_raise(self):
    if _POISONED:
        raise RuntimeError("injected failure: this individual cannot be pickled any more")
    return (_rebuild, (type(self), list(self), self.__dict__))


def _rebuild(cls, genes, state):
    ind = cls(genes)
    ind.__dict__.update(state)
    return ind


def _count_eval(ind, evaluate, rank, after, counter):
    if _rank() == rank:
        counter[0] += 1
        if counter[0] >= after:
            _POISONED.append(True)
    return evaluate(ind)


def failing_report(length=20):
    """OneMax whose report hook (rank 0, while writing the outputs) raises."""
    from hpcevo.problems import onemax

    tb = onemax(length=length)
    tb.register("report", _raise_in_report)
    return tb


def _raise_in_report(run_dir, hall_of_fame):
    raise OSError(5, "injected I/O failure in the report hook")
