"""toolbox.evaluate_batch: a generation's offspring in one call (per chunk on worker ranks), with the same
failure handling as evaluate, the same results as evaluate, and a clear refusal when the two disagree."""

import math

import pytest
from conftest import hpcevo, same_results

import hpcevo as api
from hpcevo.errors import ProblemError, Rejected
from hpcevo.evaluation import REJECTED, evaluate_many
from hpcevo.problem import Problem, load_problem
from tests.support import factories

F = "tests.support.factories"
SMALL = {"islands": 2, "population": 12, "generations": 5, "migration_interval": 2, "seed": 4, "progress": False}


def _problem(batch):
    toolbox = factories.plain_toolbox(6)
    toolbox.register("evaluate_batch", batch)
    return Problem("t", toolbox, (1.0,), None)


def _individuals(*ones):
    return [[1] * k + [0] * (6 - k) for k in ones]


def test_entries_that_are_exceptions_fail_alone():
    def batch(individuals):
        return [Rejected("too few") if sum(i) == 1 else ValueError("bad") if sum(i) == 2 else (float(sum(i)),)
                for i in individuals]

    results = evaluate_many(_problem(batch), _individuals(3, 1, 2, 4), "here")
    assert [values for values, _ in results] == [(3.0,), None, None, (4.0,)]
    assert (results[1][1].kind, results[1][1].message) == (REJECTED, "too few")
    assert (results[2][1].kind, results[2][1].message, results[2][1].where) == ("ValueError", "bad", "here")


@pytest.mark.parametrize("returned", ["raise", "short", "nan", "wrong length", "not numbers"])
def test_a_bad_batch_is_evaluated_again_or_fails_per_entry(returned):
    def batch(individuals):
        if returned == "raise":
            raise RuntimeError("the batch broke")
        if returned == "short":
            return [(1.0,)]
        if returned == "nan":
            return [(math.nan,)] + [(float(sum(i)),) for i in individuals[1:]]
        if returned == "wrong length":
            return [(1.0, 2.0)] + [(float(sum(i)),) for i in individuals[1:]]
        return ["x"] + [(float(sum(i)),) for i in individuals[1:]]

    results = evaluate_many(_problem(batch), _individuals(3, 5), "here")
    if returned in ("raise", "short"):  # evaluated one by one with evaluate (count_ones)
        assert results == [((3.0,), None), ((5.0,), None)]
    else:
        assert results[1] == ((5.0,), None) and results[0][0] is None
        kind = {"nan": "NonFinite", "wrong length": "WrongLength", "not numbers": "ValueError"}[returned]
        assert results[0][1].kind == kind


def test_a_batch_that_declines_is_evaluated_one_by_one_at_once():
    calls = []

    def batch(individuals):
        calls.append(len(individuals))
        return NotImplemented

    assert evaluate_many(_problem(batch), _individuals(3, 5), "here") == [((3.0,), None), ((5.0,), None)]
    assert calls == [2]  # asked once; nothing evaluated twice
    toolbox = factories.plain_toolbox(6)
    toolbox.register("evaluate_batch", batch)
    load_problem("mine", {}, "simple", source=toolbox)  # not compared with evaluate, as it is never used


def test_a_built_in_batch_steps_aside_for_an_evaluate_of_yours():
    """A wrapper registered as evaluate on a built-in toolbox (which has a batch) sees every evaluation."""
    from hpcevo.problems import rastrigin

    seen = []

    def make():
        toolbox = rastrigin(dimension=4)
        inner = toolbox.evaluate
        toolbox.register("evaluate", lambda ind: seen.append(1) or inner(ind))
        return toolbox

    result = api.evolve(make, **SMALL)
    plain = api.evolve(lambda: rastrigin(dimension=4), **SMALL)
    assert len(seen) == result.summary["evaluations"] + 1  # + the fresh individual checked when it loads
    assert result.logbook.to_csv() == plain.logbook.to_csv()
    assert rastrigin(dimension=4).evaluate_batch([[0.0] * 4]) == [(0.0,)]


def test_without_a_batch_evaluate_is_called_per_individual():
    problem = Problem("t", factories.plain_toolbox(6), (1.0,), None)
    assert evaluate_many(problem, _individuals(2, 0), "x") == [((2.0,), None), ((0.0,), None)]


@pytest.mark.parametrize("batch, fragment", [
    (lambda inds: [(99.0,)], "evaluate_batch([ind]) returned [(99.0,)] but evaluate(ind) returned"),
    (lambda inds: [], "evaluate_batch([ind]) returned [] but evaluate(ind)"),
    (lambda inds: 1 / 0, "evaluate_batch raised ZeroDivisionError: division by zero on a list of one fresh"),
    (42, "toolbox.evaluate_batch is a int, not a function of a list of individuals"),
])
def test_a_batch_that_disagrees_with_evaluate_is_refused(batch, fragment):
    toolbox = factories.plain_toolbox(6)
    toolbox.evaluate_batch = batch
    with pytest.raises(ProblemError) as refused:
        load_problem("mine", {}, "simple", source=toolbox)
    assert fragment in str(refused.value)


def test_one_call_per_generation_and_the_results_of_evaluate(tmp_path):
    factories.BATCH_CALLS.clear()
    batched = api.evolve(factories.batched(), out=tmp_path / "batch", **SMALL)
    # one call per island for the first population, then one per island per generation
    assert factories.BATCH_CALLS[0] == 1  # the load-time check on one individual
    assert factories.BATCH_CALLS[1:3] == [12, 12] and len(factories.BATCH_CALLS) == 1 + 2 * (1 + 5)
    assert sum(factories.BATCH_CALLS[1:]) == batched.summary["evaluations"]
    plain = api.evolve(factories.plain_toolbox(), out=tmp_path / "plain", **SMALL)
    same_results(tmp_path / "plain", tmp_path / "batch")
    assert batched.summary["evaluations"] == plain.summary["evaluations"]


@pytest.mark.parametrize("mode", ["entries", "raise"])
def test_failures_in_a_batch_are_penalised_one_by_one(tmp_path, mode):
    """Individuals with a multiple of 5 ones fail: penalised and counted as failures, the others keep their
    fitness, whether the batch returns the exceptions or raises (then evaluate runs one by one)."""
    settings = {**SMALL, "on_error": "penalize"}
    api.evolve(factories.batched(fail_every=5, mode=mode), out=tmp_path / mode, **settings)
    reference = tmp_path / "one-by-one"
    toolbox = factories.plain_toolbox()
    toolbox.register("evaluate", factories._batched_one, fail_every=5)
    api.evolve(toolbox, out=reference, **settings)
    same_results(reference, tmp_path / mode)
    rows = (tmp_path / mode / "logbook.csv").read_text().splitlines()
    assert sum(int(r.split(",")[-2]) for r in rows[1:]) > 0  # some failures were counted
    assert "ValueError" in (tmp_path / mode / "errors.txt").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("ranks, rpi", [(3, 3), (4, 2)])
def test_batches_on_worker_ranks_give_the_serial_files(tmp_path, ranks, rpi):
    """Chunks of a generation go to the group's worker ranks; the files equal the serial evaluate-only run's."""
    args = ["--islands", 2, "--population", 16, "--generations", 6, "--migration-interval", 2, "--seed", 9,
            "--quiet", "--chunksize", 3]
    serial = tmp_path / "serial"
    assert hpcevo(["--problem", "examples.batch_rastrigin:make_toolbox", "-O", "dimension=8", "-O", "batch=false",
                   *args, "--out", serial]).returncode == 0
    out = tmp_path / "mpi"
    run = hpcevo(["--problem", "examples.batch_rastrigin:make_toolbox", "-O", "dimension=8", *args,
                  "--ranks-per-island", rpi, "--out", out], ranks=ranks, timeout=90)
    assert run.returncode == 0, run.stderr
    same_results(serial, out)
