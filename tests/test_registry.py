"""Tests for the plugin registries: built-in names, import strings and callables for emigration, replacement,
topology and algorithm, their messages, how config.toml records them, and an island's algorithm memory."""

import dataclasses
import pickle
import tomllib

import pytest

from examples import custom_step, custom_topology
from hpcevo.algorithms import step_simple
from hpcevo.comm import SerialBackend, World
from hpcevo.config import ALGORITHMS, load_config
from hpcevo.engine import resolve_topology, run_islands
from hpcevo.errors import ConfigError, ProblemError
from hpcevo.island import Island
from hpcevo.policies import replace_random, select_best, select_random
from hpcevo.problem import load_problem
from hpcevo.registry import ALGORITHM, EMIGRATION, PLUGINS, REPLACEMENT, TOPOLOGY, Registry
from hpcevo.rng import island_streams
from hpcevo.topology import ring


def take_last(population, k):
    """An emigration policy of the test's own: the last k residents."""
    return population[-k:]


def replace_first(population, k):
    """A replacement policy of the test's own: the first k slots."""
    return list(range(k))


def reversed_ring(n_islands, epoch, rng):
    return [((i + 1) % n_islands, i) for i in range(n_islands)] if n_islands > 1 else []


def counting_step(population, toolbox, params, clone, evaluate):
    """eaSimple's generation, counting generations in the island's memory."""
    params["memory"]["generations"] = params["memory"].get("generations", 0) + 1
    params["memory"].setdefault("sizes", []).append(len(population))
    return step_simple(population, toolbox, params, clone, evaluate)


def one_argument(population):
    return population


# (registry, a built-in name, its function, an import string, the function it names, a function of our own)
CASES = [
    (EMIGRATION, "best", select_best, "hpcevo.policies:select_random", select_random, take_last),
    (REPLACEMENT, "random", replace_random, f"{__name__}:replace_first", None, replace_first),
    (TOPOLOGY, "ring", ring, "examples.custom_topology:hypercube", custom_topology.hypercube, reversed_ring),
    (ALGORITHM, "simple", step_simple, "examples.custom_step:cma_es", custom_step.cma_es, counting_step),
]
IDS = [case[0].kind for case in CASES]


def test_registries_are_the_config_plugin_keys():
    assert list(PLUGINS) == ["emigration", "replacement", "topology", "algorithm"]
    assert all(PLUGINS[key] is registry for key, registry in zip(PLUGINS, (EMIGRATION, REPLACEMENT, TOPOLOGY,
                                                                             ALGORITHM)))
    assert ALGORITHMS == ALGORITHM.names == ("auto", "simple", "mu_plus_lambda", "nsga2")
    assert EMIGRATION.names == ("best", "random", "tournament")
    assert REPLACEMENT.names == ("worst", "random")
    assert TOPOLOGY.names == ("ring", "random", "complete", "none")
    assert repr(REPLACEMENT) == "Registry('replacement': worst, random)"


@pytest.mark.parametrize("registry, name, builtin, spec, imported, own", CASES, ids=IDS)
def test_resolve_name_import_string_and_callable(registry, name, builtin, spec, imported, own):
    assert registry.resolve(name) is builtin
    function = registry.resolve(spec)
    assert callable(function) and function.__name__ == spec.rpartition(":")[2]
    if imported is not None:
        assert function is imported
    assert registry.resolve(own) is own
    assert registry.resolve(print) is print  # no signature Python can read: taken as it is


@pytest.mark.parametrize("registry, name, builtin, spec, imported, own", CASES, ids=IDS)
def test_config_accepts_each_form(registry, name, builtin, spec, imported, own):
    key = registry.kind
    for value in (name, spec, own):
        assert getattr(load_config(None, {key: value}, override_kind="keyword"), key) is value
    assert getattr(load_config(None, {key: spec}), key) == spec  # a flag gives a string


@pytest.mark.parametrize("registry, name, builtin, spec, imported, own", CASES, ids=IDS)
def test_to_toml_records_module_and_qualname(tmp_path, registry, name, builtin, spec, imported, own):
    key = registry.kind
    config = load_config(None, {key: own}, override_kind="keyword")
    recorded = tomllib.loads(config.to_toml())[key]
    assert recorded == f"{own.__module__}:{own.__qualname__}" == registry.spec_of(own)
    assert registry.spec_of(builtin) == name  # a built-in passed as a function is recorded by its name
    assert tomllib.loads(load_config(None, {key: builtin}, override_kind="keyword").to_toml())[key] == name
    path = tmp_path / "config.toml"
    path.write_text(config.to_toml())
    again = load_config(path)
    assert getattr(again, key) == recorded
    assert registry.resolve(recorded).__qualname__ == own.__qualname__
    assert dataclasses.replace(again, **{key: own}) == config


@pytest.mark.parametrize("key, bad, suggestion", [
    ("emigration", "tournement", "tournament"),
    ("replacement", "wrost", "worst"),
    ("topology", "compleet", "complete"),
    ("algorithm", "simpel", "simple"),
])
def test_misspelt_name_lists_the_registry_and_suggests(key, bad, suggestion):
    with pytest.raises(ConfigError) as info:
        load_config(None, {key: bad}, override_kind="keyword")
    names = ", ".join(PLUGINS[key].names)
    assert str(info.value) == (f"keyword {key}: {key} = {bad!r} is not one of {names}, nor a custom "
                               f"'package.module:function'. Did you mean \"{suggestion}\"?")
    with pytest.raises(ConfigError, match=f"^flag --{key}: {key} = {bad!r} is not one of {names}, nor"):
        load_config(None, {key: bad})
    with pytest.raises(ConfigError, match=f"^{key} = {bad!r} is not one of {names}, nor .* Did you mean"):
        PLUGINS[key].resolve(bad)


def test_registry_is_the_only_list_of_names(monkeypatch):
    """A name added to a registry is accepted by config validation and listed in its messages: config has no
    list of its own."""
    for registry in PLUGINS.values():
        monkeypatch.setitem(registry._builtins, "extra", take_last)
        assert getattr(load_config(None, {registry.kind: "extra"}), registry.kind) == "extra"
        assert registry.resolve("extra") is take_last
        with pytest.raises(ConfigError, match=f"is not one of {', '.join(registry.names)}, nor"):
            load_config(None, {registry.kind: "qqqqqq"})
        assert registry.names[-1] == "extra"


@pytest.mark.parametrize("registry", PLUGINS.values(), ids=list(PLUGINS))
def test_bad_import_string_gets_import_objects_message(registry):
    load_config(None, {registry.kind: "no_such_module_xyz:f"})  # validated for form only: imported at start
    with pytest.raises(ProblemError, match=f"^{registry.kind} 'no_such_module_xyz:f': importing module "
                                           f"'no_such_module_xyz' failed with ModuleNotFoundError"):
        registry.resolve("no_such_module_xyz:f")
    with pytest.raises(ProblemError, match=f"^{registry.kind} 'hpcevo.policies:selct_best': module "
                                           f"'hpcevo.policies' has no attribute 'selct_best'. Did you mean "
                                           f"\"hpcevo.policies:select_best\"\\?"):
        registry.resolve("hpcevo.policies:selct_best")
    with pytest.raises(ProblemError, match="is not callable"):
        registry.resolve("hpcevo.policies:__all__")


@pytest.mark.parametrize("spec", ["pkg.mod:", ":func"])
def test_malformed_import_string(spec):
    with pytest.raises(ConfigError) as info:
        load_config(None, {"emigration": spec})
    assert str(info.value) == f"flag --emigration: emigration = {spec!r} must have the form 'package.module:function'."


def test_wrong_signature_is_refused_when_resolved():
    with pytest.raises(ConfigError) as info:
        ALGORITHM.resolve(one_argument)
    message = str(info.value)
    assert message.startswith(f"algorithm '{__name__}:one_argument' takes (population) (too many positional")
    assert message.endswith("but hpcevo calls it as step(population, toolbox, params, clone, evaluate) -> "
                            "(new_population, n_evaluations). Change its parameters to match.")
    with pytest.raises(ConfigError, match="topology 'hpcevo.policies:select_best' takes"):
        TOPOLOGY.resolve("hpcevo.policies:select_best")
    assert EMIGRATION.resolve(lambda population, k, tournsize=3: population[:k])  # extra defaults are fine


def test_auto_is_resolved_by_the_runner():
    with pytest.raises(ConfigError, match="algorithm = 'auto' is chosen when the run starts.*simple, "
                                          "mu_plus_lambda, nsga2 first"):
        ALGORITHM.resolve("auto")
    assert load_config(None, {"algorithm": "auto"}).algorithm == "auto"


def test_wrong_types():
    with pytest.raises(ConfigError) as info:
        load_config(None, {"topology": 3}, override_kind="keyword")
    assert str(info.value) == "keyword topology: topology must be a string or a function, got 3."
    with pytest.raises(ConfigError, match="^emigration must be a string or a function, got 3.$"):
        EMIGRATION.resolve(3)
    with pytest.raises(ConfigError, match="^here: replacement must be a string or a function, got b'x'.$"):
        REPLACEMENT.check(b"x", "here")
    with pytest.raises(ConfigError, match="checkpoint: algorithm must be a string, got <function"):
        load_config(base={"algorithm": counting_step})  # a file or checkpoint holds strings only


def test_keyword_messages_name_the_keyword():
    with pytest.raises(ConfigError) as info:
        load_config(None, {"population": 0}, override_kind="keyword")
    assert str(info.value) == "keyword population: population must be at least 1, got 0."
    with pytest.raises(ConfigError) as info:
        load_config(None, {"population": 0})
    assert str(info.value) == "flag --population: population must be at least 1, got 0."
    with pytest.raises(ConfigError) as info:
        load_config(None, {"migration_interval": "5"}, override_kind="keyword")
    assert str(info.value) == "keyword migration_interval: migration_interval must be an integer, got '5'."
    with pytest.raises(ConfigError) as info:
        load_config(None, {"popuation": 10}, override_kind="keyword")
    assert str(info.value) == "unknown setting 'popuation'. Did you mean \"population\"?"
    with pytest.raises(ValueError, match="override_kind"):
        load_config(None, {}, override_kind="argument")


def test_resolve_topology_delegates_to_the_registry():
    assert resolve_topology("ring") is TOPOLOGY.resolve("ring") is ring
    assert resolve_topology(reversed_ring) is reversed_ring
    assert resolve_topology("examples.custom_topology:hypercube") is custom_topology.hypercube


def test_a_registry_of_ones_own():
    registry = Registry("scorer", {"zero": lambda a, b: 0}, "score(a, b) -> number", 2)
    assert registry.names == ("zero",) and registry.resolve("zero")(1, 2) == 0
    with pytest.raises(ConfigError, match="^where: scorer = 'one' is not one of zero, nor a custom 'package.module:"
                                          "function'.$"):
        registry.check("one", "where")


# --- islands: plugins resolved once, memory in checkpoints -------------------------------------------------


def _island(config, problem, index=0):
    return Island(index, config, problem, island_streams(config.seed, index + 1)[index])


@pytest.fixture(scope="module")
def sphere():
    return load_problem("sphere", {"dimension": 4}, "simple")


def _evaluator(problem):
    return SerialBackend(World()).serving(problem, 8)


def test_island_resolves_each_plugin_once(sphere):
    config = load_config(None, {"problem": "sphere", "population": 10, "algorithm": counting_step,
                                "emigration": f"{__name__}:take_last", "replacement": replace_first},
                         override_kind="keyword")
    island = _island(config, sphere)
    assert (island.step, island.select_emigrants, island.choose_replaced) == (counting_step, take_last,
                                                                             replace_first)
    with _evaluator(sphere) as evaluator:
        island.start(evaluator)
        island.evolve(2, evaluator)
    assert island.params["memory"] == {"generations": 2, "sizes": [10, 10]}
    emigrants = island.emigrants(3)
    assert [list(e) for e in emigrants] == [list(i) for i in island.population[-3:]]
    assert all(e is not i for e, i in zip(emigrants, island.population[-3:]))  # cloned
    newcomers = [sphere.clone(ind) for ind in emigrants]
    island.receive(newcomers)
    assert all(island.population[slot] is ind for slot, ind in enumerate(newcomers))


@pytest.mark.parametrize("bad", [[0, 0], [0, 10], ["a", 1], [0]])
def test_island_refuses_a_bad_replacement_answer(sphere, bad):
    config = load_config(None, {"problem": "sphere", "population": 10, "algorithm": "simple",
                                "replacement": lambda population, k: bad}, override_kind="keyword")
    island = _island(config, sphere)
    with _evaluator(sphere) as evaluator:
        island.start(evaluator)
    with pytest.raises(ValueError, match=r"must return 2 distinct resident indices in 0\.\.9: replace\(population"):
        island.receive(island.emigrants(2))


def test_island_refuses_indices_as_emigrants(sphere):
    config = load_config(None, {"problem": "sphere", "population": 10, "algorithm": "simple",
                                "emigration": replace_first}, override_kind="keyword")
    island = _island(config, sphere)
    with _evaluator(sphere) as evaluator:
        island.start(evaluator)
    with pytest.raises(ValueError, match=rf"emigration {__name__}:replace_first returned \[0, 1\]; it must "
                                         r"return at most 2 individuals"):
        island.emigrants(2)


def test_memory_survives_state_and_restore(sphere):
    """CMA-ES keeps its strategy in memory: an island restored from a pickled state() continues exactly as the
    island that never stopped, and old checkpoints (no "memory") restore an empty one."""
    config = load_config(None, {"problem": "sphere", "population": 8, "algorithm": custom_step.cma_es, "seed": 5},
                         override_kind="keyword")
    straight, first = _island(config, sphere), _island(config, sphere)
    with _evaluator(sphere) as evaluator:
        straight.start(evaluator)
        straight.evolve(6, evaluator)
        first.start(evaluator)
        first.evolve(3, evaluator)
        state = pickle.loads(pickle.dumps(first.state()))
        first.evolve(1, evaluator)  # the state taken before is a snapshot, not the live memory
        assert state["memory"]["strategy"].update_count == 3
        resumed = _island(config, sphere)
        resumed.restore(state)
        resumed.evolve(3, evaluator)
    assert resumed.params["memory"]["strategy"].update_count == 6
    assert [ind.fitness.values for ind in resumed.population] == [ind.fitness.values for ind in straight.population]
    assert [list(ind) for ind in resumed.population] == [list(ind) for ind in straight.population]
    assert (resumed.params["memory"]["strategy"].centroid == straight.params["memory"]["strategy"].centroid).all()
    old = {key: value for key, value in state.items() if key != "memory"}
    legacy = _island(config, sphere)
    legacy.restore(old)
    assert legacy.params["memory"] == {}


def test_engine_runs_callables_for_all_four(sphere):
    config = load_config(None, {"problem": "sphere", "islands": 3, "population": 10, "generations": 4,
                                "migration_interval": 2, "migrants": 2, "progress": False, "topology": reversed_ring,
                                "emigration": take_last, "replacement": replace_first, "algorithm": counting_step},
                         override_kind="keyword")
    backend = SerialBackend(World())
    with backend.serving(sphere, config.chunksize) as evaluator:
        results = run_islands(config, sphere, backend, evaluator)
    assert [(m["src"], m["dst"]) for m in results["migrations"]] == [(0, 2), (1, 0), (2, 1)]
    assert [st["memory"]["generations"] for st in results["islands"]] == [4, 4, 4]
