"""Tests for the built-in problems: objective values, toolbox contents, pickling, bounds, option checks."""

import inspect
import math
import pickle
import random
import subprocess
import sys
import warnings

import pytest
import tomli_w

from hpcevo.cli import main
from hpcevo.problem import import_object
from hpcevo.problems import BUILTIN, ackley, onemax, rastrigin, rosenbrock, schwefel, sphere, zdt1
from hpcevo.problems.common import clip_to_bounds, creator_class
from hpcevo.problems.functions import (
    BOUNDS,
    batch_rastrigin,
    batch_rosenbrock,
    batch_sphere,
    eval_ackley,
    eval_rastrigin,
    eval_rosenbrock,
    eval_schwefel,
    eval_sphere,
)
from hpcevo.problems.onemax import eval_onemax
from hpcevo.problems.zdt import eval_zdt1

# The benchmark functions and OneMax; the trading problem has its own tests (test_trading_*.py).
FUNCTION_PROBLEMS = sorted(name for name in BUILTIN if name != "trading")
REAL = {"sphere": sphere, "rastrigin": rastrigin, "ackley": ackley, "schwefel": schwefel, "rosenbrock": rosenbrock}
REQUIRED = ("individual", "population", "evaluate", "mate", "mutate", "select")
# Every gene's bounds per built-in problem (onemax genes are bits).
GENE_BOUNDS = {**BOUNDS, "zdt1": (0.0, 1.0), "onemax": (0, 1)}


@pytest.fixture
def seeded():
    """Seed the global `random` (which DEAP operators use) and restore its state afterwards."""
    state = random.getstate()
    random.seed(12345)
    yield
    random.setstate(state)


# --- objective values -------------------------------------------------------------------------

BATCHES = {"sphere": (batch_sphere, eval_sphere), "rastrigin": (batch_rastrigin, eval_rastrigin),
           "rosenbrock": (batch_rosenbrock, eval_rosenbrock)}


@pytest.mark.parametrize("name", sorted(BATCHES))
def test_batch_evaluation_gives_each_individual_the_floats_of_its_own_evaluation(name, seeded):
    """evaluate_batch against evaluate, bit for bit: in-bounds and far-out genes, signed zeros, several lengths,
    the batch cut into chunks of any size (as evaluator ranks cut it)."""
    batch, one = BATCHES[name]
    rng = random.Random(7)
    low, up = BOUNDS[name]
    for dimension in (2, 3, 30, 101):
        individuals = [[rng.uniform(low, up) for _ in range(dimension)] for _ in range(60)]
        individuals += [[rng.choice([0.0, -0.0, 1e-300, -1e300, 1e154, 0.5]) for _ in range(dimension)]
                        for _ in range(20)]
        want = [tuple(v.hex() for v in one(ind)) for ind in individuals]
        for size in (1, 7, len(individuals)):
            got = [entry for start in range(0, len(individuals), size)
                   for entry in batch(individuals[start:start + size])]
            assert [tuple(v.hex() for v in entry) for entry in got] == want, (dimension, size)
    toolbox = REAL[name](dimension=5)
    assert toolbox.evaluate_batch.func.batch is batch  # its probe agreed (a platform where it does not: test fails)
    with pytest.raises(ValueError, match="evaluate_batch needs individuals of one length"):
        batch([[0.1] * 5, [0.1] * 4])  # the engine then evaluates them one by one
    with pytest.raises(ValueError, match="evaluate_batch needs finite genes"):
        batch([[0.1] * 5, [0.1, math.inf, 0.1, 0.1, 0.1]])


def test_a_batch_that_disagrees_with_evaluate_is_not_registered(monkeypatch):
    import numpy as np

    from hpcevo.problems import functions

    cos = np.cos
    monkeypatch.setattr(functions.np, "cos", lambda x: np.nextafter(cos(x), np.inf))  # a cos one ulp off
    assert not hasattr(rastrigin(dimension=4), "evaluate_batch")
    assert hasattr(sphere(dimension=4), "evaluate_batch")


def test_functions_without_an_exact_batch_have_none():
    """Ackley's exp and Schwefel's sin might round differently in NumPy: those toolboxes evaluate one by one."""
    assert not hasattr(ackley(), "evaluate_batch") and not hasattr(schwefel(), "evaluate_batch")


def test_a_run_gives_the_same_results_with_and_without_the_batch():
    import hpcevo

    def without_batch():
        toolbox = rastrigin(dimension=8)
        toolbox.unregister("evaluate_batch")
        return toolbox

    settings = {"islands": 2, "population": 30, "generations": 6, "migration_interval": 3, "seed": 4,
                "algorithm": "simple", "progress": False}
    a = hpcevo.evolve(lambda: rastrigin(dimension=8), **settings)
    b = hpcevo.evolve(without_batch, **settings)
    assert a.logbook.to_csv() == b.logbook.to_csv()
    assert [list(ind) for ind in a.hall_of_fame] == [list(ind) for ind in b.hall_of_fame]
    assert [[list(i) for i in pop] for pop in a.populations] == [[list(i) for i in pop] for pop in b.populations]


def test_optima_are_zero():
    for d in (1, 2, 30):
        assert eval_sphere([0.0] * d) == (0.0,)
        assert eval_rastrigin([0.0] * d) == (0.0,)
        assert eval_ackley([0.0] * d)[0] == pytest.approx(0.0, abs=1e-12)
        # 418.9829 is the rounded constant, so the optimum is ~1.3e-5 per dimension above 0.
        assert eval_schwefel([420.9687] * d)[0] == pytest.approx(0.0, abs=2e-5 * d)
    for d in (2, 3, 30):
        assert eval_rosenbrock([1.0] * d) == (0.0,)


def test_hand_computed_values():
    assert eval_sphere([1.0, 2.0]) == (5.0,)
    # Rastrigin at [1, 1]: 10*2 + (1 - 10 cos 2pi) * 2 = 20 + 2*(1 - 10) = 2.
    assert eval_rastrigin([1.0, 1.0]) == (2.0,)
    # Rastrigin at [0.5]: 10 + 0.25 - 10 cos(pi) = 20.25.
    assert eval_rastrigin([0.5])[0] == pytest.approx(20.25, abs=1e-12)
    # Ackley at [1, 1]: -20 e^{-0.2*1} - e^{cos 2pi} + 20 + e = 20 - 20 e^{-0.2}.
    assert eval_ackley([1.0, 1.0])[0] == pytest.approx(20.0 - 20.0 * math.exp(-0.2), rel=1e-12)
    # Schwefel at the origin: 418.9829 * d; at [1]: 418.9829 - sin(1).
    assert eval_schwefel([0.0, 0.0, 0.0]) == (3 * 418.9829,)
    assert eval_schwefel([1.0])[0] == pytest.approx(418.9829 - math.sin(1.0), rel=1e-12)
    # Rosenbrock at [0, 0]: 100*0 + 1 = 1; at [0, 1]: 100*1 + 1 = 101; at [0, 1, 0]: 101 + 100*1 + 0 = 201.
    assert eval_rosenbrock([0.0, 0.0]) == (1.0,)
    assert eval_rosenbrock([0.0, 1.0]) == (101.0,)
    assert eval_rosenbrock([0.0, 1.0, 0.0]) == (201.0,)


def test_onemax_values():
    assert eval_onemax([1] * 100) == (100.0,)
    assert eval_onemax([0] * 10) == (0.0,)
    assert eval_onemax([1, 0, 1, 1, 0]) == (3.0,)


def test_zdt1_pareto_front_and_interior():
    for f1 in (0.0, 0.04, 0.25, 0.5, 1.0):
        x = [f1] + [0.0] * 29
        got = eval_zdt1(x)
        assert got[0] == f1
        assert got[1] == pytest.approx(1.0 - math.sqrt(f1), abs=1e-12)
    # Off the front: x = [0.25, 1, 1] -> g = 1 + 9*2/2 = 10, f2 = 10 * (1 - sqrt(0.025)).
    assert eval_zdt1([0.25, 1.0, 1.0])[1] == pytest.approx(10.0 * (1.0 - math.sqrt(0.025)), rel=1e-12)


# --- toolboxes --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", FUNCTION_PROBLEMS)
def test_toolbox_has_required_entries_and_evaluates(name, seeded):
    toolbox = BUILTIN[name][0]()
    for entry in REQUIRED:
        assert callable(getattr(toolbox, entry, None)), entry
    pop = toolbox.population(8)
    assert len(pop) == 8
    ind = pop[0]
    assert isinstance(ind, list)
    assert len(ind) == (100 if name == "onemax" else 30)
    nobj = 2 if name == "zdt1" else 1
    assert len(ind.fitness.weights) == nobj
    for member in pop:
        values = toolbox.evaluate(member)
        assert isinstance(values, tuple) and len(values) == nobj
        assert all(isinstance(v, float) for v in values)
        member.fitness.values = values
    chosen = toolbox.select(pop, 4)
    assert len(chosen) == 4 and all(c in pop for c in chosen)


def test_weights_and_options():
    assert onemax().individual().fitness.weights == (1.0,)
    assert sphere().individual().fitness.weights == (-1.0,)
    assert zdt1().individual().fitness.weights == (-1.0, -1.0)
    assert len(onemax(length=7).individual()) == 7
    assert len(rastrigin(dimension=3).individual()) == 3
    assert len(zdt1(dimension=2).individual()) == 2
    assert set(onemax(length=20).individual()) <= {0, 1}


def test_builtin_descriptions():
    """One line each; the options are not written by hand (the listing reads them from the signatures)."""
    assert set(BUILTIN) == {"trading", "onemax", "sphere", "rastrigin", "ackley", "schwefel", "rosenbrock", "zdt1"}
    for _name, (factory, description) in BUILTIN.items():
        assert callable(factory)
        assert description and "\n" not in description and "options" not in description


def _signature_of(factory):
    target = getattr(factory, "options_of", None)
    return inspect.signature(import_object(target, "problem") if target else factory)


def test_listing_shows_every_option_of_every_factory(capsys):
    """`hpcevo problems` lists each parameter of each factory with its default, so a new option shows up."""
    assert main(["problems"]) == 0
    blocks, name = {}, None
    for line in capsys.readouterr().out.splitlines():
        if not line.startswith(" "):
            name, line = line.split(None, 1)
        blocks.setdefault(name, []).append(line.strip())
    assert list(blocks) == list(BUILTIN)
    for name, (factory, description) in BUILTIN.items():
        text = " ".join(blocks[name])
        assert text.startswith(description + " options: ")
        shown = text.removeprefix(description + " options: ").split(", ")
        params = _signature_of(factory).parameters.values()
        assert params and shown == [f"{p.name}={tomli_w.dumps({'v': p.default})[4:].strip()}" for p in params]
    assert "trading" in blocks and any("holdout_years=4.0" in line for line in blocks["trading"])


@pytest.mark.parametrize("name", FUNCTION_PROBLEMS)
def test_individual_pickles(name, seeded):
    toolbox = BUILTIN[name][0]()
    ind = toolbox.individual()
    ind.fitness.values = toolbox.evaluate(ind)
    back = pickle.loads(pickle.dumps(ind))
    # DEAP 1.4 pickles creator classes by value (so a fresh process can unpickle them), which
    # rebuilds deap.creator.<name>: compare the class by name, not identity.
    assert type(back).__qualname__ == type(ind).__qualname__ and isinstance(back, list)
    assert back == ind
    assert back.fitness.weights == ind.fitness.weights
    assert back.fitness.values == ind.fitness.values


@pytest.mark.parametrize("name", FUNCTION_PROBLEMS)
def test_toolbox_pickles_and_still_works(name, seeded):
    toolbox = pickle.loads(pickle.dumps(BUILTIN[name][0]()))
    pop = toolbox.population(4)
    for member in pop:
        member.fitness.values = toolbox.evaluate(member)
    toolbox.mate(pop[0], pop[1])
    toolbox.mutate(pop[2])
    assert len(toolbox.select(pop, 2)) == 2


def test_pickles_load_in_a_fresh_process(seeded):
    """A rank that never built the problem can still unpickle its toolbox and individuals."""
    toolbox = zdt1(dimension=5)
    ind = toolbox.individual()
    ind.fitness.values = toolbox.evaluate(ind)
    payload = pickle.dumps((toolbox, ind)).hex()
    script = (
        "import pickle, sys\n"
        "tb, ind = pickle.loads(bytes.fromhex(sys.stdin.read()))\n"
        "assert tb.evaluate(ind) == ind.fitness.values, (tb.evaluate(ind), ind.fitness.values)\n"
        "print(len(tb.individual()), ind.fitness.weights)\n"
    )
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", script], input=payload, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["5", "(-1.0,", "-1.0)"]


@pytest.mark.parametrize("name", FUNCTION_PROBLEMS)
def test_variation_keeps_genes_in_bounds(name, seeded):
    toolbox = BUILTIN[name][0](**({"length": 10} if name == "onemax" else {"dimension": 10}))
    low, up = GENE_BOUNDS[name]
    pop = toolbox.population(20)
    # Start half the genes on a bound so Gaussian/blend steps regularly try to leave the box.
    for ind in pop[:10]:
        for i in range(0, len(ind), 2):
            ind[i] = up if i % 4 == 0 else low
    before = [list(ind) for ind in pop]
    for _ in range(300):
        i, j = random.sample(range(len(pop)), 2)
        children = toolbox.mate(pop[i], pop[j])
        assert len(children) == 2 and children[0] is pop[i] and children[1] is pop[j]
        (mutant,) = toolbox.mutate(pop[random.randrange(len(pop))])
        assert type(mutant) is type(pop[0])
        for ind in pop:
            assert all(low <= g <= up for g in ind), ind
    assert [list(ind) for ind in pop] != before


def test_clip_to_bounds():
    assert clip_to_bounds([-7.0, 0.5, 9.0], -1.0, 1.0) == [-1.0, 0.5, 1.0]
    assert clip_to_bounds([], -1.0, 1.0) == []
    inside = [0.25, -1.0, 1.0]
    assert clip_to_bounds(inside, -1.0, 1.0) is inside and inside == [0.25, -1.0, 1.0]
    rng = random.Random(3)
    for _ in range(300):  # the fast path (nothing to clamp) against a gene-by-gene clamp, NaN and inf included
        genes = [rng.choice([rng.uniform(-2, 2), math.nan, math.inf, -math.inf, 0]) for _ in range(rng.randrange(6))]
        expected = [-1.0 if g < -1.0 else 1.0 if g > 1.0 else g for g in genes]
        got = clip_to_bounds(list(genes), -1.0, 1.0)
        assert [repr(g) for g in got] == [repr(g) for g in expected], genes


def test_building_twice_reuses_classes_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for factory in BUILTIN.values():
            first, second = factory[0](), factory[0]()
            assert type(first.individual()) is type(second.individual())
    # Same-named fitness with different weights is refused rather than silently reused.
    from deap import base

    with pytest.raises(ValueError, match="weights"):
        creator_class("HpcevoFitnessMin", base.Fitness, weights=(1.0,))


@pytest.mark.parametrize(
    "factory, option, value",
    [
        (sphere, "dimension", 0),
        (rastrigin, "dimension", -3),
        (ackley, "dimension", 2.5),
        (schwefel, "dimension", "30"),
        (sphere, "dimension", True),
        (rosenbrock, "dimension", 1),
        (onemax, "length", 0),
        (onemax, "length", 10.0),
        (onemax, "indpb", 1.5),
        (onemax, "indpb", float("nan")),
        (zdt1, "dimension", 1),
        (zdt1, "dimension", None),
    ],
)
def test_bad_options_raise_value_error(factory, option, value):
    with pytest.raises(ValueError, match=option) as info:
        factory(**{option: value})
    message = str(info.value)
    assert "\n" not in message
    assert ">=" in message or "[0, 1]" in message
