"""Problem factories for tests: well-behaved, broken in specific ways, or failing on one rank."""

import math
import operator
import os
import random
import time

from deap import base, gp, tools

from hpcevo.problems import onemax, rastrigin
from hpcevo.problems.common import creator_class


def _rank():
    from mpi4py import MPI

    return MPI.COMM_WORLD.Get_rank()


def plain_toolbox(length=20):
    """A DEAP script's own toolbox, as a user would write it (no hpcevo helpers)."""
    fitness = creator_class("TestFitnessMax", base.Fitness, weights=(1.0,))
    individual = creator_class("TestIndividual", list, fitness=fitness)
    tb = base.Toolbox()
    tb.register("attr", random.randint, 0, 1)
    tb.register("individual", tools.initRepeat, individual, tb.attr, length)
    tb.register("population", tools.initRepeat, list, tb.individual)
    tb.register("evaluate", count_ones)
    tb.register("mate", tools.cxTwoPoint)
    tb.register("mutate", tools.mutFlipBit, indpb=0.05)
    tb.register("select", tools.selTournament, tournsize=3)
    return tb


# a toolbox object at module level, as DEAP's tutorials write it (`--problem tests.support.factories:MODULE_TOOLBOX`)
MODULE_TOOLBOX = None


def count_ones(ind):
    return (float(sum(ind)),)


def missing_entries():
    tb = plain_toolbox()
    tb.unregister("mate")
    tb.unregister("select")
    return tb


def wrong_length():
    tb = plain_toolbox()
    tb.register("evaluate", _two_values)
    return tb


def _two_values(ind):
    return 1.0, 2.0


def raising_factory():
    raise RuntimeError("cannot reach the licence server")


def unpicklable_individual():
    tb = plain_toolbox()
    base_individual = tb.individual

    def individual():
        ind = base_individual()
        ind.handle = lambda: None  # a lambda attribute makes the individual unpicklable
        return ind

    tb.register("individual", individual)
    tb.unregister("population")
    return tb


def flaky(rate=0.2, length=30):
    """OneMax whose evaluate raises ZeroDivisionError for a fixed share of individuals."""
    tb = onemax(length=length)
    tb.register("evaluate", _flaky_eval, rate=rate)
    return tb


def _flaky_eval(ind, rate):
    # Deterministic in the individual, so the failures are the same in every launch mode.
    if hash(tuple(ind)) % 1000 < rate * 1000:
        raise ZeroDivisionError("strategy divided by zero")
    return (float(sum(ind)),)


def fail_on_rank(rank=2, after=3, mode="raise", dimension=5):
    """Rastrigin that, on one MPI rank, raises (or os._exit's) after `after` evaluations there."""
    tb = rastrigin(dimension=dimension)
    tb.register("evaluate", _fail_on_rank_eval, evaluate=tb.evaluate, rank=rank, after=after, mode=mode,
                counter=[0])
    return tb


def _fail_on_rank_eval(ind, evaluate, rank, after, mode, counter):
    if _rank() == rank:
        counter[0] += 1
        if counter[0] > after:
            if mode == "exit":
                os._exit(3)
            if mode == "hang":
                time.sleep(3600)
            raise RuntimeError(f"injected failure on rank {rank}")
    return evaluate(ind)


def slow(delay=0.001, dimension=10):
    """Rastrigin that sleeps `delay` seconds per evaluation (an expensive fitness)."""
    tb = rastrigin(dimension=dimension)
    tb.register("evaluate", _slow_eval, evaluate=tb.evaluate, delay=delay)
    return tb


def _slow_eval(ind, evaluate, delay):
    time.sleep(delay)
    return evaluate(ind)


def crash_topology(n_islands, epoch, rng):
    """A custom topology that raises at the second epoch (rank 0 fails mid-run)."""
    if epoch == 1:
        raise ValueError("topology bug")
    return [(i, (i + 1) % n_islands) for i in range(n_islands)]


def star(n_islands, epoch, rng):
    """A custom topology: every island sends to island 0."""
    return [(i, 0) for i in range(1, n_islands)]


def rank_dependent(n_islands, epoch, rng):
    """An impure topology: its routes depend on the MPI rank that computes them (leaders disagree)."""
    from mpi4py import MPI

    shift = 1 + MPI.COMM_WORLD.Get_rank() % 2
    return [(i, (i + shift) % n_islands) for i in range(n_islands)]


def numpy_individuals(dimension=6):
    """Individuals that are numpy arrays (as in DEAP's numpy examples): clone and hall of fame must cope."""
    import numpy as np

    from hpcevo.problems.functions import eval_sphere

    fitness = creator_class("TestFitnessMinNp", base.Fitness, weights=(-1.0,))
    individual = creator_class("TestNumpyIndividual", np.ndarray, fitness=fitness)
    tb = base.Toolbox()
    tb.register("individual", _numpy_individual, individual, dimension)
    tb.register("evaluate", eval_sphere)
    tb.register("mate", tools.cxTwoPoint)
    tb.register("mutate", tools.mutGaussian, mu=0.0, sigma=0.5, indpb=0.3)
    tb.register("select", tools.selTournament, tournsize=3)
    return tb


def _numpy_individual(cls, dimension):
    return cls([random.uniform(-5, 5) for _ in range(dimension)])


def symbolic_regression(points=16):
    """DEAP's symbolic-regression example (GP with an ephemeral constant): trees cross ranks as migrants."""

    pset = gp.PrimitiveSet("MAIN", 1)
    for func, arity in ((operator.add, 2), (operator.sub, 2), (operator.mul, 2), (_protected_div, 2),
                        (operator.neg, 1), (math.cos, 1), (math.sin, 1)):
        pset.addPrimitive(func, arity)
    pset.addEphemeralConstant("test_rand101", _rand101)
    pset.renameArguments(ARG0="x")
    fitness = creator_class("TestFitnessMinGP", base.Fitness, weights=(-1.0,))
    tree = creator_class("TestTree", gp.PrimitiveTree, fitness=fitness)
    tb = base.Toolbox()
    tb.register("expr", gp.genHalfAndHalf, pset=pset, min_=1, max_=2)
    tb.register("individual", tools.initIterate, tree, tb.expr)
    tb.register("evaluate", _symreg_error, pset=pset, xs=[i / points for i in range(-points, points)])
    tb.register("select", tools.selTournament, tournsize=3)
    tb.register("mate", gp.cxOnePoint)
    tb.register("expr_mut", gp.genFull, min_=0, max_=2)
    tb.register("mutate", gp.mutUniform, expr=tb.expr_mut, pset=pset)
    limit = gp.staticLimit(key=operator.attrgetter("height"), max_value=12)
    tb.decorate("mate", limit)
    tb.decorate("mutate", limit)
    return tb


def _rand101():
    return random.randint(-1, 1)


def _protected_div(a, b):
    return a / b if b else 1.0


def _symreg_error(ind, pset, xs):
    func = gp.compile(ind, pset)
    return (math.fsum((func(x) - (x ** 4 + x ** 3 + x ** 2 + x)) ** 2 for x in xs) / len(xs),)


def picky(length=30, minimum=15):
    """OneMax that rejects (hpcevo.errors.Rejected) individuals with fewer than `minimum` ones."""
    tb = onemax(length=length)
    tb.register("evaluate", _picky_eval, minimum=minimum)
    tb.penalty = (0.0,)
    return tb


def _picky_eval(ind, minimum):
    from hpcevo.errors import Rejected

    if sum(ind) < minimum:
        raise Rejected(f"only {sum(ind)} ones")
    return (float(sum(ind)),)


def reporting(length=20):
    """A toolbox with a report hook that writes the best individual to best.txt."""
    tb = plain_toolbox(length)
    tb.register("report", _write_best)
    return tb


def _write_best(run_dir, hall_of_fame):
    with open(os.path.join(run_dir, "best.txt"), "w") as fh:
        fh.write(f"{hall_of_fame[0]} {hall_of_fame[0].fitness.values[0]}\n")


def slow_until_requeued(delay=0.05, dimension=10):
    """Rastrigin that sleeps `delay` seconds per evaluation only in a SLURM job's first run (SLURM_RESTART_COUNT
    unset or 0): a job that reaches its time limit, then finishes quickly once requeued. Same results either way."""
    tb = rastrigin(dimension=dimension)
    if os.environ.get("SLURM_RESTART_COUNT", "0") == "0":
        tb.register("evaluate", _slow_eval, evaluate=tb.evaluate, delay=delay)
    return tb


MODULE_TOOLBOX = plain_toolbox()


def batched(length=20, fail_every=0, mode="entries"):
    """plain_toolbox with evaluate_batch: counts ones for a whole list at once. With `fail_every` k, individuals
    whose ones are a multiple of k fail (ValueError): `mode` "entries" returns the exception as that entry, "raise"
    makes the whole batch raise (the engine then evaluates one by one). Batch calls are counted per process."""
    tb = plain_toolbox(length)
    tb.register("evaluate", _batched_one, fail_every=fail_every)
    tb.register("evaluate_batch", _batched_many, fail_every=fail_every, mode=mode)
    return tb


BATCH_CALLS = []  # the sizes of the batches evaluate_batch was called with, in this process


def _batched_one(ind, fail_every):
    ones = sum(ind)
    if fail_every and ones % fail_every == 0:
        raise ValueError(f"{ones} ones")
    return (float(ones),)


def _batched_many(individuals, fail_every, mode):
    BATCH_CALLS.append(len(individuals))
    out = []
    for ind in individuals:
        ones = sum(ind)
        if fail_every and ones % fail_every == 0:
            if mode == "raise" and len(individuals) > 1:
                raise ValueError("the whole batch fails")
            out.append(ValueError(f"{ones} ones"))
        else:
            out.append((float(ones),))
    return out
