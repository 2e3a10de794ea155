"""Tests for loading problems: built-in names, 'module:factory' specs, every check and its message, clones."""

import copy
import functools
import inspect
import math
import operator
import random

import numpy as np
import pytest
from deap import base, creator, gp, tools

from hpcevo.errors import ProblemError, UserError
from hpcevo.problem import (
    Problem,
    check_algorithm,
    factory_options,
    import_object,
    load_problem,
    make_clone,
    resolved_options,
)
from hpcevo.problems import BUILTIN
from hpcevo.problems.common import creator_class

F = "tests.support.factories"


def problem_error(name, options=None, algorithm="simple", on_error="raise"):
    with pytest.raises(ProblemError) as info:
        load_problem(name, options or {}, algorithm, on_error)
    return str(info.value)


def test_problem_error_is_user_error():
    assert issubclass(ProblemError, UserError) and ProblemError.exit_status == 2


# --- factories that must fail ------------------------------------------------------------------------


def test_missing_entries():
    message = problem_error(f"{F}:missing_entries")
    assert message.startswith(f"problem '{F}:missing_entries': the toolbox returned by the factory lacks mate, select.")
    assert "toolbox.register" in message
    # nsga2 selects by itself, so only mate is missing there.
    message = problem_error(f"{F}:missing_entries", algorithm="nsga2")
    assert "lacks mate." in message


def test_wrong_length():
    message = problem_error(f"{F}:wrong_length")
    assert f"problem '{F}:wrong_length'" in message
    assert "evaluate returned 2 value(s) (1.0, 2.0) but the fitness has 1 weight(s)" in message


def test_raising_factory():
    message = problem_error(f"{F}:raising_factory")
    assert message.startswith(f"problem factory '{F}:raising_factory' raised RuntimeError: "
                              "cannot reach the licence server")
    assert "factories.py line " in message and "in raising_factory" in message


def test_unpicklable_individual():
    message = problem_error(f"{F}:unpicklable_individual")
    assert f"problem '{F}:unpicklable_individual': an individual does not pickle" in message
    assert "lambda" in message


def test_missing_module():
    message = problem_error("no_such_pkg_hpcevo_test.mod:factory")
    assert "problem factory 'no_such_pkg_hpcevo_test.mod:factory'" in message
    assert "importing module 'no_such_pkg_hpcevo_test.mod' failed with ModuleNotFoundError" in message
    assert "PYTHONPATH" in message


def test_missing_attribute():
    message = problem_error(f"{F}:no_such_factory")
    assert message == (f"problem factory '{F}:no_such_factory': module '{F}' has no attribute 'no_such_factory'. "
                       f'Did you mean "{F}:raising_factory"?')


def test_not_callable_and_malformed_specs():
    assert problem_error(f"{F}:os") == (f"problem factory '{F}:os' is not callable (its value has type module): "
                                        f"name a function or a deap.base.Toolbox.")
    assert "must have the form 'package.module:function'" in problem_error(f"{F}:")
    assert "must have the form 'package.module:function'" in problem_error(":plain_toolbox")


def test_bad_builtin_name_suggests():
    message = problem_error("rastrign")
    assert message.startswith("problem 'rastrign' is not a built-in problem (")
    assert 'Did you mean "rastrigin"?' in message
    assert all(name in message for name in BUILTIN)
    message = problem_error("qqqqqqqq")
    assert "Did you mean" not in message


@pytest.mark.parametrize("name, options, fragment", [
    ("rastrigin", {"dimension": 0}, "dimension must be an integer >= 1, got 0"),
    ("rastrigin", {"dimension": 2.5}, "dimension must be an integer >= 1, got 2.5"),
    ("rastrigin", {"dimensions": 5}, "dimensions"),
    ("onemax", {"indpb": 1.5}, "indpb must be a number in [0, 1], got 1.5"),
    ("zdt1", {"dimension": 1}, "dimension must be an integer >= 2, got 1"),
    (f"{F}:plain_toolbox", {"size": 3}, "size"),
])
def test_bad_options(name, options, fragment):
    message = problem_error(name, options)
    assert message.startswith(f"problem '{name}' refused its options {options}: ")
    assert fragment in message
    assert "[problem_options]" in message


def _no_fitness():
    tb = base.Toolbox()
    tb.register("individual", list, [1, 2, 3])
    tb.register("evaluate", lambda ind: (1.0,))
    tb.register("mate", tools.cxTwoPoint)
    tb.register("mutate", tools.mutFlipBit, indpb=0.1)
    tb.register("select", tools.selTournament, tournsize=2)
    return tb


def _individual_raises():
    from tests.support.factories import plain_toolbox

    tb = plain_toolbox()
    tb.register("individual", _boom)
    tb.unregister("population")
    return tb


def _evaluate_raises():
    from tests.support.factories import plain_toolbox

    tb = plain_toolbox()
    tb.register("evaluate", _boom)
    return tb


def _boom(*args):
    raise ArithmeticError("no individual today")


@pytest.fixture
def builtin(monkeypatch):
    """Register extra factories under built-in names for the duration of a test."""
    def add(name, factory):
        monkeypatch.setitem(BUILTIN, name, (factory, "test factory"))
        return name
    return add


def test_individual_without_fitness(builtin):
    message = problem_error(builtin("nofit_test", _no_fitness))
    assert message.startswith("problem 'nofit_test': individuals need a `fitness` attribute")


def test_individual_creation_fails(builtin):
    message = problem_error(builtin("noind_test", _individual_raises))
    assert message == "problem 'noind_test': making an individual failed with ArithmeticError: no individual today."


def test_evaluate_raising_on_sample(builtin):
    name = builtin("badeval_test", _evaluate_raises)
    message = problem_error(name, on_error="raise")
    assert message.startswith("problem 'badeval_test': evaluate raised ArithmeticError: no individual today")
    assert 'on_error = "penalize"' in message
    # Under penalize, failing evaluations are expected: the problem loads.
    assert load_problem(name, {}, "simple", "penalize").weights == (1.0,)


def test_unknown_lacks_individual(builtin):
    def factory():
        from tests.support.factories import plain_toolbox

        tb = plain_toolbox()
        tb.unregister("individual")
        tb.unregister("population")
        tb.unregister("evaluate")
        return tb

    message = problem_error(builtin("noindividual_test", factory))
    assert "lacks individual (or population), evaluate." in message


def test_import_object():
    from tests.support import factories

    assert import_object(f"{F}:plain_toolbox", "thing") is factories.plain_toolbox
    assert import_object("hpcevo.problems:BUILTIN.copy", "thing") == BUILTIN.copy
    with pytest.raises(ProblemError, match=r"^thing 'x' must have the form"):
        import_object("x", "thing")


# --- factories that load -------------------------------------------------------------------------------



def test_plain_toolbox_loads():
    problem = load_problem(f"{F}:plain_toolbox", {"length": 12}, "simple")
    assert isinstance(problem, Problem)
    assert problem.name == f"{F}:plain_toolbox"
    assert problem.weights == (1.0,)
    assert problem.n_objectives == 1
    assert problem.penalty == (-math.inf,)
    pop = problem.population(4)
    assert len(pop) == 4 and all(len(ind) == 12 for ind in pop)
    assert all(type(ind) is creator.TestIndividual for ind in pop)


def test_plain_toolbox_clone_is_equal_and_independent():
    problem = load_problem(f"{F}:plain_toolbox", {}, "simple")
    random.seed(4)
    original = problem.toolbox.individual()
    original.fitness.values = problem.toolbox.evaluate(original)
    original.tag = "island 3"
    snapshot = (list(original), original.fitness.values)
    clone = problem.clone(original)
    assert clone == original and clone is not original
    assert type(clone) is type(original)
    assert clone.fitness.valid and clone.fitness.values == original.fitness.values
    assert clone.fitness is not original.fitness
    assert clone.fitness == original.fitness
    assert clone.tag == "island 3"
    clone[0] = 1 - clone[0]
    clone.append(1)
    del clone.fitness.values
    assert (list(original), original.fitness.values) == snapshot
    assert original.fitness.valid
    # Cloning an unevaluated individual gives an unevaluated copy.
    fresh = problem.toolbox.individual()
    assert not problem.clone(fresh).fitness.valid


def test_load_problem_leaves_global_random_alone():
    random.seed(77)
    np.random.seed(77)
    expected = random.Random(77).random()
    load_problem("onemax", {"length": 8}, "simple")
    assert random.random() == expected


def test_load_problem_twice():
    a = load_problem(f"{F}:plain_toolbox", {}, "simple")
    b = load_problem(f"{F}:plain_toolbox", {}, "simple")
    assert a.weights == b.weights and a.clone is b.clone


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_builtins_load(name):
    algorithm = "nsga2" if name in ("zdt1", "trading") else "simple"
    options = {"onemax": {"length": 10}, "trading": {"folds": 2}}.get(name, {"dimension": 3})
    problem = load_problem(name, options, algorithm, on_error="penalize")
    expected = {"onemax": (1.0,), "zdt1": (-1.0, -1.0), "trading": (1.0, 1.0)}.get(name, (-1.0,))
    assert problem.weights == expected
    if name == "trading":  # finite, so NSGA-II's crowding distance never subtracts infinities
        assert problem.penalty == (-10.0, -10.0)  # Sharpe, information ratio
    else:
        assert problem.penalty == tuple(-math.inf if w > 0 else math.inf for w in expected)


def test_custom_penalty(builtin):
    def factory():
        from tests.support.factories import plain_toolbox

        tb = plain_toolbox()
        tb.penalty = (-1, )
        return tb

    assert load_problem(builtin("penalty_test", factory), {}, "simple").penalty == (-1.0,)


def test_flaky_loads_under_both_policies():
    # rate 0 never fails; the check passes under either policy.
    assert load_problem(f"{F}:flaky", {"rate": 0.0}, "simple", "raise").weights == (1.0,)
    assert load_problem(f"{F}:flaky", {"rate": 1.0}, "simple", "penalize").weights == (1.0,)
    assert "ZeroDivisionError" in problem_error(f"{F}:flaky", {"rate": 1.0}, on_error="raise")


# --- make_clone ------------------------------------------------------------------------------------------

_Fit = creator_class("LoadTestFitMin", base.Fitness, weights=(-1.0,))
_ListInd = creator_class("LoadTestListInd", list, fitness=_Fit)
_DictInd = creator_class("LoadTestDictInd", dict, fitness=_Fit)


def test_make_clone_choices():
    tb = base.Toolbox()
    fast = make_clone(tb, _ListInd([1.0, 2.0]))
    assert fast is not copy.deepcopy
    nested = _ListInd([[1.0], [2.0]])  # mutable genes: a shallow copy would share them
    assert make_clone(tb, nested) is copy.deepcopy
    assert make_clone(tb, _DictInd(a=1)) is copy.deepcopy

    def my_clone(ind):
        return ind

    tb.register("clone", my_clone)
    assert make_clone(tb, _ListInd([1.0])).func is my_clone


def test_deepcopy_clone_of_nested_genes_is_independent():
    tb = base.Toolbox()
    nested = _ListInd([[1.0], [2.0]])
    nested.fitness.values = (3.0,)
    clone = make_clone(tb, nested)(nested)
    clone[0].append(5.0)
    assert nested[0] == [1.0]
    assert clone.fitness.values == (3.0,)


# --- a GP factory, loaded more than once in one process ----------------------------------------------------


def small_int():
    """Ephemeral constant generator (module level, so trees pickle)."""
    return random.randint(-9, 9)


def tree_size(tree):
    return (float(len(tree)),)


def gp_factory():
    """A typical GP factory: it builds its primitive set (with an ephemeral constant) on every call.
    With no arguments, every terminal is an ephemeral, so every tree holds one."""
    pset = gp.PrimitiveSet("MAIN", 0)
    pset.addPrimitive(operator.add, 2)
    pset.addPrimitive(operator.mul, 2)
    pset.addEphemeralConstant("hpcevo_test_problem_load_const", small_int)
    fitness = creator_class("LoadTestTreeFitMin", base.Fitness, weights=(-1.0,))
    tree = creator_class("LoadTestTree", gp.PrimitiveTree, fitness=fitness)
    tb = base.Toolbox()
    tb.register("expr", gp.genHalfAndHalf, pset=pset, min_=1, max_=3)
    tb.register("individual", tools.initIterate, tree, tb.expr)
    tb.register("evaluate", tree_size)
    tb.register("mate", gp.cxOnePoint)
    tb.register("expr_mut", gp.genFull, min_=0, max_=2)
    tb.register("mutate", gp.mutUniform, expr=tb.expr_mut, pset=pset)
    tb.register("select", tools.selTournament, tournsize=3)
    return tb


def test_gp_factory_loads_twice(builtin):
    """Running a GP factory again (a second run in the same process, a notebook, a test suite) makes a
    second ephemeral class with the same name; the pickle check must still pass for the new toolbox."""
    name = builtin("gp_twice_test", gp_factory)
    first = load_problem(name, {}, "simple")
    assert first.weights == (-1.0,)
    second = load_problem(name, {}, "simple")
    assert second.weights == (-1.0,)


def test_rejected_sample_is_not_a_problem_error():
    """The check evaluates one sample; evaluate rejecting it (hpcevo.errors.Rejected) is a valid answer."""
    problem = load_problem("tests.support.factories:picky", {"length": 10, "minimum": 11}, "simple", on_error="raise")
    assert problem.weights == (1.0,)


# --- the options a run uses ----------------------------------------------------------------------------


def test_resolved_options_of_a_builtin():
    assert resolved_options("rastrigin", {}) == {"dimension": 30}
    assert resolved_options("rastrigin", {"dimension": 4}) == {"dimension": 4}
    assert resolved_options("onemax", {"indpb": 0.1}) == {"length": 100, "indpb": 0.1}


def test_resolved_options_of_the_trading_problem():
    """The lazy `trading` wrapper takes **options; its `options_of` names the factory whose defaults count."""
    from hpcevo.trading.problem import trading

    resolved = resolved_options("trading", {"folds": 2, "data": "prices.csv"})
    assert resolved["data"] == "prices.csv" and resolved["folds"] == 2
    assert {k: resolved[k] for k in ("objectives", "holdout_years", "fill", "long_short", "max_height")} == {
        "objectives": "default", "holdout_years": 4.0, "fill": "close", "long_short": False, "max_height": 8}
    assert list(resolved) == list(inspect.signature(trading).parameters)
    assert resolved_options("trading", {}) == dict(factory_options(trading))


def test_resolved_options_of_a_user_factory():
    assert resolved_options(f"{F}:flaky", {"rate": 0.5}) == {"rate": 0.5, "length": 30}
    assert resolved_options(f"{F}:plain_toolbox", {}) == {"length": 20}
    assert resolved_options(f"{F}:missing_entries", {}) == {}  # takes no options


def _odd_defaults(size, scale=1.5, *args, name="x", table=None, shape=(2, 3), flag=True, **kwargs):
    return None


def test_resolved_options_keep_only_toml_writable_defaults():
    """No default (size), None, a tuple: not written; *args and **kwargs are not options."""
    assert factory_options(_odd_defaults) == [("size", inspect.Parameter.empty), ("scale", 1.5), ("name", "x"),
                                              ("table", None), ("shape", (2, 3)), ("flag", True)]
    assert resolved_options(_odd_defaults, {"size": 3}) == {"scale": 1.5, "name": "x", "flag": True, "size": 3}


class _Unsignable:
    __signature__ = "not a signature"  # inspect.signature raises TypeError

    def __call__(self, **options):
        return None


def test_resolved_options_without_a_signature():
    """A factory that is not found, a toolbox object, a callable without an inspectable signature: as given."""
    options = {"dimension": 3}
    assert resolved_options("no_such_problem", options) == options
    assert resolved_options(f"{F}:no_such_factory", options) == options
    assert resolved_options(base.Toolbox(), options) == options
    assert resolved_options(_Unsignable(), options) == options
    result = resolved_options("no_such_problem", options)
    assert result == options and result is not options


# --- a multi-objective problem needs a multi-objective selection -----------------------------------------


def _zdt1_problem(select=None, *args, **kwargs):
    toolbox = BUILTIN["zdt1"][0](dimension=4)
    if select is not None:
        toolbox.register("select", select, *args, **kwargs)
    return Problem("zdt1", toolbox, (-1.0, -1.0), None)


@pytest.mark.parametrize("algorithm", ["simple", "mu_plus_lambda"])
@pytest.mark.parametrize("select, kwargs", [
    (tools.selTournament, {"tournsize": 3}), (tools.selBest, {}), (tools.selWorst, {}), (tools.selRoulette, {}),
    (tools.selStochasticUniversalSampling, {}),
    (tools.selDoubleTournament, {"fitness_size": 3, "parsimony_size": 1.4, "fitness_first": True}),
])
def test_single_objective_selection_is_refused_for_several_objectives(algorithm, select, kwargs):
    with pytest.raises(ProblemError) as info:
        check_algorithm(_zdt1_problem(select, **kwargs), algorithm)
    message = str(info.value)
    assert message.startswith(f"problem 'zdt1' has 2 objectives, but algorithm {algorithm!r} selects with "
                              f"toolbox.select = tools.{select.__name__}, a single-objective selection")
    assert "lexicographically, so the first objective decides and the others are ignored" in message
    assert "`--algorithm nsga2`" in message and '"auto"' in message
    assert 'toolbox.register("select", tools.selNSGA2)' in message and "mu_plus_lambda" in message
    assert "\n" not in message


@pytest.mark.parametrize("select, kwargs", [
    (None, {}),  # zdt1's own: selNSGA2
    (tools.selNSGA2, {}), (tools.selSPEA2, {}), (tools.selTournamentDCD, {}),
    (tools.selNSGA3, {"ref_points": tools.uniform_reference_points(2, 4)}),
])
@pytest.mark.parametrize("algorithm", ["simple", "mu_plus_lambda"])
def test_multi_objective_selection_is_allowed(select, kwargs, algorithm):
    check_algorithm(_zdt1_problem(select, **kwargs), algorithm)


def test_what_check_algorithm_leaves_alone():
    """nsga2 and custom steps select by themselves; one objective is fine with any selection; a user's own
    select function is trusted; a partial of a partial is unwrapped."""
    tournament = _zdt1_problem(tools.selTournament, tournsize=3)
    check_algorithm(tournament, "nsga2")
    check_algorithm(tournament, "mypkg.steps:step")
    check_algorithm(load_problem("onemax", {"length": 10}, "simple"), "simple")
    check_algorithm(_zdt1_problem(lambda individuals, k: individuals[:k]), "mu_plus_lambda")
    nested = _zdt1_problem()
    nested.toolbox.register("select", functools.partial(tools.selBest, fit_attr="fitness"))
    with pytest.raises(ProblemError, match="tools.selBest"):
        check_algorithm(nested, "simple")


def test_check_algorithm_against_a_loaded_problem():
    problem = load_problem(f"{F}:plain_toolbox", {}, "simple")
    check_algorithm(problem, "simple")
    problem = load_problem("zdt1", {"dimension": 4}, "mu_plus_lambda")
    problem.toolbox.register("select", tools.selTournament, tournsize=2)
    with pytest.raises(ProblemError, match="has 2 objectives"):
        check_algorithm(problem, "mu_plus_lambda")
