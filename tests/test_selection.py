"""selection.equivalent: the engine's stand-in for DEAP's tournament picks the same individuals from the same
random state, and leaves the random state where DEAP leaves it; anything else registered is used as it is."""

import functools
import random

import pytest
from deap import base, tools

from hpcevo.problems.common import creator_class
from hpcevo.selection import equivalent, sel_tournament

Min = creator_class("HpcevoTestSelMin", base.Fitness, weights=(-1.0,))
Two = creator_class("HpcevoTestSelTwo", base.Fitness, weights=(1.0, -1.0))
IndMin = creator_class("HpcevoTestSelIndMin", list, fitness=Min)
IndTwo = creator_class("HpcevoTestSelIndTwo", list, fitness=Two)


def _population(rng, n, cls, objectives, levels):
    """n individuals whose fitnesses take `levels` distinct values per objective (few levels: many ties)."""
    pop = []
    for i in range(n):
        ind = cls([i])
        ind.fitness.values = tuple(float(rng.randrange(levels)) - levels / 2 for _ in range(objectives))
        pop.append(ind)
    return pop


@pytest.mark.parametrize("n", [1, 2, 3, 7, 64, 100, 1000, 1025])
@pytest.mark.parametrize("tournsize", [1, 2, 3, 7])
@pytest.mark.parametrize("kind", ["min", "two"])
def test_same_picks_and_random_state_as_deap(n, tournsize, kind):
    rng = random.Random(n * 100 + tournsize)
    cls, objectives = (IndMin, 1) if kind == "min" else (IndTwo, 2)
    for levels in (2, 5, 10_000):
        pop = _population(rng, n, cls, objectives, levels)
        k = rng.choice([0, 1, n, 2 * n + 3])
        state = random.getstate()
        expected = tools.selTournament(pop, k, tournsize)
        after_deap = random.getstate()
        random.setstate(state)
        got = sel_tournament(pop, k, tournsize)
        assert [id(x) for x in got] == [id(x) for x in expected]
        assert random.getstate() == after_deap


def test_first_of_equal_aspirants_wins_as_in_deap():
    """Ties everywhere: DEAP's max keeps the first aspirant drawn, and so does the stand-in."""
    pop = [IndMin([i]) for i in range(10)]
    for ind in pop:
        ind.fitness.values = (1.0,)
    random.seed(4)
    expected = tools.selTournament(pop, 50, 3)
    random.seed(4)
    assert [x[0] for x in sel_tournament(pop, 50, 3)] == [x[0] for x in expected]


def test_empty_population():
    assert sel_tournament([], 0, 3) == tools.selTournament([], 0, 3) == []
    with pytest.raises(IndexError):
        tools.selTournament([], 1, 3)
    with pytest.raises(IndexError):
        sel_tournament([], 1, 3)


def test_equivalent_only_for_what_it_reproduces():
    tb = base.Toolbox()
    tb.register("select", tools.selTournament, tournsize=3)
    stand_in = equivalent(tb.select)
    assert stand_in.func is sel_tournament and stand_in.keywords == {"tournsize": 3}
    tb.register("select", tools.selTournament, tournsize=2, fit_attr="fitness")
    assert equivalent(tb.select).func is sel_tournament
    for other in (functools.partial(tools.selTournament, tournsize=3, fit_attr="score"),  # another attribute
                  functools.partial(tools.selTournament, 5),  # tournsize given by position: k comes first
                  functools.partial(tools.selTournament, tournsize=0),  # DEAP's error, kept
                  functools.partial(tools.selBest),
                  tools.selTournament):
        assert equivalent(other) is other


def test_a_run_is_unchanged_by_the_stand_in(monkeypatch):
    """A whole Rastrigin run gives the same logbook rows and halls of fame with DEAP's own tournament."""
    from test_algorithms import hpcevo_run

    fast, _ = hpcevo_run("rastrigin", {"dimension": 6}, islands=3, population=30, generations=8,
                         migration_interval=3, seed=5, cxpb=0.6, mutpb=0.3)
    monkeypatch.setattr("hpcevo.algorithms.equivalent", lambda select: select)
    plain, _ = hpcevo_run("rastrigin", {"dimension": 6}, islands=3, population=30, generations=8,
                          migration_interval=3, seed=5, cxpb=0.6, mutpb=0.3)
    assert fast["rows"] == plain["rows"]
    assert [[list(i) for i in isl["hof"]] for isl in fast["islands"]] == \
        [[list(i) for i in isl["hof"]] for isl in plain["islands"]]


def test_deaps_own_tournament_where_random_draws_otherwise(monkeypatch):
    """On a Python whose random.choice would not draw as sel_tournament does, DEAP's operator is kept."""
    from hpcevo import selection

    assert selection._draws_like_choice() is True  # this Python: checked on a private state
    monkeypatch.setattr(selection, "_draws_like_choice", lambda: False)
    select = functools.partial(tools.selTournament, tournsize=3)
    assert equivalent(select) is select
