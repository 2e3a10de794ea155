"""Tests for the per-island algorithms (against DEAP's own loops) and serial runs of the island engine."""

import io
import random

import numpy as np
import pytest
from deap import algorithms, tools

from hpcevo.algorithms import step_mu_plus_lambda, step_nsga2, step_simple, var_and, var_or
from hpcevo.comm import SerialBackend, World
from hpcevo.config import load_config
from hpcevo.engine import run_islands
from hpcevo.errors import EvaluationError
from hpcevo.problem import load_problem
from hpcevo.problems import onemax, rastrigin
from hpcevo.registry import ALGORITHM
from hpcevo.rng import island_streams


def hpcevo_run(problem_name, options, algorithm="simple", check_on_error=None, **settings):
    """One serial run of the engine; returns (result, progress text)."""
    overrides = {"problem": problem_name, "problem_options": options, "algorithm": algorithm, "progress": False,
                 **settings}
    config = load_config(None, overrides)
    problem = load_problem(config.problem, config.problem_options, config.algorithm,
                           check_on_error or config.on_error)
    backend = SerialBackend(World())
    out = io.StringIO()
    with backend.serving(problem, config.chunksize) as evaluator:
        result = run_islands(config, problem, backend, evaluator, out=out)
    return result, out.getvalue()


def scalar_stats():
    stats = tools.Statistics(lambda ind: ind.fitness.values[0])
    stats.register("min", np.min)
    stats.register("max", np.max)
    stats.register("avg", np.mean)
    stats.register("std", np.std)
    return stats


def assert_rows_match_logbook(rows, logbook, ngen):
    assert [row["gen"] for row in rows] == list(range(ngen + 1))
    assert [row["nevals"] for row in rows] == logbook.select("nevals")
    assert [row["min"] for row in rows] == [float(v) for v in logbook.select("min")]
    assert [row["max"] for row in rows] == [float(v) for v in logbook.select("max")]
    assert np.allclose([row["avg"] for row in rows], logbook.select("avg"), rtol=0, atol=1e-12)
    assert np.allclose([row["std"] for row in rows], logbook.select("std"), rtol=0, atol=1e-12)
    assert all(row["failures"] == 0 and row["island"] == 0 for row in rows)


# --- one island reproduces DEAP's loops ------------------------------------------------------------

CASES = [
    ("rastrigin", {"dimension": 5}, 0.7, 0.2),
    ("rastrigin", {"dimension": 5}, 0.9, 0.6),
    ("onemax", {"length": 20}, 0.5, 0.2),
    ("onemax", {"length": 20}, 1.0, 1.0),
]
FACTORIES = {"rastrigin": rastrigin, "onemax": onemax}


@pytest.mark.parametrize("name, options, cxpb, mutpb", CASES)
def test_simple_reproduces_easimple(name, options, cxpb, mutpb):
    ngen, size, seed = 12, 30, 7
    toolbox = FACTORIES[name](**options)
    stream = island_streams(seed, 1)[0]
    hof = tools.HallOfFame(10)
    with stream.active():
        pop = toolbox.population(size)
        final, logbook = algorithms.eaSimple(pop, toolbox, cxpb, mutpb, ngen, stats=scalar_stats(),
                                             halloffame=hof, verbose=False)
    result, _ = hpcevo_run(name, options, islands=1, population=size, generations=ngen, migration_interval=ngen,
                           seed=seed, cxpb=cxpb, mutpb=mutpb)
    (island,) = result["islands"]
    assert_rows_match_logbook(island["rows"], logbook, ngen)
    assert island["evaluations"] == sum(logbook.select("nevals"))
    assert [ind.fitness.values for ind in island["hof"]] == [ind.fitness.values for ind in hof]
    assert [list(ind) for ind in island["hof"]] == [list(ind) for ind in hof]
    assert result["migrations"] == []


def test_simple_reproduces_easimple_across_epochs():
    """With one island there is nobody to migrate to: splitting the run into epochs changes nothing
    (emigrants chosen by "best" draw no random numbers)."""
    ngen, size, seed = 10, 24, 3
    toolbox = rastrigin(dimension=5)
    with island_streams(seed, 1)[0].active():
        pop = toolbox.population(size)
        _, logbook = algorithms.eaSimple(pop, toolbox, 0.6, 0.3, ngen, stats=scalar_stats(), verbose=False)
    result, _ = hpcevo_run("rastrigin", {"dimension": 5}, islands=1, population=size, generations=ngen,
                           migration_interval=3, seed=seed, cxpb=0.6, mutpb=0.3)
    assert_rows_match_logbook(result["islands"][0]["rows"], logbook, ngen)


def test_mu_plus_lambda_reproduces_eamupluslambda():
    ngen, size, lambda_, seed = 10, 20, 35, 11
    toolbox = rastrigin(dimension=5)
    with island_streams(seed, 1)[0].active():
        pop = toolbox.population(size)
        _, logbook = algorithms.eaMuPlusLambda(pop, toolbox, size, lambda_, 0.5, 0.3, ngen,
                                               stats=scalar_stats(), verbose=False)
    result, _ = hpcevo_run("rastrigin", {"dimension": 5}, algorithm="mu_plus_lambda", islands=1, population=size,
                           generations=ngen, migration_interval=ngen, seed=seed, cxpb=0.5, mutpb=0.3,
                           offspring=lambda_)
    assert_rows_match_logbook(result["islands"][0]["rows"], logbook, ngen)


def test_steps_registry():
    assert ALGORITHM.names == ("auto", "simple", "mu_plus_lambda", "nsga2")
    assert [ALGORITHM.resolve(n) for n in ALGORITHM.names[1:]] == [step_simple, step_mu_plus_lambda, step_nsga2]


def step_simple_of_my_own(population, toolbox, params, clone, evaluate):
    """A user's step: eaSimple's generation, with the memory it sees recorded."""
    params["memory"].setdefault("keys", sorted(params))
    return step_simple(population, toolbox, params, clone, evaluate)


@pytest.mark.parametrize("algorithm", [step_mu_plus_lambda, "hpcevo.algorithms:step_mu_plus_lambda"])
def test_custom_step_as_callable_or_import_string(algorithm):
    """A step given as a function or as 'package.module:function' runs exactly as the built-in name."""
    settings = {"islands": 2, "population": 12, "generations": 6, "migration_interval": 3, "cxpb": 0.5,
                "mutpb": 0.3, "seed": 9}
    builtin, _ = hpcevo_run("rastrigin", {"dimension": 4}, algorithm="mu_plus_lambda", **settings)
    custom, _ = hpcevo_run("rastrigin", {"dimension": 4}, algorithm=algorithm, **settings)
    assert custom["rows"] == builtin["rows"]
    assert custom["migrations"] == builtin["migrations"]


def test_custom_step_gets_params_and_private_memory():
    result, _ = hpcevo_run("onemax", {"length": 12}, algorithm=step_simple_of_my_own, islands=2, population=8,
                           generations=3, migration_interval=2)
    assert [st["memory"] for st in result["islands"]] == [{"keys": ["cxpb", "memory", "mutpb", "offspring"]}] * 2


# --- variation makes clones ------------------------------------------------------------------------------


def evaluated_population(toolbox, n, seed):
    random.seed(seed)
    pop = toolbox.population(n)
    for ind in pop:
        ind.fitness.values = toolbox.evaluate(ind)
    return pop


def shares_nothing(offspring, parents):
    parent_ids = {id(p) for p in parents} | {id(p.fitness) for p in parents}
    return all(id(o) not in parent_ids and id(o.fitness) not in parent_ids for o in offspring)


@pytest.fixture(scope="module")
def real_problem():
    return load_problem("rastrigin", {"dimension": 6}, "simple")


def test_var_and_clones(real_problem):
    toolbox, clone = real_problem.toolbox, real_problem.clone
    parents = evaluated_population(toolbox, 12, seed=1)
    snapshot = [(list(p), p.fitness.values) for p in parents]
    offspring = var_and(parents, toolbox, 1.0, 1.0, clone)
    assert len(offspring) == 12
    assert shares_nothing(offspring, parents)
    assert len({id(o) for o in offspring}) == 12
    assert not any(o.fitness.valid for o in offspring)
    assert [(list(p), p.fitness.values) for p in parents] == snapshot  # parents untouched
    # Without variation the offspring are equal, independent copies that keep their fitness.
    copies = var_and(parents, toolbox, 0.0, 0.0, clone)
    assert shares_nothing(copies, parents)
    assert copies == parents
    assert [c.fitness.values for c in copies] == [p.fitness.values for p in parents]
    copies[0][0] = 99.0
    copies[0].fitness.values = (-1.0,)
    assert parents[0][0] != 99.0 and parents[0].fitness.values != (-1.0,)


def test_var_and_odd_population(real_problem):
    parents = evaluated_population(real_problem.toolbox, 7, seed=2)
    offspring = var_and(parents, real_problem.toolbox, 1.0, 0.0, real_problem.clone)
    assert len(offspring) == 7
    assert not any(o.fitness.valid for o in offspring[:6])
    assert offspring[6].fitness.valid and offspring[6] == parents[6]  # the last one has no partner


@pytest.mark.parametrize("cxpb, mutpb", [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (0.4, 0.4)])
def test_var_or_clones(real_problem, cxpb, mutpb):
    toolbox, clone = real_problem.toolbox, real_problem.clone
    parents = evaluated_population(toolbox, 10, seed=3)
    snapshot = [(list(p), p.fitness.values) for p in parents]
    offspring = var_or(parents, toolbox, 25, cxpb, mutpb, clone)
    assert len(offspring) == 25
    assert shares_nothing(offspring, parents)
    assert len({id(o) for o in offspring}) == 25
    assert [(list(p), p.fitness.values) for p in parents] == snapshot
    if cxpb + mutpb == 0:
        assert all(o.fitness.valid and any(o == p for p in parents) for o in offspring)
    if cxpb + mutpb == 1:
        assert not any(o.fitness.valid for o in offspring)


# --- mu + lambda and NSGA-II steps ------------------------------------------------------------------------


def direct_evaluator(toolbox, counter):
    def evaluate(individuals):
        counter.append(len(individuals))
        for ind in individuals:
            ind.fitness.values = toolbox.evaluate(ind)
    return evaluate


def test_mu_plus_lambda_keeps_size_and_distinct_objects(real_problem):
    toolbox, clone = real_problem.toolbox, real_problem.clone
    pop = evaluated_population(toolbox, 20, seed=4)
    params = {"cxpb": 0.6, "mutpb": 0.3, "offspring": 40}
    for _ in range(8):
        counter = []
        new, nevals = step_mu_plus_lambda(pop, toolbox, params, clone, direct_evaluator(toolbox, counter))
        assert len(new) == 20
        assert len({id(ind) for ind in new}) == 20         # tournaments repeat winners; slots are distinct
        assert len({id(ind.fitness) for ind in new}) == 20
        assert all(ind.fitness.valid for ind in new)
        assert nevals == sum(counter) and 0 < nevals <= 40
        pop = new


def hypervolume_2d(points, ref):
    """Area dominated by `points` (both objectives minimised) inside the box up to `ref`."""
    front, best_f2 = [], ref[1]
    for f1, f2 in sorted(p for p in points if p[0] < ref[0] and p[1] < ref[1]):
        if f2 < best_f2:  # not dominated by a point with smaller f1
            front.append((f1, f2))
            best_f2 = f2
    edges = [f1 for f1, _ in front[1:]] + [ref[0]]
    return sum((right - f1) * (ref[1] - f2) for (f1, f2), right in zip(front, edges))


def test_hypervolume_helper():
    assert hypervolume_2d([(0.5, 0.5)], (1.0, 1.0)) == pytest.approx(0.25)
    assert hypervolume_2d([(0.0, 0.5), (0.5, 0.0)], (1.0, 1.0)) == pytest.approx(0.75)
    assert hypervolume_2d([(0.0, 0.5), (0.5, 0.0), (0.6, 0.6)], (1.0, 1.0)) == pytest.approx(0.75)
    assert hypervolume_2d([(0.2, 0.9), (0.4, 0.3), (0.5, 0.5), (2.0, 0.0)], (1.0, 1.0)) == pytest.approx(0.44)
    assert hypervolume_2d([], (1.0, 1.0)) == 0.0


def test_nsga2_step_improves_zdt1():
    problem = load_problem("zdt1", {"dimension": 10}, "nsga2")
    toolbox, clone = problem.toolbox, problem.clone
    pop = evaluated_population(toolbox, 40, seed=5)
    params = {"cxpb": 0.9, "mutpb": 1.0, "offspring": 40}
    ref = (1.1, 11.0)
    start_mean = np.mean([sum(ind.fitness.values) for ind in pop])
    start_hv = hypervolume_2d([ind.fitness.values for ind in pop], ref)
    previous_hv = start_hv
    for _ in range(20):
        counter = []
        pop, nevals = step_nsga2(pop, toolbox, params, clone, direct_evaluator(toolbox, counter))
        assert len(pop) == 40
        assert len({id(ind) for ind in pop}) == 40
        assert nevals == sum(counter) and 0 < nevals <= 40
        hv = hypervolume_2d([ind.fitness.values for ind in pop], ref)
        assert hv >= previous_hv - 1e-12  # NSGA-II is elitist: the dominated area never shrinks here
        previous_hv = hv
    assert np.mean([sum(ind.fitness.values) for ind in pop]) < 0.8 * start_mean
    assert previous_hv > start_hv


def test_nsga2_run_improves_zdt1():
    result, _ = hpcevo_run("zdt1", {"dimension": 10}, algorithm="nsga2", islands=1, population=40, generations=20,
                           migration_interval=20, seed=2)
    rows = result["islands"][0]["rows"]
    assert len(rows) == 21
    assert rows[-1]["avg_0"] + rows[-1]["avg_1"] < rows[0]["avg_0"] + rows[0]["avg_1"]
    assert {"min_0", "max_0", "avg_0", "std_0", "min_1", "max_1", "avg_1", "std_1"} <= set(rows[0])


# --- serial end-to-end runs of the engine ------------------------------------------------------------------

E2E = {"islands": 3, "population": 16, "generations": 6, "migration_interval": 2, "migrants": 2,
       "topology": "random", "emigration": "tournament", "replacement": "random", "seed": 3}


def comparable(result):
    islands = [(r["index"], r["rows"], r["evaluations"], [(list(i), i.fitness.values) for i in r["hof"]])
               for r in result["islands"]]
    return islands, result["migrations"]


def test_serial_run_is_reproducible():
    first, _ = hpcevo_run("onemax", {"length": 20}, **E2E)
    second, _ = hpcevo_run("onemax", {"length": 20}, **E2E)
    assert comparable(first) == comparable(second)
    other, _ = hpcevo_run("onemax", {"length": 20}, **{**E2E, "seed": 4})
    assert comparable(other)[0] != comparable(first)[0]
    assert comparable(other)[1] != comparable(first)[1]


def test_serial_run_shape():
    result, _ = hpcevo_run("onemax", {"length": 20}, **E2E)
    assert [r["index"] for r in result["islands"]] == [0, 1, 2]
    for r in result["islands"]:
        assert [row["gen"] for row in r["rows"]] == list(range(7))
        assert r["rows"][0]["nevals"] == 16
        assert r["evaluations"] == sum(row["nevals"] for row in r["rows"])
        assert all(row["island"] == r["index"] for row in r["rows"])
    migrations = result["migrations"]
    # Three epochs, migration after the first two; "random" sends each island's migrants to one other island.
    assert [m["epoch"] for m in migrations] == [0, 0, 0, 1, 1, 1]
    for epoch in (0, 1):
        routes = [(m["src"], m["dst"]) for m in migrations if m["epoch"] == epoch]
        assert sorted(src for src, _ in routes) == [0, 1, 2]
        assert sorted(dst for _, dst in routes) == [0, 1, 2]
        assert all(src != dst for src, dst in routes)
    assert all(m["count"] == 2 for m in migrations)
    assert len(result["epoch_seconds"]) == 3


def test_serial_run_ring_migration_records():
    result, _ = hpcevo_run("onemax", {"length": 20}, **{**E2E, "topology": "ring", "emigration": "best"})
    routes = [(m["epoch"], m["src"], m["dst"]) for m in result["migrations"]]
    assert routes == [(0, 0, 1), (0, 1, 2), (0, 2, 0), (1, 0, 1), (1, 1, 2), (1, 2, 0)]
    for m in result["migrations"]:
        # With "best" emigration the record's best fitness is the sender's best at that epoch.
        rows = result["islands"][m["src"]]["rows"]
        gen = 2 * (m["epoch"] + 1)
        assert float(m["best_fitness"]) == rows[gen]["max"]


def test_serial_run_no_migrants():
    result, _ = hpcevo_run("onemax", {"length": 20}, **{**E2E, "migrants": 0})
    assert result["migrations"] == []


def test_progress_lines():
    _, text = hpcevo_run("onemax", {"length": 10}, islands=2, population=10, generations=5, migration_interval=2,
                         migrants=1, progress=True)
    lines = text.splitlines()
    assert [line.split()[1] for line in lines] == ["1/3", "2/3", "3/3"]
    assert all(line.startswith("epoch ") and " best " in line and " ETA " in line for line in lines)
    _, quiet = hpcevo_run("onemax", {"length": 10}, islands=2, population=10, generations=5, migration_interval=2)
    assert quiet == ""


def test_flaky_evaluations_penalized():
    result, _ = hpcevo_run("tests.support.factories:flaky", {"rate": 0.3, "length": 20}, on_error="penalize",
                           islands=2, population=20, generations=6, migration_interval=3, seed=5)
    rows = [row for r in result["islands"] for row in r["rows"]]
    assert len(rows) == 14
    assert any(row["failures"] > 0 for row in rows)
    assert all(0 <= row["failures"] <= row["nevals"] for row in rows)
    for r in result["islands"]:
        assert list(r["failures"]) == ["ZeroDivisionError"]
        assert "strategy divided by zero" in r["failures"]["ZeroDivisionError"]
        # Penalised individuals are left out of the statistics, which stay finite.
        assert all(np.isfinite(row["max"]) for row in r["rows"])


def test_flaky_evaluations_raise():
    # The problem check itself tolerates a failing sample (penalize); the run must then stop at the first failure.
    with pytest.raises(EvaluationError, match="ZeroDivisionError"):
        hpcevo_run("tests.support.factories:flaky", {"rate": 0.3, "length": 20}, on_error="raise",
                   check_on_error="penalize",
                   islands=2, population=20, generations=6, migration_interval=3, seed=5)
