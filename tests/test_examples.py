"""The examples run, so they never rot: each as a script and each factory or topology through the real CLI, some
under `mpiexec -n 2`, with the behaviour each one shows checked in its results."""

import ast
import csv
import json
import os
import pickle
import re
import shlex
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT, hpcevo, same_results
from deap import gp

from examples import custom_step, custom_topology, ga_toolbox, multi_objective, symbolic_regression, trading_own_csv
from hpcevo.cli import build_parser
from hpcevo.problem import import_object, load_problem
from hpcevo.rng import epoch_rng
from hpcevo.topology import check_routes
from hpcevo.trading.data import load_markets
from hpcevo.trading.reporting import COLUMNS as STRATEGY_COLUMNS

# What each script prints after its run, beyond hpcevo's own lines.
SCRIPTS = {
    "ga_toolbox": r"best packing: value \d+, bits \[[01, ]+\]",
    "symbolic_regression": r"mse \S+: y = .*x",
    "batch_rastrigin": r"best Rastrigin value \S+ \(0 is the optimum\)\n",
    "custom_topology": r"epoch 0: 0->1 1->0 2->3 3->2 4->5 5->4 6->7 7->6\nepoch 1: 0->2 ",
    "custom_step": r"CMA-ES on sphere: best \S+ at generation 0, \S+ at generation 12\n",
    "multi_objective": r"\d+ beams on the front \(all in run/front.csv\); [1-9]\d* infeasible beams rejected",
    "trading_own_csv": r"ALPHA +\S+ +\S+ +\S+%  buy_and_hold\nBETA +\S+ +\S+ +\S+%  buy_and_hold\n",
}
API_SCRIPTS = {"deap_onemax"}  # scripts that call hpcevo.evolve themselves: run by tests/test_api.py
TINY = ["--population", 12, "--generations", 4, "--migration-interval", 2, "--quiet"]


def _script(name, cwd, *args):
    """`python examples/NAME.py --quick --out run ARGS` from `cwd`, with no PYTHONPATH: the script sets it up."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    cmd = [sys.executable, str(ROOT / "examples" / f"{name}.py"), "--quick", "--out", "run", *args]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=cwd, env=env)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{shlex.join(cmd)} did not finish within 120s (hang?)\n{exc.stderr}")


def _hall_of_fame(out):
    return json.loads((out / "hall_of_fame.json").read_text())


def _dominates(a, b):
    """a dominates b, both minimised."""
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_script_runs_from_any_directory(tmp_path, name):
    run = _script(name, tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    command = run.stdout.splitlines()[0]
    assert command.startswith("$ ") and " -m hpcevo run " in command and command.endswith("--out run")
    assert re.search(SCRIPTS[name], run.stdout), run.stdout
    assert "results in run/" in run.stdout
    out = tmp_path / "run"
    assert json.loads((out / "summary.json").read_text())["status"] == "complete"
    assert _hall_of_fame(out)["individuals"]


@pytest.mark.slow
def test_script_on_two_ranks_gives_the_serial_results(tmp_path):
    (tmp_path / "serial").mkdir()
    (tmp_path / "mpi").mkdir()
    serial = _script("ga_toolbox", tmp_path / "serial")
    mpi = _script("ga_toolbox", tmp_path / "mpi", "--ranks", "2")
    assert serial.returncode == mpi.returncode == 0, mpi.stdout + mpi.stderr
    assert re.match(r"\$ \S*mpiexec -n 2 ", mpi.stdout)
    assert json.loads((tmp_path / "mpi" / "run" / "summary.json").read_text())["ranks"] == 2
    same_results(tmp_path / "serial" / "run", tmp_path / "mpi" / "run")


@pytest.mark.slow
def test_ga_toolbox_factory_through_the_cli(tmp_path):
    out = tmp_path / "r"
    run = hpcevo(["run", "--problem", "examples.ga_toolbox:make_toolbox", "-O", "items=30", "-O", "capacity_share=0.5",
                  "--islands", 3, *TINY, "--out", out], cwd=ROOT)
    assert run.returncode == 0, run.stderr
    toolbox = ga_toolbox.make_toolbox(items=30, capacity_share=0.5)
    entries = _hall_of_fame(out)["individuals"]
    assert len(entries) == 10 and [e["position"] for e in entries] == list(range(10))
    for entry in entries:
        bits = ast.literal_eval(entry["individual"])
        assert len(bits) == 30 and set(bits) <= {0, 1} and entry["island"] in (0, 1, 2)
        assert entry["fitness"] == list(toolbox.evaluate(bits))  # the knapsack's value, recomputed
    assert [e["fitness"] for e in entries] == sorted((e["fitness"] for e in entries), reverse=True)
    assert entries[0]["fitness"][0] > 0  # a feasible packing
    assert "items = 30" in (out / "config.toml").read_text()


@pytest.mark.slow
def test_ga_toolbox_refuses_an_unknown_option(tmp_path):
    run = hpcevo(["run", "--problem", "examples.ga_toolbox:make_toolbox", "-O", "item=30", *TINY,
                  "--out", tmp_path / "r"], cwd=ROOT)
    assert run.returncode == 2 and "refused its options" in run.stderr and "item" in run.stderr


def test_ga_toolbox_factory_is_repeatable():
    """Every rank must build the same items, and a second call must reuse the creator classes silently."""
    a, b = ga_toolbox.make_toolbox(), ga_toolbox.make_toolbox()
    assert a.evaluate.keywords == b.evaluate.keywords
    assert type(a.individual()) is type(b.individual())


@pytest.mark.slow
def test_symbolic_regression_same_results_serially_and_on_two_ranks(tmp_path):
    args = ["run", "--problem", "examples.symbolic_regression:make_toolbox", "-O", "points=12", "--islands", 4,
            "--population", 20, "--generations", 6, "--migration-interval", 2, "--topology", "complete", "--quiet"]
    serial = hpcevo(args + ["--out", tmp_path / "serial"], cwd=ROOT)
    mpi = hpcevo(args + ["--out", tmp_path / "n2"], ranks=2, cwd=ROOT)
    assert serial.returncode == mpi.returncode == 0, mpi.stderr
    same_results(tmp_path / "serial", tmp_path / "n2")  # trees with ephemeral constants crossed ranks
    entries = _hall_of_fame(tmp_path / "n2")["individuals"]
    formulas = [e["individual"] for e in entries]
    assert len(formulas) == len(set(formulas)) == 10
    assert all("x" in f and not re.search(r"\b(add|sub|mul|protected_div)\(", f) for f in formulas)
    assert [e["fitness"] for e in entries] == sorted(e["fitness"] for e in entries)


def test_symbolic_regression_describe_and_pickling():
    tree = gp.PrimitiveTree.from_string("add(mul(x, x), sin(protected_div(x, neg(x))))", symbolic_regression.PSET)
    assert symbolic_regression.infix(tree) == "(x * x) + sin(x / neg(x))"
    problem = load_problem("examples.symbolic_regression:make_toolbox", {"points": 8}, "simple")
    trees = problem.population(30)
    assert any(isinstance(type(node), gp.MetaEphemeral) for t in trees for node in t)
    copies = pickle.loads(pickle.dumps(trees))
    assert copies == trees and all(type(c) is type(t) for c, t in zip(copies, trees))


def test_hypercube_links():
    for n in range(1, 10):
        dimensions = max(1, (n - 1).bit_length())
        reached = {i: {i} for i in range(n)}  # islands whose genes can have reached island i
        for epoch in range(2 * dimensions):
            routes = custom_topology.hypercube(n, epoch, None)
            assert check_routes(routes, n) == sorted(routes)
            assert {(d, s) for s, d in routes} == set(routes)  # partners swap
            assert len({s for s, _ in routes}) == len(routes)  # one partner per island and epoch
            before = {i: set(r) for i, r in reached.items()}
            for src, dst in routes:
                reached[dst] |= before[src]
            if epoch == dimensions - 1 and n & (n - 1) == 0:  # a full hypercube: everyone after d epochs
                assert all(r == set(range(n)) for r in reached.values()), n
        assert all(r == set(range(n)) for r in reached.values()), n  # any count: after 2 d epochs
        assert custom_topology.hypercube(n, dimensions, None) == custom_topology.hypercube(n, 0, None)


@pytest.mark.slow
def test_custom_topology_routes_in_migrations_on_two_ranks(tmp_path):
    out, seed = tmp_path / "r", 3
    run = hpcevo(["run", "--problem", "onemax", "-O", "length=20", "--islands", 5, "--population", 10,
                  "--generations", 8, "--migration-interval", 2, "--migrants", 3, "--seed", seed, "--quiet",
                  "--topology", "examples.custom_topology:hypercube", "--out", out], ranks=2, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    with open(out / "migrations.csv", newline="") as fh:
        rows = [(int(r["epoch"]), int(r["src"]), int(r["dst"]), int(r["count"])) for r in csv.DictReader(fh)]
    expected = [(epoch, src, dst, 3) for epoch in range(3)  # 4 epochs; no migration after the last
                for src, dst in check_routes(custom_topology.hypercube(5, epoch, epoch_rng(seed, epoch)), 5)]
    assert rows == expected
    assert (0, 4) not in {(s, d) for e, s, d, _ in rows if e == 0}  # island 4 has no partner at epoch 0


def test_custom_topology_spec_resolves():
    assert import_object("examples.custom_topology:hypercube", "topology") is custom_topology.hypercube


CMA_ES = ["run", "--problem", "sphere", "-O", "dimension=5", "--islands", 3, "--population", 10, "--generations", 24,
          "--migration-interval", 4, "--algorithm", "examples.custom_step:cma_es", "--quiet"]


def _best_by_generation(out):
    with open(out / "logbook.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    best = {}
    for row in rows:
        best[int(row["gen"])] = min(best.get(int(row["gen"]), np.inf), float(row["min"]))
    return best


@pytest.mark.slow
def test_cma_es_step_improves_and_its_strategy_survives_a_resume(tmp_path):
    """CMA-ES through the CLI: it converges on the sphere (a strategy that did not adapt stays near its start),
    and a run stopped on 2 ranks and resumed serially gives the uninterrupted run's files: each island's
    strategy travelled in the checkpoint (params["memory"]) and draws from the island's numpy stream."""
    straight = hpcevo(CMA_ES + ["--out", tmp_path / "straight"], cwd=ROOT)
    assert straight.returncode == 0, straight.stderr
    best = _best_by_generation(tmp_path / "straight")
    assert sorted(best) == list(range(25))
    assert best[24] < best[0] / 50
    assert 'algorithm = "examples.custom_step:cma_es"' in (tmp_path / "straight" / "config.toml").read_text()
    stopped = hpcevo(CMA_ES + ["--out", tmp_path / "r", "--stop-after", 8], ranks=2, cwd=ROOT)
    assert stopped.returncode == 75, stopped.stderr
    resumed = hpcevo(["run", "--resume", tmp_path / "r"], cwd=ROOT)
    assert resumed.returncode == 0, resumed.stderr
    same_results(tmp_path / "straight", tmp_path / "r")


@pytest.mark.slow
def test_mu_comma_lambda_step_through_the_cli(tmp_path):
    out = tmp_path / "r"
    run = hpcevo(["run", "--problem", "rastrigin", "-O", "dimension=4", "--islands", 2, "--offspring", 24,
                  "--algorithm", "examples.custom_step:mu_comma_lambda", *TINY, "--out", out], cwd=ROOT)
    assert run.returncode == 0, run.stderr
    with open(out / "logbook.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 * 5
    assert all(0 < int(r["nevals"]) <= 24 for r in rows if r["gen"] != "0")  # lambda children, some reproduced
    assert 'algorithm = "examples.custom_step:mu_comma_lambda"' in (out / "config.toml").read_text()


@pytest.fixture
def rastrigin_population():
    problem = load_problem("rastrigin", {"dimension": 4}, "simple")
    population = problem.population(10)
    for ind in population:
        ind.fitness.values = problem.toolbox.evaluate(ind)
    return problem, population


def _evaluate_with(problem, calls):
    def evaluate(individuals):
        calls.append(len(individuals))
        for ind in individuals:
            ind.fitness.values = problem.toolbox.evaluate(ind)
    return evaluate


def test_mu_comma_lambda_never_keeps_a_parent(rastrigin_population):
    problem, parents = rastrigin_population
    before = [(list(ind), ind.fitness.values) for ind in parents]
    calls = []
    params = {"cxpb": 0.3, "mutpb": 0.3, "offspring": 30, "memory": {}}  # 40% of the children are reproduced
    population, nevals = custom_step.mu_comma_lambda(parents, problem.toolbox, params, problem.clone,
                                                     _evaluate_with(problem, calls))
    assert len(population) == 10 and calls == [nevals] and 0 < nevals < 30
    objects = {id(ind) for ind in parents} | {id(ind.fitness) for ind in parents}
    assert not any(id(ind) in objects or id(ind.fitness) in objects for ind in population)
    assert len({id(ind) for ind in population}) == 10  # a child selected twice is cloned
    assert all(ind.fitness.valid for ind in population)
    assert [(list(ind), ind.fitness.values) for ind in parents] == before  # the parents are left as they were
    with pytest.raises(ValueError, match="mu_comma_lambda needs offspring >= population"):
        custom_step.mu_comma_lambda(parents, problem.toolbox, {**params, "offspring": 9}, problem.clone,
                                    _evaluate_with(problem, []))


def test_cma_es_keeps_its_strategy_in_memory(rastrigin_population):
    problem, parents = rastrigin_population
    memory, calls = {}, []
    params = {"cxpb": 0.7, "mutpb": 0.2, "offspring": 10, "memory": memory}
    population, nevals = custom_step.cma_es(parents, problem.toolbox, params, problem.clone,
                                            _evaluate_with(problem, calls))
    strategy = memory["strategy"]
    assert (nevals, calls, strategy.lambda_, strategy.update_count) == (10, [10], 10, 1)
    assert type(population[0]) is type(parents[0]) and all(len(ind) == 4 for ind in population)
    assert memory["best"] == population[0].fitness.wvalues == max(ind.fitness.wvalues for ind in population)
    sampled_at = []  # the strategy's mean when each generation is sampled
    generate = strategy.generate
    strategy.generate = lambda make: (sampled_at.append(strategy.centroid.copy()), generate(make))[1]
    mean = strategy.centroid.copy()
    population, _ = custom_step.cma_es(population, problem.toolbox, params, problem.clone,
                                       _evaluate_with(problem, calls))
    assert memory["strategy"] is strategy and strategy.update_count == 2
    assert np.array_equal(sampled_at[0], mean)  # its own children only: the mean stays where the update put it
    immigrant = problem.clone(population[0])  # a better immigrant moves the mean to it
    immigrant[:] = [0.0] * 4
    immigrant.fitness.values = problem.toolbox.evaluate(immigrant)
    assert immigrant.fitness.wvalues > memory["best"]
    population[-1] = immigrant
    custom_step.cma_es(population, problem.toolbox, params, problem.clone, _evaluate_with(problem, calls))
    assert np.array_equal(sampled_at[1], np.zeros(4)) and not np.allclose(mean, 0.0)


@pytest.mark.slow
def test_multi_objective_front_on_two_ranks(tmp_path):
    out = tmp_path / "r"
    run = hpcevo(["run", "--problem", "examples.multi_objective:make_toolbox", "--islands", 4, "--population", 24,
                  "--generations", 6, "--migration-interval", 3, "--quiet", "--out", out], ranks=2, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert 'algorithm = "nsga2"' in (out / "config.toml").read_text()  # auto: two weights
    front = _hall_of_fame(out)
    assert front["weights"] == [-1.0, -1.0]
    points = [tuple(e["fitness"]) for e in front["individuals"]]
    assert len(points) >= 3
    assert not any(_dominates(a, b) for a in points for b in points)  # mutually non-dominated
    for mass, deflection in points:  # feasible designs only: none carries the penalty
        assert 0 < mass < 100 and 0 < deflection <= 5.0
    assert all(re.fullmatch(r"d=\d+\.\d\d mm, l=\d+\.\d mm", e["individual"]) for e in front["individuals"])
    with open(out / "front.csv", newline="") as fh:  # written by the example's report hook
        table = [tuple(map(float, row)) for row in list(csv.reader(fh))[1:]]
    assert [row[2:] for row in table] == sorted(points)
    with open(out / "logbook.csv", newline="") as fh:
        log = list(csv.DictReader(fh))
    assert sum(int(r["rejected"]) for r in log) > 0 and all(r["failures"] == "0" for r in log)
    assert not (out / "errors.txt").exists()  # rejections are not errors


def test_multi_objective_rejects_infeasible_beams():
    toolbox = multi_objective.make_toolbox()
    mass, deflection = toolbox.evaluate([40.0, 200.0])
    assert mass == pytest.approx(7.8e-6 * 3.141592653589793 * 400 * 200) and deflection < 5
    with pytest.raises(multi_objective.Rejected, match="stress"):
        toolbox.evaluate([10.0, 1000.0])
    assert all(p > v for p, v in zip(toolbox.penalty, (mass, deflection)))


def test_trading_prices_file_is_valid_and_deterministic(tmp_path):
    a = trading_own_csv.write_prices(tmp_path / "a.csv")
    b = trading_own_csv.write_prices(tmp_path / "b.csv")
    assert a.read_bytes() == b.read_bytes()
    assert a.read_text().splitlines()[0] == "date,symbol,open,high,low,close,volume"
    markets = load_markets(str(a))
    assert [(m.name, m.n_bars) for m in markets] == [("ALPHA", 2016), ("BETA", 2016)]


@pytest.mark.slow
def test_trading_own_csv_through_the_cli(tmp_path):
    prices = trading_own_csv.write_prices(tmp_path / "prices.csv")
    out = tmp_path / "r"
    run = hpcevo(["run", "--data", prices, "-O", "holdout_years=2", "-O", "cost_bps=5", "--islands", 2,
                  "--population", 12, "--generations", 2, "--migration-interval", 1, "--quiet", "--out", out])
    assert run.returncode == 0, run.stderr
    with open(out / "strategies.csv", newline="") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == list(STRATEGY_COLUMNS)
        rows = list(reader)
    # per instrument, then the equal-weight portfolio: buy and hold first, then S1, S2, ... in selection order
    markets = [r["market"] for r in rows]
    assert list(dict.fromkeys(markets)) == ["ALPHA", "BETA", "portfolio"]
    for market in ("ALPHA", "BETA", "portfolio"):
        mine = [r for r in rows if r["market"] == market]
        assert [r["id"] for r in mine] == ["BH"] + [f"S{i}" for i in range(1, len(mine))]
        assert mine[0]["expression"] == "buy_and_hold"
    dates = load_markets(str(prices))[0].dates  # the 2-year holdout: the bars after the same date minus 2 years
    cutoff = dates[-1] - np.timedelta64(730, "D")
    holdout = int((dates > cutoff).sum())
    assert [int(r["oos_bars"]) for r in rows] == [holdout] * len(rows) and holdout > 500


def test_examples_readme_table():
    """Every example is in the table, and each `python -m hpcevo` command in it parses and names real code."""
    text = (ROOT / "examples" / "README.md").read_text()
    names = sorted(p.stem for p in (ROOT / "examples").glob("*.py") if not p.stem.startswith("_"))
    assert names == sorted([*SCRIPTS, *API_SCRIPTS])
    for name in names:
        assert f"`python examples/{name}.py`" in text
    for name in API_SCRIPTS:
        assert f"`mpiexec -n 4 python examples/{name}.py`" in text
    assert "[`quickstart.ipynb`](quickstart.ipynb)" in text
    commands = re.findall(r"`mpiexec -n 4 (python -m hpcevo run [^`]+)`", text)
    assert len(commands) == len(SCRIPTS)
    for command in commands:
        args = build_parser().parse_args(shlex.split(command)[3:])
        for spec in (args.problem, args.topology, args.algorithm, args.emigration, args.replacement):
            if spec and ":" in spec:
                import_object(spec, "spec")
