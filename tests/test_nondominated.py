"""The NumPy non-dominated sort gives DEAP's fronts and NSGA-II choice exactly (same objects, same order)."""

import random

import pytest
from deap import base, creator, tools

from hpcevo.nondominated import sel_nsga2, sort_nondominated


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
