"""NSGA-II's non-dominated sort and crowding distance done by NumPy: the same fronts, in the same order, as
`deap.tools.sortNondominated`, the same distances as `deap.tools.emo.assignCrowdingDist`, and so `sel_nsga2` the
same choice as `deap.tools.selNSGA2`, without their Python-level loops over pairs and neighbours, which dominate a
generation once a population holds many distinct fitnesses.
"""

from itertools import chain

import numpy as np

__all__ = ["sort_nondominated", "dominance", "assign_crowding_dist", "crowding_distances", "sel_nsga2"]


def sort_nondominated(individuals, k, first_front_only=False):
    """`deap.tools.sortNondominated(individuals, k, first_front_only)`, element for element.

    DEAP walks the current front in order and, for each member, the fitnesses it dominates in ascending order,
    appending one to the next front when its count of dominators reaches zero. That happens at its last dominator
    in the current front, so the next front is its new members ordered by (position of that dominator, index)."""
    if k == 0:
        return []
    by_fitness = {}
    for ind in individuals:
        by_fitness.setdefault(ind.fitness.wvalues, []).append(ind)
    fits = list(by_fitness)
    members = list(by_fitness.values())
    w = np.array(fits, dtype=np.float64).reshape(len(fits), -1)
    d = dominance(w)
    count = d.sum(axis=0)
    current = np.flatnonzero(count == 0)
    fronts = [[ind for i in current.tolist() for ind in members[i]]]
    if first_front_only:
        return fronts
    sizes = np.array([len(m) for m in members])
    sorted_so_far, n = len(fronts[0]), min(len(individuals), k)
    while sorted_so_far < n:
        block = d[current]
        after = count - block.sum(axis=0)
        new = np.flatnonzero((after == 0) & (count > 0))
        last = block.shape[0] - 1 - block[::-1, new].argmax(axis=0)  # each one's last dominator in `current`
        current = new[np.argsort(last, kind="stable")]  # `new` is ascending: ties stay in index order
        count = after
        fronts.append([ind for i in current.tolist() for ind in members[i]])
        sorted_so_far += int(sizes[current].sum())
    return fronts


def dominance(w):
    """d[i, j]: row i of the weighted values dominates row j (no objective worse, one better); one 2-D
    comparison per objective (reducing a 3-D array over its short last axis is several times slower)."""
    ge = np.ones((w.shape[0], w.shape[0]), dtype=bool)
    gt = np.zeros_like(ge)
    for m in range(w.shape[1]):
        column = w[:, m]
        ge &= column[:, None] >= column[None, :]
        gt |= column[:, None] > column[None, :]
    return ge & gt


def crowding_distances(values):
    """assignCrowdingDist's distances for the rows of `values` (one row of objective values per individual).

    DEAP sorts one list by each objective in turn (a stable sort, so ties keep the previous objective's order);
    the permutation here is carried over the same way, and the sums are taken in the same order."""
    n, nobj = values.shape
    distances = np.zeros(n)
    order = np.arange(n)
    for i in range(nobj):
        order = order[np.argsort(values[order, i], kind="stable")]
        column = values[order, i]
        distances[order[0]] = distances[order[-1]] = np.inf
        if column[-1] == column[0]:
            continue
        norm = nobj * float(column[-1] - column[0])
        distances[order[1:-1]] += (column[2:] - column[:-2]) / norm
    return distances


def assign_crowding_dist(individuals):
    """`deap.tools.emo.assignCrowdingDist(individuals)`: sets each fitness's `crowding_dist`, the same floats."""
    if not individuals:
        return
    values = np.array([ind.fitness.values for ind in individuals], dtype=np.float64)
    for ind, dist in zip(individuals, crowding_distances(values).tolist()):
        ind.fitness.crowding_dist = dist


def sel_nsga2(individuals, k):
    """`deap.tools.selNSGA2(individuals, k)` on `sort_nondominated`: the same individuals in the same order."""
    fronts = sort_nondominated(individuals, k)
    for front in fronts:
        assign_crowding_dist(front)
    chosen = list(chain(*fronts[:-1]))
    k = k - len(chosen)
    if k > 0:
        last = fronts[-1]
        dist = np.array([ind.fitness.crowding_dist for ind in last])
        # sorted(..., key=crowding_dist, reverse=True) keeps equal distances in their order: a stable sort of -dist
        chosen.extend(last[i] for i in np.argsort(-dist, kind="stable")[:k].tolist())
    return chosen
