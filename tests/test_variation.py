"""variation.blend_gauss against DEAP's cxBlend and mutGaussian through algorithms.var_and: same children (every
gene's float and type), same fitness validity, same random state after, gauss's cached value included."""

import functools
import math
import random

import numpy as np
import pytest
from deap import base, tools

from hpcevo import variation
from hpcevo.algorithms import var_and
from hpcevo.problem import clone_list
from hpcevo.problems import rastrigin
from hpcevo.problems.common import clipped
from hpcevo.variation import blend_gauss, equivalent


class Fit(base.Fitness):
    weights = (-1.0,)


class Ind(list):
    pass


def population(n, length, seed=0, low=-6.0, up=6.0):
    rng = random.Random(seed)
    pop = []
    for _ in range(n):
        ind = Ind(rng.uniform(low, up) for _ in range(length))
        ind.fitness = Fit((rng.random(),))
        pop.append(ind)
    return pop


def toolbox(alpha=0.5, mu=0.0, sigma=1.0, indpb=0.2, bounds=(-5.0, 5.0), mutate_bounds="same"):
    tb = base.Toolbox()
    mutate_bounds = bounds if mutate_bounds == "same" else mutate_bounds
    if bounds is None:
        tb.register("mate", tools.cxBlend, alpha=alpha)
    else:
        tb.register("mate", clipped, tools.cxBlend, alpha=alpha, low=bounds[0], up=bounds[1])
    if mutate_bounds is None:
        tb.register("mutate", tools.mutGaussian, mu=mu, sigma=sigma, indpb=indpb)
    else:
        tb.register("mutate", clipped, tools.mutGaussian, mu=mu, sigma=sigma, indpb=indpb,
                    low=mutate_bounds[0], up=mutate_bounds[1])
    return tb


def snapshot(children):
    """Every gene as (type, repr): exact floats, NaN included, and the type DEAP would have left."""
    return [([(type(g).__name__, repr(g)) for g in ind], ind.fitness.valid) for ind in children]


def both(pop_factory, tb, cxpb, mutpb, seed, gauss_first=False):
    """(DEAP's children and state, the stand-in's children and state) from one seed (the stand-in's array path
    for every size: min_genes=0, so no generation is handed to DEAP's loop for being small)."""
    out = []
    stand_in = equivalent(tb)
    assert stand_in is not None
    for run in (lambda p: var_and(p, tb, cxpb, mutpb, clone_list),
                lambda p: stand_in(p, tb, cxpb, mutpb, clone_list, min_genes=0)):
        random.seed(seed)
        if gauss_first:
            random.gauss(0.0, 1.0)  # leaves a cached second gaussian for mutGaussian's first draw
        pop = pop_factory()
        children = run(pop)
        out.append((snapshot(children), random.getstate(), snapshot(pop)))
    return out


@pytest.mark.parametrize("n", [1, 2, 3, 7, 64, 301])
@pytest.mark.parametrize("length", [1, 2, 30])
@pytest.mark.parametrize("cxpb, mutpb", [(0.0, 0.0), (1.0, 1.0), (0.5, 0.2), (0.9, 0.1), (0.3, 0.7)])
def test_same_children_and_state_as_deap(n, length, cxpb, mutpb):
    for seed, gauss_first in ((n * 31 + length, False), (n + 7, True)):
        deap_run, ours = both(lambda: population(n, length, seed), toolbox(indpb=1.0 / length), cxpb, mutpb, seed,
                              gauss_first)
        assert ours[0] == deap_run[0]
        assert ours[1] == deap_run[1]
        assert ours[2] == deap_run[2]  # the parents are left as they were


@pytest.mark.parametrize("settings", [
    {"bounds": None},  # neither operator clamps
    {"bounds": (-5.0, 5.0), "mutate_bounds": None},
    {"bounds": None, "mutate_bounds": (-1, 1)},  # int bounds on the scalar clamp: ints written, as DEAP does
    {"alpha": 0.0, "indpb": 1.0, "sigma": 3.0},  # every gene mutated: many gaussians, cached values used
    {"alpha": 1, "mu": 1, "sigma": 2},  # int parameters
    {"mu": np.float64(0.0), "sigma": np.float64(0.5)},  # NumPy scalars in mutation: NumPy genes, as DEAP makes
    {"bounds": (0.5, -0.5)},  # low above up: the scalar clamp's order of tests decides
])
def test_same_as_deap_for_other_parameters(settings):
    for seed in range(4):
        deap_run, ours = both(lambda: population(150, 12, seed), toolbox(**settings), 0.6, 0.4, seed)
        assert ours == deap_run


def test_individuals_longer_than_a_block():
    """An individual whose worst case takes more draws than a block: the refill takes at least that many."""
    deap_run, ours = both(lambda: population(3, 1500, 2), toolbox(indpb=0.9), 0.0, 1.0, 3)
    assert ours == deap_run


def test_small_generations_take_deaps_loop(monkeypatch):
    """Below min_genes genes the stand-in hands the generation to var_and (faster there; the same children)."""
    calls = []
    monkeypatch.setattr(variation, "_deap", lambda *args: calls.append(len(args[0])) or [])
    tb = toolbox()
    assert equivalent(tb)(population(10, 5), tb, 0.5, 0.5, clone_list) == []
    assert equivalent(tb)(population(100, 30), tb, 0.5, 0.5, clone_list) != []
    assert calls == [10]


def test_draws_past_the_first_block():
    """Every gene mutated with a gaussian each: the mutation draws run past the crossover block and NumPy's
    further blocks, and Python's state still ends where DEAP's loop leaves it."""
    deap_run, ours = both(lambda: population(700, 40, 1), toolbox(indpb=0.95), 0.5, 1.0, 9)
    assert ours == deap_run


def test_nan_and_infinite_genes():
    def pop():
        p = population(40, 6, 3)
        p[0][1], p[1][2], p[2][0], p[5][5] = math.nan, math.inf, -math.inf, math.nan
        return p

    for seed in range(5):
        assert both(pop, toolbox(), 1.0, 0.5, seed)[1] == both(pop, toolbox(), 1.0, 0.5, seed)[0]


def test_populations_the_array_path_does_not_take_go_through_deap():
    """Lengths that differ, an int gene in a crossing pair, a gene that is not a number: DEAP's operators."""
    def ragged():
        p = population(20, 5, 1)
        p[3].append(0.25)
        return p

    def ints():
        p = population(20, 5, 2)
        for ind in p:
            ind[0] = 1
        return p

    for factory in (ragged, ints):
        deap_run, ours = both(factory, toolbox(), 0.9, 0.5, 4)
        assert ours == deap_run
    strings = population(4, 3, 5)
    strings[0][0] = "x"
    random.seed(1)
    with pytest.raises(TypeError):  # what DEAP's cxBlend raises
        equivalent(toolbox(bounds=None))(strings, toolbox(bounds=None), 1.0, 0.0, clone_list)


def test_empty_population():
    tb = toolbox()
    state = random.getstate()
    assert equivalent(tb)([], tb, 0.5, 0.5, clone_list) == []
    assert random.getstate() == state


def test_equivalent_only_for_what_it_reproduces():
    assert equivalent(rastrigin(dimension=4)).func is blend_gauss  # the built-in real-valued toolboxes
    assert equivalent(toolbox(bounds=None, mutate_bounds=None)).func is blend_gauss
    tb = toolbox()
    tb.register("mate", functools.partial(clipped, tools.cxBlend, low=-5.0, up=5.0), alpha=0.5)  # partial flattens
    assert equivalent(tb).func is blend_gauss
    others = []
    tb = toolbox()
    tb.decorate("mate", lambda f: lambda *args: f(*args))  # a decorated operator: what the decorator does is kept
    others.append(tb)
    tb = toolbox()
    tb.register("mate", tools.cxBlend, 0.5)  # alpha by position
    others.append(tb)
    tb = toolbox()
    tb.register("mutate", tools.mutGaussian, mu=[0.0] * 5, sigma=1.0, indpb=0.2)  # per-gene mu
    others.append(tb)
    tb = toolbox()
    tb.register("mate", clipped, tools.cxBlend, alpha=0.5, low=-5, up=5)  # int bounds on the array clamp
    others.append(tb)
    tb = toolbox()
    tb.register("mate", tools.cxBlend, alpha=np.float64(0.5))  # DEAP's children would hold NumPy scalars
    others.append(tb)
    tb = toolbox()
    tb.register("mate", tools.cxTwoPoint)
    others.append(tb)
    tb = toolbox()
    tb.register("mutate", tools.mutPolynomialBounded, eta=20.0, low=-5.0, up=5.0, indpb=0.2)
    others.append(tb)
    others.append(base.Toolbox())
    for tb in others:
        assert equivalent(tb) is None


def test_a_run_is_unchanged_by_the_stand_in(monkeypatch):
    """A whole Rastrigin run gives the same logbook rows and halls of fame with DEAP's own operators."""
    from test_algorithms import hpcevo_run

    settings = dict(islands=3, population=120, generations=8, migration_interval=3, seed=5, cxpb=0.6, mutpb=0.3)
    assert 120 * 20 >= variation._MIN_GENES  # each generation takes the array path
    fast, _ = hpcevo_run("rastrigin", {"dimension": 20}, **settings)
    monkeypatch.setattr("hpcevo.algorithms.equivalent_variation", lambda toolbox: None)
    plain, _ = hpcevo_run("rastrigin", {"dimension": 20}, **settings)
    assert fast["rows"] == plain["rows"]
    assert [[list(i) for i in isl["hof"]] for isl in fast["islands"]] == \
        [[list(i) for i in isl["hof"]] for isl in plain["islands"]]


@pytest.mark.parametrize("cxpb, mutpb", [(0.7, 0.2), (0.9, 0.6)])
def test_one_island_reproduces_easimple_on_the_array_path(cxpb, mutpb):
    """eaSimple itself, on a generation large enough for the array path: the same logbook and hall of fame."""
    from deap import algorithms
    from test_algorithms import assert_rows_match_logbook, hpcevo_run, scalar_stats

    from hpcevo.rng import island_streams

    ngen, size, seed, dimension = 6, 100, 7, 30
    toolbox = rastrigin(dimension=dimension)
    hof = tools.HallOfFame(10)
    with island_streams(seed, 1)[0].active():
        pop = toolbox.population(size)
        _, logbook = algorithms.eaSimple(pop, toolbox, cxpb, mutpb, ngen, stats=scalar_stats(), halloffame=hof,
                                         verbose=False)
    result, _ = hpcevo_run("rastrigin", {"dimension": dimension}, islands=1, population=size, generations=ngen,
                           migration_interval=ngen, seed=seed, cxpb=cxpb, mutpb=mutpb)
    (island,) = result["islands"]
    assert_rows_match_logbook(island["rows"], logbook, ngen)
    assert [list(ind) for ind in island["hof"]] == [list(ind) for ind in hof]


def test_deaps_operators_where_the_probe_disagrees(monkeypatch):
    """On a Python or NumPy where the probe population's children or state would differ, DEAP's are kept."""
    assert variation._agrees_with_deap() is True  # this Python and NumPy: checked on a private state
    monkeypatch.setattr(variation, "_agrees_with_deap", lambda: False)
    assert equivalent(toolbox()) is None
