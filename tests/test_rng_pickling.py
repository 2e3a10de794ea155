"""Tests for per-island random streams and for pickling DEAP's dynamic classes by name."""

import operator
import pickle
import random

import numpy as np
import pytest
from deap import base, creator, gp, tools

import hpcevo.pickling  # noqa: F401  (installs the by-name reducers)
from hpcevo.problems.common import creator_class
from hpcevo.rng import IslandRandom, epoch_rng, island_streams


def draws(stream, n=5):
    with stream.active():
        return [random.random() for _ in range(n)] + list(np.random.random(n))


# --- island streams --------------------------------------------------------------------------------


def test_island_streams_count_and_type():
    streams = island_streams(3, 4)
    assert len(streams) == 4
    assert all(isinstance(s, IslandRandom) for s in streams)
    assert island_streams(3, 0) == []


def test_stream_does_not_depend_on_number_of_islands():
    reference = [draws(s) for s in island_streams(42, 8)]
    for n in (1, 2, 5, 8):
        assert [draws(s) for s in island_streams(42, n)] == reference[:n]


def test_stream_does_not_depend_on_interleaving():
    sequential = []
    for stream in island_streams(9, 3):
        sequential.append([draws(stream, 2) for _ in range(4)])
    streams = island_streams(9, 3)
    interleaved = [[], [], []]
    for round_ in range(4):
        for i in (2, 0, 1) if round_ % 2 else (1, 2, 0):
            interleaved[i].append(draws(streams[i], 2))
    assert interleaved == sequential


def test_stream_continues_across_blocks():
    one = island_streams(5, 1)[0]
    with one.active():
        together = [random.random() for _ in range(6)]
    two = island_streams(5, 1)[0]
    with two.active():
        first = [random.random() for _ in range(3)]
    with two.active():
        second = [random.random() for _ in range(3)]
    assert first + second == together


def test_stream_does_not_depend_on_global_state():
    random.seed(1)
    np.random.seed(1)
    a = draws(island_streams(77, 2)[1])
    random.seed(2)
    np.random.seed(2)
    random.random()
    b = draws(island_streams(77, 2)[1])
    assert a == b


def test_streams_differ_between_islands_and_seeds():
    s = [draws(x) for x in island_streams(1, 4)]
    assert len({tuple(x) for x in s}) == 4
    assert draws(island_streams(2, 1)[0]) != s[0]
    # The python and numpy draws of one island are not copies of each other either.
    with island_streams(1, 1)[0].active():
        assert random.random() != np.random.random()


def test_active_restores_caller_state():
    random.seed(1234)
    np.random.seed(4321)
    py_before, np_before = random.getstate(), np.random.get_state()
    stream = island_streams(0, 1)[0]
    with stream.active():
        random.random()
        np.random.random(3)
        random.seed(99)  # even reseeding inside does not leak out
    assert random.getstate() == py_before
    np_after = np.random.get_state()
    assert np_after[0] == np_before[0] and (np_after[1] == np_before[1]).all() and np_after[2:] == np_before[2:]
    # ... and the caller's sequence continues as if nothing happened.
    expected = random.Random()
    expected.setstate(py_before)
    assert random.random() == expected.random()


def test_active_restores_on_exception():
    random.seed(5)
    before = random.getstate()
    stream = island_streams(0, 1)[0]
    with pytest.raises(KeyError):
        with stream.active():
            random.random()
            raise KeyError("boom")
    assert random.getstate() == before
    # The island's stream was saved too: it continues after the one draw made before the error.
    fresh = island_streams(0, 1)[0]
    with fresh.active():
        random.random()
        expected = random.random()
    with stream.active():
        assert random.random() == expected


def test_epoch_rng_deterministic():
    a = [epoch_rng(3, e).random() for e in range(10)]
    b = [epoch_rng(3, e).random() for e in range(10)]
    assert a == b
    assert len(set(a)) == 10                                    # epochs differ
    assert [epoch_rng(4, e).random() for e in range(10)] != a   # seeds differ
    assert isinstance(epoch_rng(3, 0), random.Random)
    random.seed(0)
    x = epoch_rng(3, 2).random()
    random.seed(1)
    assert epoch_rng(3, 2).random() == x                        # global state plays no part


def test_epoch_rng_separate_from_island_streams():
    # Topology streams must not replay an island's stream.
    island = island_streams(6, 1)[0]
    with island.active():
        island_draw = random.random()
    assert all(epoch_rng(6, e).random() != island_draw for e in range(5))


# --- creator classes survive pickling ------------------------------------------------------------------

FitMax = creator_class("PickleTestFitMax", base.Fitness, weights=(1.0,))
Ind = creator_class("PickleTestIndividual", list, fitness=FitMax)


def test_creator_individual_round_trip_keeps_class():
    original = Ind([1, 2, 3])
    original.fitness.values = (6.0,)
    original.note = "x"
    cls_before = creator.PickleTestIndividual
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        copy = pickle.loads(pickle.dumps(original, protocol=protocol))
        assert type(copy) is type(original)
        assert isinstance(copy, creator.PickleTestIndividual)
        assert type(copy.fitness) is type(original.fitness)
        assert copy == original
        assert copy.fitness.values == (6.0,)
        assert copy.note == "x"
    # Repeated round trips (of copies of copies) leave deap.creator alone.
    item = original
    for _ in range(5):
        item = pickle.loads(pickle.dumps(item))
    assert creator.PickleTestIndividual is cls_before
    assert creator.PickleTestFitMax is FitMax
    assert type(item) is cls_before


def test_creator_class_pickles_to_itself():
    assert pickle.loads(pickle.dumps(Ind)) is Ind
    assert pickle.loads(pickle.dumps(FitMax)) is FitMax


def test_many_individuals_in_one_message():
    population = [Ind([i, i + 1]) for i in range(20)]
    for i, ind in enumerate(population):
        ind.fitness.values = (float(i),)
    copies = pickle.loads(pickle.dumps(population))
    assert copies == population
    assert all(type(c) is Ind for c in copies)
    assert [c.fitness.values for c in copies] == [p.fitness.values for p in population]


def test_unknown_creator_class_is_created_on_unpickling(monkeypatch):
    """A process that never created the class gets it from the pickle's recipe."""
    cls = creator_class("PickleTestGhost", list, fitness=FitMax)
    data = pickle.dumps(cls([4, 5]))
    monkeypatch.delattr(creator, "PickleTestGhost")
    copy = pickle.loads(data)
    assert copy == [4, 5]
    assert type(copy).__name__ == "PickleTestGhost"
    assert creator.PickleTestGhost is type(copy)


def test_install_is_idempotent():
    hpcevo.pickling.install()
    hpcevo.pickling.install()
    assert type(pickle.loads(pickle.dumps(Ind([1])))) is Ind


# --- GP trees with ephemeral constants --------------------------------------------------------------------


def small_int():
    """The ephemeral constant's generator (module level, so it pickles by name)."""
    return random.randint(-9, 9)


PSET = gp.PrimitiveSet("MAIN", 1)
PSET.addPrimitive(operator.add, 2)
PSET.addPrimitive(operator.sub, 2)
PSET.addPrimitive(operator.mul, 2)
PSET.addEphemeralConstant("hpcevo_test_rng_pickling_const", small_int)
PSET.renameArguments(ARG0="x")
FitMinTree = creator_class("PickleTestTreeFitMin", base.Fitness, weights=(-1.0,))
Tree = creator_class("PickleTestTree", gp.PrimitiveTree, fitness=FitMinTree)


def make_trees(n, seed, pset=PSET):
    random.seed(seed)
    trees = [Tree(gp.genHalfAndHalf(pset, min_=1, max_=4)) for _ in range(n)]
    for tree in trees:
        tree.fitness.values = (float(len(tree)),)
    return trees


def ephemeral_nodes(tree):
    return [node for node in tree if isinstance(type(node), gp.MetaEphemeral)]


def test_gp_trees_round_trip_equal():
    trees = make_trees(50, seed=11)
    assert sum(len(ephemeral_nodes(t)) for t in trees) > 20  # the ephemerals are really exercised
    cache_size = len(gp.MetaEphemeral.cache)
    copies = [pickle.loads(pickle.dumps(tree)) for tree in trees]  # one message per tree
    assert len(gp.MetaEphemeral.cache) == cache_size
    for tree, copy in zip(trees, copies):
        assert copy == tree
        assert type(copy) is Tree
        assert str(copy) == str(tree)
        assert copy.fitness.values == tree.fitness.values
        assert [type(n) for n in ephemeral_nodes(copy)] == [type(n) for n in ephemeral_nodes(tree)]
    # A second generation of copies still leaves the class cache alone.
    again = [pickle.loads(pickle.dumps(c)) for c in copies]
    assert again == trees
    assert len(gp.MetaEphemeral.cache) == cache_size


def test_gp_trees_as_if_unpickled_in_another_process(monkeypatch):
    """In another process the ephemeral class has another id; it must still be found by name."""
    trees = make_trees(20, seed=5)
    eph = next(type(n) for t in trees for n in ephemeral_nodes(t))
    data = [pickle.dumps(t) for t in trees]
    cache = gp.MetaEphemeral.cache
    key = next(k for k, v in cache.items() if v is eph)
    monkeypatch.delitem(cache, key)
    monkeypatch.setitem(cache, -key, eph)  # no longer under id(eph)
    size = len(cache)
    copies = [pickle.loads(d) for d in data]
    assert copies == trees
    assert len(cache) == size


def test_gp_hall_of_fame_keeps_no_duplicates():
    trees = make_trees(50, seed=23)
    hof = tools.HallOfFame(200)
    hof.update(trees)
    size = len(hof)
    assert size >= 10
    hof.update([pickle.loads(pickle.dumps(t)) for t in trees])
    assert len(hof) == size
    hof.update(pickle.loads(pickle.dumps(trees)))
    assert len(hof) == size


def _factory_pset():
    """What a GP problem factory typically does: build its primitive set on every call."""
    pset = gp.PrimitiveSet("MAIN", 1)
    pset.addPrimitive(operator.add, 2)
    pset.addPrimitive(operator.mul, 2)
    pset.addEphemeralConstant("hpcevo_test_rng_pickling_factory_const", small_int)
    return pset


def test_gp_round_trip_after_factory_ran_twice():
    """load_problem may run a factory more than once in a process (two runs, or a check then a run);
    each call makes a new ephemeral class of the same name.  Trees built from the latest primitive set
    must still round trip to equal trees (DEAP's own reducer finds the class by id, so they do without
    hpcevo.pickling)."""
    _factory_pset()
    pset = _factory_pset()
    trees = make_trees(30, seed=3, pset=pset)
    assert any(ephemeral_nodes(t) for t in trees)
    copies = [pickle.loads(pickle.dumps(t)) for t in trees]
    assert copies == trees
