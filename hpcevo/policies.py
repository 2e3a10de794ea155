"""Emigrant selection and replacement policies: small functions on a population and a count.

Selection `select(population, k)` returns the individuals to send (the caller clones them); replacement
`replace(population, k)` returns the indices of k residents to overwrite.  `hpcevo.registry` names the
built-in ones (EMIGRATION, REPLACEMENT); a custom policy is any function of that shape.  Multi-objective
populations are ordered by Pareto rank, then crowding distance (NSGA-II's order); single-objective ones by
fitness.  Randomness comes from the global `random`, which the engine has set to the island's own stream.
"""

import random

import numpy as np

from .nondominated import sort_nondominated

__all__ = ["ranked_indices", "select_best", "select_random", "select_tournament", "replace_worst", "replace_random"]


def ranked_indices(population):
    """Indices of `population` from best to worst (fitness, or Pareto rank then crowding distance)."""
    n = len(population)
    if n == 0:
        return []
    if len(population[0].fitness.weights) == 1:
        # Stable sort on weighted value keeps ties in population order, so the result is deterministic.
        return sorted(range(n), key=lambda i: population[i].fitness.wvalues, reverse=True)
    order = []
    slots = {}  # id -> positions, so a population holding one object twice still yields a permutation
    for i, ind in enumerate(population):
        slots.setdefault(id(ind), []).append(i)
    values = np.array([ind.fitness.values for ind in population], dtype=np.float64)
    for front in sort_nondominated(population, n):
        positions = np.array([slots[id(ind)].pop(0) for ind in front])
        crowd = _crowding(values[positions], positions)
        order.extend(positions[np.lexsort((positions, -crowd))].tolist())  # by crowding (largest first), then index
    return order


def _crowding(values, positions):
    """Crowding distance of each row of one front's objective values (NSGA-II); for each objective the rows are
    ordered by (value, population position), so ties are broken the same way whatever order the front came in."""
    n, n_obj = values.shape
    if n < 3:
        return np.full(n, np.inf)
    dist = np.zeros(n)
    for m in range(n_obj):
        ordered = np.lexsort((positions, values[:, m]))
        column = values[ordered, m]
        lo, hi = column[0], column[-1]
        dist[ordered[0]] = dist[ordered[-1]] = np.inf
        if hi == lo:
            continue
        dist[ordered[1:-1]] += (column[2:] - column[:-2]) / (hi - lo)
    return dist


def select_best(population, k):
    """The k best individuals."""
    return [population[i] for i in ranked_indices(population)[:k]]


def select_random(population, k):
    """k distinct individuals drawn uniformly."""
    return random.sample(population, k)


def select_tournament(population, k, tournsize=3):
    """k winners of tournaments of `tournsize`, judged by rank (works for any number of objectives)."""
    rank = {i: r for r, i in enumerate(ranked_indices(population))}
    n = len(population)
    return [population[min((random.randrange(n) for _ in range(tournsize)), key=rank.__getitem__)]
            for _ in range(k)]


def replace_worst(population, k):
    """Indices of the k worst residents."""
    return ranked_indices(population)[::-1][:k]


def replace_random(population, k):
    """k distinct resident indices drawn uniformly."""
    return random.sample(range(len(population)), k)
