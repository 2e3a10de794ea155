"""The islands' halls of fame skip individuals DEAP's update would never take, and keep exactly DEAP's members.

island._update_better (HallOfFame) and island._update_front (ParetoFront) pass DEAP only the individuals that
could enter; these tests run both against DEAP's own update over many generations of random fitnesses, with
ties, duplicates and several objectives, and compare the members and their order.
"""

import random

import pytest
from deap import base, creator, tools

from hpcevo.island import new_hall_of_fame
from hpcevo.problem import Problem


def classes(weights):
    name = "HofTestFitness" + "".join("p" if w > 0 else "m" for w in weights)
    if not hasattr(creator, name):
        creator.create(name, base.Fitness, weights=weights)
        creator.create(name + "Ind", list, fitness=getattr(creator, name))
    return getattr(creator, name + "Ind")


def population(rng, cls, size, weights, levels, generation):
    """Random individuals whose fitnesses improve with the generation (as in a run), with many ties."""
    pop = []
    for _ in range(size):
        ind = cls([rng.randrange(5) for _ in range(3)])
        if pop and rng.random() < 0.3:  # the fitness of an earlier one: a twin, or equal but not similar
            ind.fitness.values = rng.choice(pop).fitness.values
        else:
            ind.fitness.values = tuple(w * float(rng.randrange(levels) + generation // 2) for w in weights)
        pop.append(ind)
    return pop


def similar(a, b):
    """Only equal genes are twins (DEAP keeps the first of them)."""
    return list(a) == list(b)


def same(ind):
    return tuple(ind), ind.fitness.values


@pytest.mark.parametrize("weights", [(1.0,), (-1.0,), (1.0, 1.0), (1.0, -1.0), (-1.0, 1.0, 1.0)])
@pytest.mark.parametrize("seed", range(3))
def test_the_members_are_deaps(weights, seed):
    rng = random.Random(seed)
    cls = classes(weights)
    problem = Problem("t", base.Toolbox(), weights, None, similar)
    ours = new_hall_of_fame(problem, 7)
    deap = tools.ParetoFront(similar=similar) if len(weights) > 1 else tools.HallOfFame(7, similar=similar)
    seen = set()
    for generation in range(40):
        pop = population(rng, cls, rng.choice([1, 5, 60]), weights, rng.choice([3, 8, 40]), generation)
        for member in deap.items[:2]:  # the fitness of a member already in the hall: a twin or an equal
            ind = cls([rng.randrange(5) for _ in range(3)])
            ind.fitness.values = member.fitness.values
            pop.insert(rng.randrange(len(pop) + 1), ind)
        ours.update(pop)
        deap.update(pop)
        members = [same(i) for i in ours.items]
        assert members == [same(i) for i in deap.items], generation
        seen.add(tuple(members))
    assert len(seen) > 4 and max(len(m) for m in seen) > 1  # the hall filled and changed as it went
    if len(weights) > 1:  # members of equal fitness that are not twins: both kept, as DEAP keeps them
        assert any(len({f for _, f in m}) < len(m) for m in seen)


def test_a_front_with_non_finite_values_is_left_to_deap():
    cls = classes((1.0, 1.0))
    problem = Problem("t", base.Toolbox(), (1.0, 1.0), None, similar)
    ours, deap = new_hall_of_fame(problem, 5), tools.ParetoFront(similar=similar)
    rng = random.Random(4)
    for _ in range(10):
        pop = population(rng, cls, 20, (1.0, 1.0), 10, 0)
        pop[0].fitness.values = (float("nan"), 1.0)
        pop[1].fitness.values = (float("inf"), 0.0)
        ours.update(pop)
        deap.update(pop)
        assert [same(i) for i in ours.items] == [same(i) for i in deap.items]
