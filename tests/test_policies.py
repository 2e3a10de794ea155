"""Tests for emigrant selection and replacement policies on hand-built populations."""

import random

import numpy as np
import pytest
from deap import base

from hpcevo.policies import (
    ranked_indices,
    replace_random,
    replace_worst,
    select_best,
    select_random,
    select_tournament,
)
from hpcevo.problems.common import creator_class
from hpcevo.registry import EMIGRATION, REPLACEMENT

FitMin = creator_class("PolicyTestFitMin", base.Fitness, weights=(-1.0,))
FitMax = creator_class("PolicyTestFitMax", base.Fitness, weights=(1.0,))
FitMin2 = creator_class("PolicyTestFitMin2", base.Fitness, weights=(-1.0, -1.0))
FitMax2 = creator_class("PolicyTestFitMax2", base.Fitness, weights=(1.0, 1.0))
IndMin = creator_class("PolicyTestIndMin", list, fitness=FitMin)
IndMax = creator_class("PolicyTestIndMax", list, fitness=FitMax)
IndMin2 = creator_class("PolicyTestIndMin2", list, fitness=FitMin2)
IndMax2 = creator_class("PolicyTestIndMax2", list, fitness=FitMax2)


def make(cls, values):
    """Individuals of `cls` whose fitness values are `values` (numbers or tuples), tagged by position."""
    population = []
    for i, value in enumerate(values):
        ind = cls([i])
        ind.fitness.values = value if isinstance(value, tuple) else (value,)
        population.append(ind)
    return population


SINGLE = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0]

# Two minimised objectives, fronts and crowding distances worked out by hand:
#   front 0: A(1,5) B(2,4) C(3,2) D(5,1); ranges 4 and 4; crowding A=D=inf, B=2/4+3/4=1.25, C=3/4+3/4=1.5
#   front 1: E(2,6) F(4,4) G(6,2) (E dominated by A/B, F by C, G by C); crowding E=G=inf, F=4/4+4/4=2
#   front 2: H(7,7)
# Population order scrambles them: index -> point.
POINTS = {0: (7, 7), 1: (4, 4), 2: (2, 4), 3: (5, 1), 4: (2, 6), 5: (1, 5), 6: (6, 2), 7: (3, 2)}
#            H          F          B          D          E          A          G          C
# Front 0: D(3), A(5) (inf; index order), C(7) 1.5, B(2) 1.25; front 1: E(4), G(6) (inf), F(1); front 2: H(0).
RANKED_2OBJ = [3, 5, 7, 2, 4, 6, 1, 0]


def two_objective(maximise):
    sign = -1.0 if maximise else 1.0
    cls = IndMax2 if maximise else IndMin2
    return make(cls, [tuple(sign * float(v) for v in POINTS[i]) for i in range(len(POINTS))])


def tags(individuals):
    return [ind[0] for ind in individuals]


# --- single objective ------------------------------------------------------------------------------


def test_ranked_single_objective_minimise():
    # 1 (i1), 1 (i3), 2 (i6), 3 (i0), 4 (i2), 5 (i4), 6 (i7), 9 (i5); ties keep population order.
    assert ranked_indices(make(IndMin, SINGLE)) == [1, 3, 6, 0, 2, 4, 7, 5]


def test_ranked_single_objective_maximise():
    assert ranked_indices(make(IndMax, SINGLE)) == [5, 7, 4, 2, 0, 6, 1, 3]


def test_ranked_empty():
    assert ranked_indices([]) == []
    assert select_best([], 0) == []


def test_select_best_minimise():
    pop = make(IndMin, SINGLE)
    assert tags(select_best(pop, 1)) == [1]
    assert tags(select_best(pop, 3)) == [1, 3, 6]
    assert tags(select_best(pop, 8)) == [1, 3, 6, 0, 2, 4, 7, 5]
    # The very objects of the population are returned (the island clones them).
    assert all(any(chosen is ind for ind in pop) for chosen in select_best(pop, 3))


def test_select_best_maximise():
    pop = make(IndMax, SINGLE)
    assert tags(select_best(pop, 2)) == [5, 7]
    assert tags(select_best(pop, 4)) == [5, 7, 4, 2]


def test_replace_worst_single_objective():
    pop_min = make(IndMin, SINGLE)
    assert replace_worst(pop_min, 1) == [5]           # 9 is the worst when minimising
    assert replace_worst(pop_min, 3) == [5, 7, 4]     # 9, 6, 5
    pop_max = make(IndMax, SINGLE)
    assert set(replace_worst(pop_max, 2)) == {1, 3}   # the two 1.0s
    assert set(replace_worst(pop_max, 3)) == {1, 3, 6}
    assert replace_worst(pop_max, 3)[2] == 6
    assert replace_worst(pop_min, 0) == []


def test_ranking_ignores_population_list_identity():
    pop = make(IndMin, [2.0, 0.5, 1.0])
    assert ranked_indices(pop) == [1, 2, 0]
    assert ranked_indices(list(reversed(pop))) == [1, 0, 2]


# --- two objectives ------------------------------------------------------------------------------------


@pytest.mark.parametrize("maximise", [False, True])
def test_ranked_two_objectives(maximise):
    assert ranked_indices(two_objective(maximise)) == RANKED_2OBJ


@pytest.mark.parametrize("maximise", [False, True])
def test_select_best_and_replace_worst_two_objectives(maximise):
    pop = two_objective(maximise)
    assert tags(select_best(pop, 2)) == [3, 5]
    assert tags(select_best(pop, 4)) == [3, 5, 7, 2]          # exactly the first front
    assert replace_worst(pop, 1) == [0]                        # H, alone in the last front
    assert replace_worst(pop, 2) == [0, 1]                     # then F, the most crowded of front 1
    assert replace_worst(pop, 4) == [0, 1, 6, 4]


def test_two_point_fronts_are_all_infinitely_crowded():
    # Two fronts of two points each: within a front, population order decides.
    pop = make(IndMin2, [(3.0, 3.0), (0.0, 1.0), (4.0, 2.0), (1.0, 0.0)])
    assert ranked_indices(pop) == [1, 3, 0, 2]


def test_identical_points_in_one_front():
    pop = make(IndMin2, [(1.0, 1.0), (1.0, 1.0), (0.0, 2.0), (2.0, 0.0), (5.0, 5.0)])
    order = ranked_indices(pop)
    assert sorted(order) == [0, 1, 2, 3, 4]
    assert order[-1] == 4
    assert set(order[:2]) == {2, 3}   # the extremes of the first front have infinite crowding


def test_ranked_indices_is_a_permutation_with_repeated_references():
    """A population may hold the same object twice (selTournament returns references); ranking
    must still name every slot exactly once, or replace_worst can pick one slot twice."""
    a, b, c = make(IndMin2, [(1.0, 2.0), (2.0, 1.0), (3.0, 3.0)])
    pop = [a, b, a, c]
    order = ranked_indices(pop)
    assert sorted(order) == [0, 1, 2, 3], order
    worst = replace_worst(pop, 2)
    assert len(set(worst)) == 2, worst


# --- random policies ----------------------------------------------------------------------------------


@pytest.fixture
def restore_random():
    state, np_state = random.getstate(), np.random.get_state()
    yield
    random.setstate(state)
    np.random.set_state(np_state)


def test_select_random_distinct_and_seeded(restore_random):
    pop = make(IndMin, range(20))
    draws = []
    for seed in range(10):
        random.seed(seed)
        np.random.seed(seed + 100)
        first = select_random(pop, 6)
        random.seed(seed)
        np.random.seed(999)  # numpy's state must not matter
        second = select_random(pop, 6)
        assert [id(x) for x in first] == [id(x) for x in second]
        assert len({id(x) for x in first}) == 6
        assert all(any(x is ind for ind in pop) for x in first)
        draws.append(tuple(tags(first)))
    assert len(set(draws)) > 5  # different seeds give different draws


def test_replace_random_distinct_and_seeded(restore_random):
    pop = make(IndMax, range(15))
    draws = []
    for seed in range(10):
        random.seed(seed)
        first = replace_random(pop, 5)
        random.seed(seed)
        np.random.seed(seed)
        second = replace_random(pop, 5)
        assert first == second
        assert len(set(first)) == 5
        assert all(isinstance(i, int) and 0 <= i < 15 for i in first)
        draws.append(tuple(first))
    assert len(set(draws)) > 5
    random.seed(1)
    assert sorted(replace_random(pop, 15)) == list(range(15))


def test_random_policies_advance_only_global_random(restore_random):
    pop = make(IndMin, range(10))
    random.seed(42)
    np_before = np.random.get_state()[1].copy()
    select_random(pop, 3)
    replace_random(pop, 3)
    select_tournament(pop, 3)
    assert (np.random.get_state()[1] == np_before).all()
    random.seed(42)
    before = random.getstate()
    select_random(pop, 3)
    assert random.getstate() != before


def test_tournament_returns_k_members(restore_random):
    pop = make(IndMin, SINGLE)
    random.seed(3)
    for k in (0, 1, 5, 20):
        chosen = select_tournament(pop, k)
        assert len(chosen) == k
        assert all(any(x is ind for ind in pop) for x in chosen)
    random.seed(8)
    a = tags(select_tournament(pop, 10))
    random.seed(8)
    assert tags(select_tournament(pop, 10)) == a


def test_tournament_size_one_is_uniform_and_huge_size_finds_best(restore_random):
    pop = make(IndMin, SINGLE)
    random.seed(0)
    # A tournament as big as the population many times over almost surely sees the best (index 1).
    assert set(tags(select_tournament(pop, 20, tournsize=400))) == {1}
    # Ties: index 1 and index 3 both have fitness 1.0; rank puts 1 first, so 1 wins whenever both are drawn.
    random.seed(0)
    singles = tags(select_tournament(pop, 400, tournsize=1))
    assert set(singles) == set(range(8))


def test_tournament_two_objectives_prefers_first_front(restore_random):
    pop = two_objective(False)
    random.seed(1)
    winners = tags(select_tournament(pop, 50, tournsize=400))
    assert set(winners) == {3}  # the best-ranked index (D) almost surely is in every tournament


def test_registries():
    assert EMIGRATION.names == ("best", "random", "tournament")
    assert [EMIGRATION.resolve(n) for n in EMIGRATION.names] == [select_best, select_random, select_tournament]
    assert REPLACEMENT.names == ("worst", "random")
    assert [REPLACEMENT.resolve(n) for n in REPLACEMENT.names] == [replace_worst, replace_random]


# --- custom policies: callables and import strings ------------------------------------------------------


def random_emigrants(population, k):
    """A user's own policy: the built-in random selection, seen through a function of its own."""
    return select_random(population, k)


def _serial_run(**settings):
    from hpcevo.comm import SerialBackend, World
    from hpcevo.config import load_config
    from hpcevo.engine import run_islands
    from hpcevo.problem import load_problem

    config = load_config(None, {"problem": "onemax", "problem_options": {"length": 16}, "islands": 3,
                                "population": 10, "generations": 6, "migration_interval": 2, "migrants": 3,
                                "algorithm": "simple", "progress": False, "seed": 4, **settings},
                         override_kind="keyword")
    problem = load_problem(config.problem, config.problem_options, config.algorithm)
    backend = SerialBackend(World())
    with backend.serving(problem, config.chunksize) as evaluator:
        results = run_islands(config, problem, backend, evaluator)
    return [[list(ind) for ind in st["population"]] for st in results["islands"]], results["migrations"]


def test_custom_policies_draw_from_the_island_stream():
    """A callable or an import string in place of a built-in name gives the same run: the custom policy draws
    from the island's own stream, as the built-in does."""
    builtin = _serial_run(emigration="random", replacement="random")
    assert _serial_run(emigration=random_emigrants, replacement=replace_random) == builtin
    assert _serial_run(emigration=f"{__name__}:random_emigrants", replacement="hpcevo.policies:replace_random") == \
        builtin
    assert _serial_run(emigration="best", replacement="random") != builtin


def test_custom_policy_specs_resolve():
    assert EMIGRATION.resolve(f"{__name__}:random_emigrants") is random_emigrants
    assert REPLACEMENT.resolve("hpcevo.policies:replace_worst") is replace_worst
    assert EMIGRATION.spec_of(random_emigrants) == f"{__name__}:random_emigrants"
    assert EMIGRATION.spec_of(select_tournament) == "tournament"


def _ranked_reference(population):
    """ranked_indices by its definition, in plain Python: Pareto front (DEAP's sort), then crowding distance
    (largest first; each objective ordered by (value, index)), then index."""
    from deap import tools

    positions = {}
    for i, ind in enumerate(population):
        positions.setdefault(id(ind), []).append(i)
    order = []
    for front in tools.sortNondominated(population, len(population)):
        idx = [positions[id(ind)].pop(0) for ind in front]
        dist = {i: 0.0 for i in idx}
        if len(idx) < 3:
            dist = {i: float("inf") for i in idx}
        else:
            for m in range(len(population[0].fitness.values)):
                by = sorted(idx, key=lambda i: (population[i].fitness.values[m], i))
                lo, hi = population[by[0]].fitness.values[m], population[by[-1]].fitness.values[m]
                dist[by[0]] = dist[by[-1]] = float("inf")
                for k in range(1, len(by) - 1) if hi != lo else ():
                    gap = population[by[k + 1]].fitness.values[m] - population[by[k - 1]].fitness.values[m]
                    dist[by[k]] += gap / (hi - lo)
        order.extend(sorted(idx, key=lambda i: (-dist[i], i)))
    return order


@pytest.mark.parametrize("seed", range(8))
def test_ranked_two_objectives_with_ties_and_repeats_matches_its_definition(seed):
    rng = random.Random(seed)
    levels = (3, 10, 1000)[seed % 3]
    size = rng.choice((2, 5, 60, 200))
    pop = make(IndMax2 if seed % 2 else IndMin2,
               [(float(rng.randrange(levels)), float(rng.randrange(levels))) for _ in range(size)])
    pop += pop[:3]  # one object in two slots
    assert ranked_indices(pop) == _ranked_reference(pop)
    assert sorted(ranked_indices(pop)) == list(range(len(pop)))
