"""Real-valued single-objective benchmarks (sphere, Rastrigin, Ackley, Schwefel, Rosenbrock), minimised.

`eval_*` take a sequence of floats and return a 1-tuple (DEAP fitness values); the factories of the
same names without the prefix build a ready toolbox. All have global minimum 0. The sphere, Rastrigin and
Rosenbrock toolboxes also have `evaluate_batch` (`batch_*`: a generation as one NumPy array), which gives each
individual the floats its `eval_*` gives: the same operations, each sum taken gene by gene in the same order
(and NumPy's float64 cos is the C library's, as `math.cos` is; tests/test_problems.py compares every bit). The
factory checks that on a probe and leaves the batch out where it does not hold; and the batch steps aside
(`BuiltinBatch`) once the toolbox's evaluate is replaced.
"""

import math
import random
from functools import partial
from itertools import chain

import numpy as np
from deap import base

from .common import check_int, clipped, creator_class, uniform_gene

__all__ = [
    "BOUNDS",
    "BuiltinBatch",
    "ackley",
    "batch_rastrigin",
    "batch_rosenbrock",
    "batch_sphere",
    "eval_ackley",
    "eval_rastrigin",
    "eval_rosenbrock",
    "eval_schwefel",
    "eval_sphere",
    "rastrigin",
    "rosenbrock",
    "schwefel",
    "sphere",
]

_TWO_PI = 2.0 * math.pi
_SCHWEFEL_C = 418.9829

# Standard search domains, the same bound for every gene: name -> (low, up).
BOUNDS = {
    "sphere": (-5.12, 5.12),
    "rastrigin": (-5.12, 5.12),
    "ackley": (-32.768, 32.768),
    "schwefel": (-500.0, 500.0),
    "rosenbrock": (-2.048, 2.048),
}


def eval_sphere(x):
    """Sphere: sum x_i^2; minimum 0 at the origin."""
    total = 0.0
    for v in x:
        total += v * v
    return (total,)


def eval_rastrigin(x):
    """Rastrigin: 10 d + sum (x_i^2 - 10 cos(2 pi x_i)); minimum 0 at the origin."""
    cos = math.cos
    squares = 0.0
    cosines = 0.0
    for v in x:
        squares += v * v
        cosines += cos(_TWO_PI * v)
    return (10.0 * len(x) + squares - 10.0 * cosines,)


def eval_ackley(x):
    """Ackley (a=20, b=0.2, c=2 pi); minimum 0 at the origin."""
    cos = math.cos
    squares = 0.0
    cosines = 0.0
    for v in x:
        squares += v * v
        cosines += cos(_TWO_PI * v)
    n = len(x)
    return (-20.0 * math.exp(-0.2 * math.sqrt(squares / n)) - math.exp(cosines / n) + 20.0 + math.e,)


def eval_schwefel(x):
    """Schwefel: 418.9829 d - sum x_i sin(sqrt|x_i|); minimum ~0 at x_i = 420.9687."""
    sin = math.sin
    sqrt = math.sqrt
    total = _SCHWEFEL_C * len(x)
    for v in x:
        total -= v * sin(sqrt(abs(v)))
    return (total,)


def eval_rosenbrock(x):
    """Rosenbrock: sum 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2; minimum 0 at all ones."""
    total = 0.0
    prev = x[0]
    for i in range(1, len(x)):
        cur = x[i]
        a = cur - prev * prev
        b = 1.0 - prev
        total += 100.0 * a * a + b * b
        prev = cur
    return (total,)


def _genes(individuals):
    """The individuals' genes as a genes x individuals float64 array (each gene's values contiguous). ValueError
    for individuals of different lengths or a gene that is not finite: the engine then evaluates the batch one
    by one, so such an individual fails as `eval_*` makes it fail."""
    d = len(individuals[0])
    if any(len(ind) != d for ind in individuals):
        raise ValueError("evaluate_batch needs individuals of one length")
    flat = np.fromiter(chain.from_iterable(individuals), np.float64, len(individuals) * d)  # faster than np.array
    if not np.isfinite(flat).all():
        raise ValueError("evaluate_batch needs finite genes")
    return np.ascontiguousarray(flat.reshape(len(individuals), d).T)


def _gene_by_gene(rows):
    """Each column's sum of `rows` taken one row after another onto 0.0, as a Python loop adds them."""
    total = np.zeros(rows.shape[1])
    for row in rows:
        total += row
    return total


def batch_sphere(individuals):
    """eval_sphere of every individual: [(value,), ...], the same floats."""
    x = _genes(individuals)
    with np.errstate(over="ignore"):  # inf, as Python's float arithmetic gives it
        return [(v,) for v in _gene_by_gene(x * x).tolist()]


def batch_rastrigin(individuals):
    """eval_rastrigin of every individual: [(value,), ...], the same floats."""
    x = _genes(individuals)
    with np.errstate(over="ignore"):  # inf, as Python's float arithmetic gives it
        squares, cosines = _gene_by_gene(x * x), _gene_by_gene(np.cos(_TWO_PI * x))
        return [(v,) for v in (10.0 * x.shape[0] + squares - 10.0 * cosines).tolist()]


def batch_rosenbrock(individuals):
    """eval_rosenbrock of every individual: [(value,), ...], the same floats."""
    x = _genes(individuals)
    prev, cur = x[:-1], x[1:]
    with np.errstate(over="ignore", invalid="ignore"):  # inf (and inf - inf: NaN), as Python's floats give them
        a = cur - prev * prev
        b = 1.0 - prev
        return [(v,) for v in _gene_by_gene(100.0 * a * a + b * b).tolist()]


def _agrees(batch, evaluate, dimension, low, up):
    """Whether `batch` gives `evaluate`'s values on a fixed probe of 64 individuals. It does wherever NumPy's float64
    cos is the C library's (as with the NumPy 2.4 wheels on x86-64 Linux tested here); where it is not, the toolbox
    evaluates one by one rather than have its two answers differ."""
    rng = random.Random(0)  # its own stream: DEAP's operators use the global one
    probe = [[rng.uniform(low, up) for _ in range(dimension)] for _ in range(64)]
    return batch(probe) == [evaluate(ind) for ind in probe]


class BuiltinBatch:
    """A built-in toolbox's evaluate_batch: `batch` while the toolbox's `evaluate` is the one it was built with.
    Once you register an `evaluate` of your own on the toolbox (a wrapper, a delay, a fault to inject), it returns
    NotImplemented, and the engine calls your evaluate one by one, as it would without a batch."""

    def __init__(self, toolbox, batch):
        self.toolbox, self.batch, self.evaluate = toolbox, batch, toolbox.evaluate

    def __call__(self, individuals):
        if self.toolbox.evaluate is not self.evaluate:
            return NotImplemented
        return self.batch(individuals)


def _real_toolbox(name, evaluate, dimension, batch=None):
    """Build the shared real-vector toolbox: uniform init, clipped cxBlend and clipped mutGaussian."""
    from deap import tools

    low, up = BOUNDS[name]
    fitness = creator_class("HpcevoFitnessMin", base.Fitness, weights=(-1.0,))
    individual = creator_class("HpcevoRealIndividual", list, fitness=fitness)
    toolbox = base.Toolbox()
    toolbox.register("individual", tools.initRepeat, individual, partial(uniform_gene, low, up), dimension)
    toolbox.register("population", tools.initRepeat, list, toolbox.individual)
    toolbox.register("evaluate", evaluate)
    if batch is not None and _agrees(batch, evaluate, dimension, low, up):
        toolbox.register("evaluate_batch", BuiltinBatch(toolbox, batch))
    toolbox.register("mate", clipped, tools.cxBlend, alpha=0.5, low=low, up=up)
    toolbox.register(
        "mutate", clipped, tools.mutGaussian, mu=0.0, sigma=0.1 * (up - low), indpb=1.0 / dimension, low=low, up=up
    )
    toolbox.register("select", tools.selTournament, tournsize=3)
    return toolbox


def sphere(dimension=30):
    """Toolbox for the sphere function on [-5.12, 5.12]^dimension."""
    return _real_toolbox("sphere", eval_sphere, check_int("dimension", dimension, 1), batch_sphere)


def rastrigin(dimension=30):
    """Toolbox for the Rastrigin function on [-5.12, 5.12]^dimension."""
    return _real_toolbox("rastrigin", eval_rastrigin, check_int("dimension", dimension, 1), batch_rastrigin)


def ackley(dimension=30):
    """Toolbox for the Ackley function on [-32.768, 32.768]^dimension."""
    return _real_toolbox("ackley", eval_ackley, check_int("dimension", dimension, 1))


def schwefel(dimension=30):
    """Toolbox for the Schwefel function on [-500, 500]^dimension."""
    return _real_toolbox("schwefel", eval_schwefel, check_int("dimension", dimension, 1))


def rosenbrock(dimension=30):
    """Toolbox for the Rosenbrock function on [-2.048, 2.048]^dimension (needs dimension >= 2 to be non-trivial)."""
    return _real_toolbox("rosenbrock", eval_rosenbrock, check_int("dimension", dimension, 2), batch_rosenbrock)
