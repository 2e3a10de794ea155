"""A problem whose evaluation cost differs between ranks (load imbalance), for the asynchronous migration tests
and benchmarks/bench_async.py.  Sleeping costs time but no CPU, so the imbalance survives oversubscription."""

import time

from hpcevo.problems import rastrigin


def _rank_and_size():
    from mpi4py import MPI

    return MPI.COMM_WORLD.Get_rank(), MPI.COMM_WORLD.Get_size()


def imbalanced(delay=0.001, skew=3.0, block=0, dimension=10):
    """Rastrigin that sleeps per evaluation: with `block` 0, rank r sleeps delay * (1 + skew * r / (size - 1))
    (a fixed imbalance); with `block` > 0, one rank at a time is the slow one (delay * (1 + skew), the others
    `delay`), the slow rank moving on every `block` evaluations of this process (an imbalance that moves)."""
    tb = rastrigin(dimension=dimension)
    rank, size = _rank_and_size()
    state = {"calls": 0}

    def evaluate(ind, evaluate=tb.evaluate):
        if block:
            slow = (state["calls"] // block + rank) % size == 0
            state["calls"] += 1
            time.sleep(delay * (1 + skew) if slow else delay)
        else:
            time.sleep(delay * (1 + skew * rank / max(1, size - 1)))
        return evaluate(ind)

    tb.register("evaluate", evaluate)
    return tb
