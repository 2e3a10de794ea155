"""A faster stand-in for DEAP's varAnd on real vectors: the same children and random state, with less work.

`equivalent(toolbox)` returns `blend_gauss(population, toolbox, cxpb, mutpb, clone)` when the toolbox's `mate` is DEAP's
`cxBlend` and its `mutate` DEAP's `mutGaussian` on scalar mu and sigma, each registered by keyword and possibly
wrapped in `problems.common.clipped` (what the built-in real-valued problems register), else None.

Python's `random.random()` is MT19937's 53-bit double, and NumPy's legacy `RandomState.random_sample` is the same
generator and the same double, so the stand-in copies the global state into a RandomState, takes the draws DEAP's
loop would make in blocks, and computes every crossover of a generation as one array expression: cxBlend's
`(1 - gamma) * x1 + gamma * x2` is the same two products and one sum per gene, each rounded once, as in Python.
Mutation stays a per-gene Python loop over those draws (`random.gauss` written out: two draws, cached second
value), with DEAP's arithmetic. Then Python's state is set to where DEAP's loop would have left it, gauss's cached
value included (Python's generator skips the draws used itself: `getrandbits(64 * used)` takes two words each).
A generation of fewer than 2,000 genes goes through DEAP's loop, faster there than the array set-up. On first use
(once per process) the stand-in runs itself (on the array path) and `algorithms.var_and` with DEAP's operators on
a probe population from one state and is used only if children and state agree (tests/test_variation.py compares
them over sizes, probabilities and bounds, and whole runs).
"""

import functools
import itertools
import math
import numbers
import random
import threading
from collections.abc import Sequence

import numpy as np
from deap import base, tools

from .problems.common import clip_to_bounds, clipped

__all__ = ["blend_gauss", "equivalent"]

_BLOCK = 4096  # draws taken from NumPy at a time during mutation
_MIN_GENES = 2000  # below this many genes a generation, DEAP's own loop is faster (the same children either way)


def _operator(entry, func, keys):
    """(keywords, (low, up) or None) when `entry` is functools.partial(func, **keys) or partial(clipped, func,
    **keys, low=, up=) as Toolbox.register makes them, else None."""
    if not isinstance(entry, functools.partial):
        return None
    kw = entry.keywords
    if entry.func is func and not entry.args and set(kw) == set(keys):
        return kw, None
    if entry.func is clipped and entry.args == (func,) and set(kw) == {*keys, "low", "up"}:
        return kw, (kw["low"], kw["up"])
    return None


def _real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and not isinstance(value, Sequence)


def _spec(toolbox):
    mate = _operator(getattr(toolbox, "mate", None), tools.cxBlend, ("alpha",))
    mutate = _operator(getattr(toolbox, "mutate", None), tools.mutGaussian, ("mu", "sigma", "indpb"))
    if mate is None or mutate is None:
        return None
    (mate_kw, mate_bounds), (mut_kw, mut_bounds) = mate, mutate
    if not all(_real(v) for v in (mut_kw["mu"], mut_kw["sigma"], mut_kw["indpb"])):
        return None  # mutation runs DEAP's arithmetic on these objects: any real scalar gives DEAP's values
    if type(mate_kw["alpha"]) not in (int, float):
        return None  # a NumPy scalar alpha would make DEAP's children NumPy scalars; the array path writes floats
    if mate_bounds is not None and not all(type(b) is float for b in mate_bounds):
        return None  # the array clamp writes floats; DEAP would write the bound object itself
    return {"alpha": mate_kw["alpha"], "mate_bounds": mate_bounds, "mu": mut_kw["mu"], "sigma": mut_kw["sigma"],
            "indpb": mut_kw["indpb"], "mutate_bounds": mut_bounds}


def equivalent(toolbox):
    """A function (population, toolbox, cxpb, mutpb, clone) -> offspring that gives what algorithms.var_and gives
    with this toolbox, or None when the toolbox's operators are not ones it reproduces."""
    spec = _spec(toolbox)
    if spec is None or not _agrees_with_deap():
        return None
    return functools.partial(blend_gauss, **spec)


def blend_gauss(population, toolbox, cxpb, mutpb, clone, *, alpha, mate_bounds, mu, sigma, indpb, mutate_bounds,
                min_genes=_MIN_GENES):
    """DEAP's varAnd with mate cxBlend(alpha) and mutate mutGaussian(mu, sigma, indpb), each clamped to its bounds
    (None: not clamped): clone all, cross consecutive pairs with cxpb, then mutate each with mutpb. A population
    that is not lists of one length, or whose crossing pairs hold a gene that is not a float, or of fewer than
    `min_genes` genes in all (where DEAP's loop is faster), goes through `algorithms.var_and` and the toolbox's
    operators.

    The genes of each crossing pair are read into an array; cxBlend overwrites every gene of both,
    so those children are written back whole (and clamped in the array: np.where keeps NaN, as the scalar clamp
    does). Every other child keeps its clone's gene objects."""
    n = len(population)
    length = len(population[0]) if n else 0
    if not length or n * length < min_genes or not all(isinstance(ind, list) and len(ind) == length
                                                        for ind in population):
        return _deap(population, toolbox, cxpb, mutpb, clone)

    version, internal, gauss_next = random.getstate()
    stream = _scratch()
    stream.set_state(("MT19937", np.array(internal[:-1], dtype=np.uint32), internal[-1]))

    # Crossover: one draw per pair, and `length` more (the gammas) for each pair that crosses.
    block = stream.random_sample((n // 2) * (1 + length))
    draws = block.tolist()
    at = 0
    starts, crossing = [], []
    for first in range(0, n - 1, 2):
        if draws[at] < cxpb:
            starts.append(at + 1)
            crossing.append(first)
            at += 1 + length
        else:
            at += 1
    parents = [population[i + k] for i in crossing for k in (0, 1)]
    if set(map(type, itertools.chain.from_iterable(parents))) - {float}:
        return _deap(population, toolbox, cxpb, mutpb, clone)  # Python's state is not changed yet
    offspring = [clone(ind) for ind in population]
    if crossing:
        genes = np.fromiter(itertools.chain.from_iterable(parents), np.float64, len(parents) * length)
        genes = genes.reshape(len(crossing), 2, length)
        x1, x2 = genes[:, 0], genes[:, 1]
        gamma = (1.0 + 2.0 * alpha) * block[np.array(starts)[:, None] + np.arange(length)] - alpha
        children = np.stack([(1.0 - gamma) * x1 + gamma * x2, gamma * x1 + (1.0 - gamma) * x2], axis=1)
        if mate_bounds is not None:
            low, up = mate_bounds
            children = np.where(children < low, low, np.where(children > up, up, children))
        rows = children.reshape(len(parents), length).tolist()
        for k, i in enumerate(crossing):
            a, b = offspring[i], offspring[i + 1]
            a[:], b[:] = rows[2 * k], rows[2 * k + 1]
            del a.fitness.values, b.fitness.values

    # Mutation: one draw per individual; for each one mutated, one per gene and two per fresh gaussian.
    rest = draws[at:]
    used = at
    j = 0
    need = 1 + 3 * length
    twopi, sqrt, log, cos, sin = 2.0 * math.pi, math.sqrt, math.log, math.cos, math.sin
    for left, ind in zip(range(n, 0, -1), offspring):
        if j + need > len(rest):  # enough for this one's worst case; at most what the rest could take
            used += j
            rest = rest[j:] + stream.random_sample(min(max(_BLOCK, need), left * need)).tolist()
            j = 0
        u = rest[j]
        j += 1
        if u < mutpb:
            g = 0
            while g < length:
                end = j + length - g  # the remaining genes' draws, unless a gaussian takes two of its own
                if min(rest[j:end]) >= indpb:
                    j = end
                    break
                while rest[j] >= indpb:
                    j += 1
                    g += 1
                j += 1
                z = gauss_next  # random.gauss(mu, sigma), as Python writes it
                gauss_next = None
                if z is None:
                    x2pi = rest[j] * twopi
                    g2rad = sqrt(-2.0 * log(1.0 - rest[j + 1]))
                    j += 2
                    z = cos(x2pi) * g2rad
                    gauss_next = sin(x2pi) * g2rad
                ind[g] += mu + z * sigma
                g += 1
            if mutate_bounds is not None:
                clip_to_bounds(ind, *mutate_bounds)
            del ind.fitness.values
    used += j

    # Python's state after exactly `used` draws: random() takes two 32-bit words, getrandbits(k) ceil(k / 32)
    random.setstate((version, internal, gauss_next))
    random.getrandbits(64 * used)
    return offspring


_LOCAL = threading.local()


def _scratch():
    """This thread's NumPy generator for the draws (making one costs more than a small generation's variation);
    blend_gauss sets its whole state before each use, so nothing carries over from one call to the next."""
    generator = getattr(_LOCAL, "generator", None)
    if generator is None:
        generator = _LOCAL.generator = np.random.RandomState()
    return generator


def _deap(population, toolbox, cxpb, mutpb, clone):
    from .algorithms import var_and

    return var_and(population, toolbox, cxpb, mutpb, clone)


@functools.cache
def _agrees_with_deap():
    """Whether blend_gauss gives var_and's children and random state on this Python and NumPy: both run once on a
    probe population (genes out of bounds included, a gaussian cached across individuals), from a private state."""
    from .algorithms import var_and

    fitness = type("_ProbeFitness", (base.Fitness,), {"weights": (1.0,)})
    individual = type("_ProbeIndividual", (list,), {})

    def make():
        rng = random.Random(7)
        population = []
        for _ in range(41):
            ind = individual(rng.uniform(-6.0, 6.0) for _ in range(9))
            ind.fitness = fitness((1.0,))
            population.append(ind)
        return population

    def clone(ind):
        new = individual(ind)
        new.fitness = fitness(ind.fitness.values)
        return new

    toolbox = base.Toolbox()
    toolbox.register("mate", clipped, tools.cxBlend, alpha=0.5, low=-5.0, up=5.0)
    toolbox.register("mutate", clipped, tools.mutGaussian, mu=0.0, sigma=1.5, indpb=0.3, low=-5.0, up=5.0)
    spec = _spec(toolbox)
    state = random.getstate()
    try:
        results = []
        for run in (lambda p: var_and(p, toolbox, 0.6, 0.5, clone),
                    lambda p: blend_gauss(p, toolbox, 0.6, 0.5, clone, **spec, min_genes=0)):
            random.seed(2024)
            children = [list(ind) for _ in range(3) for ind in run(make())]
            results.append((children, random.getstate()))
        return results[0] == results[1]
    finally:
        random.setstate(state)
