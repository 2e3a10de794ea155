"""The NumPy non-dominated sort gives DEAP's fronts and NSGA-II choice exactly (same objects, same order)."""

import random

import numpy as np
import pytest
from deap import base, creator, tools

from hpcevo.nondominated import assign_crowding_dist, dominance, sel_nsga2, sort_nondominated


def _population(seed, n, weights, levels):
    name = "NdFit" + "".join("p" if w > 0 else "m" for w in weights)
    if not hasattr(creator, name):
        creator.create(name, base.Fitness, weights=weights)
        creator.create(name + "Ind", list, fitness=getattr(creator, name))
    cls = getattr(creator, name + "Ind")
    rng = random.Random(seed)
    pop = []
    for i in range(n):
        ind = cls([i])
        # few levels: many ties and duplicate fitnesses, as a converged population has
        ind.fitness.values = tuple(float(rng.randrange(levels)) for _ in weights)
        pop.append(ind)
    return pop


@pytest.mark.parametrize("weights", [(1.0, 1.0), (1.0, -1.0, 1.0), (-1.0,) * 4])
@pytest.mark.parametrize("seed", range(6))
def test_same_fronts_and_choice_as_deap(weights, seed):
    levels = (3, 8, 1000)[seed % 3]
    pop = _population(seed, 150, weights, levels)
    for k in (1, 37, 100, 150, 400):
        ours, theirs = sort_nondominated(pop, k), tools.sortNondominated(pop, k)
        assert [[ind[0] for ind in f] for f in ours] == [[ind[0] for ind in f] for f in theirs]
        assert sort_nondominated(pop, k, True) == tools.sortNondominated(pop, k, True)
    for k in (1, 50, 100, 150):
        assert [ind[0] for ind in sel_nsga2(pop, k)] == [ind[0] for ind in tools.selNSGA2(pop, k)]
    assert sort_nondominated(pop, 0) == []


@pytest.mark.parametrize("weights", [(1.0, 1.0), (1.0, -1.0, 1.0), (-1.0,) * 4])
@pytest.mark.parametrize("seed", range(6))
def test_same_crowding_distances_as_deap_bit_for_bit(weights, seed):
    """Ties (few levels) make DEAP's objective-by-objective stable sorts matter; the floats must be equal."""
    pop = _population(seed, (2, 3, 40, 150)[seed % 4], weights, (3, 8, 1000)[seed % 3])
    tools.emo.assignCrowdingDist(pop)
    theirs = [ind.fitness.crowding_dist for ind in pop]
    for ind in pop:
        del ind.fitness.crowding_dist
    assign_crowding_dist(pop)
    assert [ind.fitness.crowding_dist for ind in pop] == theirs
    assert any(d == float("inf") for d in theirs)


def test_dominance_matrix_is_deaps_dominates():
    pop = _population(3, 60, (1.0, -1.0, 1.0), 4)
    w = np.array([ind.fitness.wvalues for ind in pop])
    expected = [[a.fitness.dominates(b.fitness) for b in pop] for a in pop]
    assert dominance(w).tolist() == expected
    assert 0 < dominance(w).sum() < 60 * 59
