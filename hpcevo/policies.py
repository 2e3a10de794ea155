"""Emigrant selection and replacement policies: small functions on a population and a count.

Selection `select(population, k)` returns the individuals to send (the caller clones them); replacement
`replace(population, k)` returns the indices of k residents to overwrite.  `hpcevo.registry` names the
built-in ones (EMIGRATION, REPLACEMENT); a custom policy is any function of that shape.  Multi-objective
populations are ordered by Pareto rank, then crowding distance (NSGA-II's order); single-objective ones by
fitness.  Randomness comes from the global `random`, which the engine has set to the island's own stream.
"""

import random

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
    for front in sort_nondominated(population, n):
        positions = [slots[id(ind)].pop(0) for ind in front]
        crowd = _crowding(population, positions)
        order.extend(sorted(positions, key=lambda i: (-crowd[i], i)))
    return order


def _crowding(population, positions):
    """Crowding distance of each index in one front (NSGA-II), keyed by population index."""
    dist = {i: 0.0 for i in positions}
    if len(positions) < 3:
        return {i: float("inf") for i in positions}
    n_obj = len(population[positions[0]].fitness.values)
    for m in range(n_obj):
        ordered = sorted(positions, key=lambda i: (population[i].fitness.values[m], i))
        lo, hi = population[ordered[0]].fitness.values[m], population[ordered[-1]].fitness.values[m]
        dist[ordered[0]] = dist[ordered[-1]] = float("inf")
        if hi == lo:
            continue
        for k in range(1, len(ordered) - 1):
            gap = population[ordered[k + 1]].fitness.values[m] - population[ordered[k - 1]].fitness.values[m]
            dist[ordered[k]] += gap / (hi - lo)
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
