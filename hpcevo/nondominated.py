"""NSGA-II's non-dominated sort with the dominance tests done by NumPy: the same fronts, in the same order, as
`deap.tools.sortNondominated` (and `sel_nsga2` the same choice as `deap.tools.selNSGA2`), without its O(M N^2)
Python-level comparisons, which dominate a generation once a population holds many distinct fitnesses.
"""

from itertools import chain
from operator import attrgetter

import numpy as np
from deap.tools.emo import assignCrowdingDist

__all__ = ["sort_nondominated", "sel_nsga2"]


def sort_nondominated(individuals, k, first_front_only=False):
    """`deap.tools.sortNondominated(individuals, k, first_front_only)`, element for element."""
    if k == 0:
        return []
    by_fitness = {}
    for ind in individuals:
        by_fitness.setdefault(ind.fitness.wvalues, []).append(ind)
    fits = list(by_fitness)
    w = np.array(fits, dtype=np.float64).reshape(len(fits), -1)
    # d[i, j]: fitness i dominates fitness j (no objective worse, one better)
    ge = (w[:, None, :] >= w[None, :, :]).all(axis=2)
    gt = (w[:, None, :] > w[None, :, :]).any(axis=2)
    d = ge & gt
    count = d.sum(axis=0).tolist()
    dominated = [np.flatnonzero(row).tolist() for row in d]  # ascending: the order DEAP appends them in
    current = [i for i in range(len(fits)) if count[i] == 0]
    fronts = [[ind for i in current for ind in by_fitness[fits[i]]]]
    sorted_so_far = len(fronts[-1])
    if not first_front_only:
        n = min(len(individuals), k)
        while sorted_so_far < n:
            fronts.append([])
            following = []
            for p in current:
                for q in dominated[p]:
                    count[q] -= 1
                    if count[q] == 0:
                        following.append(q)
                        members = by_fitness[fits[q]]
                        sorted_so_far += len(members)
                        fronts[-1].extend(members)
            current = following
    return fronts


def sel_nsga2(individuals, k):
    """`deap.tools.selNSGA2(individuals, k)` on `sort_nondominated`: the same individuals in the same order."""
    fronts = sort_nondominated(individuals, k)
    for front in fronts:
        assignCrowdingDist(front)
    chosen = list(chain(*fronts[:-1]))
    k = k - len(chosen)
    if k > 0:
        chosen.extend(sorted(fronts[-1], key=attrgetter("fitness.crowding_dist"), reverse=True)[:k])
    return chosen
