"""Tests for migration topologies, route checking, migrant routing and the island blocks of rank groups."""

import random

import pytest

from hpcevo.comm import island_block
from hpcevo.engine import resolve_topology, route_migrants
from hpcevo.errors import ProblemError
from hpcevo.registry import TOPOLOGY
from hpcevo.rng import epoch_rng
from hpcevo.topology import check_routes, complete, none, random_permutation, ring

# --- built-in topologies, written out by hand ------------------------------------------------------

RING = {
    1: [],
    2: [(0, 1), (1, 0)],
    5: [(0, 1), (1, 2), (2, 3), (3, 4), (4, 0)],
}
COMPLETE = {
    1: [],
    2: [(0, 1), (1, 0)],
    5: [(0, 1), (0, 2), (0, 3), (0, 4),
        (1, 0), (1, 2), (1, 3), (1, 4),
        (2, 0), (2, 1), (2, 3), (2, 4),
        (3, 0), (3, 1), (3, 2), (3, 4),
        (4, 0), (4, 1), (4, 2), (4, 3)],
}


@pytest.mark.parametrize("n", [1, 2, 5])
def test_ring_routes(n):
    for epoch in (0, 1, 7):
        assert ring(n, epoch, random.Random(0)) == RING[n]


@pytest.mark.parametrize("n", [1, 2, 5])
def test_complete_routes(n):
    for epoch in (0, 3):
        assert complete(n, epoch, random.Random(0)) == COMPLETE[n]


@pytest.mark.parametrize("n", [1, 2, 5])
def test_none_routes(n):
    assert none(n, 0, random.Random(0)) == []
    assert none(n, 4, random.Random(0)) == []


def test_registry_names():
    assert TOPOLOGY.names == ("ring", "random", "complete", "none")
    assert [TOPOLOGY.resolve(name) for name in TOPOLOGY.names] == [ring, random_permutation, complete, none]
    assert resolve_topology("ring") is ring
    assert resolve_topology("random") is random_permutation
    assert resolve_topology("tests.support.factories:star")(4, 0, None) == [(1, 0), (2, 0), (3, 0)]


def test_resolve_topology_bad_spec():
    with pytest.raises(ProblemError, match="no_such_module_xyz"):
        resolve_topology("no_such_module_xyz:ring")
    with pytest.raises(ProblemError, match="no attribute 'nope'"):
        resolve_topology("hpcevo.topology:nope")


def test_random_permutation_small():
    assert random_permutation(1, 0, random.Random(3)) == []
    assert random_permutation(0, 0, random.Random(3)) == []
    # With two islands the only derangement is the swap.
    for seed in range(10):
        assert random_permutation(2, seed, random.Random(seed)) == [(0, 1), (1, 0)]


@pytest.mark.parametrize("n", range(2, 10))
def test_random_permutation_is_derangement(n):
    for epoch in range(60):
        routes = random_permutation(n, epoch, epoch_rng(11, epoch))
        assert len(routes) == n
        senders = sorted(src for src, _ in routes)
        receivers = sorted(dst for _, dst in routes)
        assert senders == list(range(n)), routes
        assert receivers == list(range(n)), routes
        assert all(src != dst for src, dst in routes), routes
        # It is already what check_routes would accept.
        assert check_routes(routes, n) == routes


@pytest.mark.parametrize("n", [3, 5, 9])
def test_random_permutation_reproducible_and_varies(n):
    seen = set()
    for epoch in range(30):
        a = random_permutation(n, epoch, epoch_rng(5, epoch))
        b = random_permutation(n, epoch, epoch_rng(5, epoch))
        c = random_permutation(n, epoch, random.Random(1234 + epoch))
        d = random_permutation(n, epoch, random.Random(1234 + epoch))
        assert a == b
        assert c == d
        seen.add(tuple(a))
    # Different epochs draw different derangements (there are (n-1)! cycles to choose from: 2 for n = 3).
    assert len(seen) >= {3: 2, 5: 10, 9: 25}[n]


# --- check_routes ---------------------------------------------------------------------------------


def test_check_routes_accepts_and_normalises():
    assert check_routes([(2, 0), (0, 1), (0, 1)], 3) == [(0, 1), (2, 0)]
    assert check_routes([[1, 0]], 2) == [(1, 0)]
    assert check_routes([], 4) == []
    assert check_routes(((0, 3), (3, 0)), 4) == [(0, 3), (3, 0)]


@pytest.mark.parametrize("routes, n, fragment", [
    ([(0, 3)], 3, "route (0, 3) outside islands 0..2"),
    ([(0, 1), (-1, 0)], 3, "route (-1, 0) outside islands 0..2"),
    ([(5, 0)], 2, "route (5, 0) outside islands 0..1"),
    ([(1, 1)], 3, "route (1, 1): an island cannot send to itself"),
])
def test_check_routes_rejects_bad_routes(routes, n, fragment):
    with pytest.raises(ValueError) as info:
        check_routes(routes, n, "mytopo")
    message = str(info.value)
    assert message.startswith("mytopo returned")
    assert fragment in message


def test_check_routes_accepts_numpy_integers():
    import numpy as np

    assert check_routes([(np.int64(0), np.int32(2))], 3) == [(0, 2)]
    assert all(type(x) is int for x in check_routes([(np.int64(0), np.int32(2))], 3)[0])


def test_check_routes_rejects_fractional_islands():
    """A custom topology computing islands with `/` (e.g. (i + n / 2) % n) returns 2.5 for n = 5; that is
    a bug in the topology and must not be silently truncated to island 2."""
    with pytest.raises(ValueError, match="mytopo"):
        check_routes([(0, 2.5)], 5, "mytopo")


@pytest.mark.parametrize("routes", [
    [(0, 1, 2)],
    [0, 1],
    [(0,)],
    None,
    [("a", 1)],
    7,
])
def test_check_routes_rejects_non_pairs(routes):
    with pytest.raises(ValueError) as info:
        check_routes(routes, 3, "mytopo")
    message = str(info.value)
    assert "mytopo must return a list of (src, dst) island pairs" in message
    assert repr(routes)[:50] in message


# --- route_migrants ----------------------------------------------------------------------------------


class _Fit:
    def __init__(self, values, weights):
        self.values = values
        self.wvalues = tuple(v * w for v, w in zip(values, weights))


class _Ind:
    def __init__(self, value, weights=(-1.0,)):
        self.fitness = _Fit((value,), weights)


def test_route_migrants_delivers_and_records():
    a0, a1 = _Ind(3.0), _Ind(1.0)      # island 0's emigrants, best (minimised) is 1.0
    b0 = _Ind(2.5)                     # island 1
    outgoing = {0: [a0, a1], 1: [b0], 2: []}
    incoming, records = route_migrants(outgoing, [(0, 1), (1, 2), (2, 0), (0, 2)], epoch=4)
    assert incoming == {1: [a0, a1], 2: [b0, a0, a1]}
    assert records == [
        {"epoch": 4, "src": 0, "dst": 1, "count": 2, "best_fitness": "1.0"},
        {"epoch": 4, "src": 1, "dst": 2, "count": 1, "best_fitness": "2.5"},
        {"epoch": 4, "src": 0, "dst": 2, "count": 2, "best_fitness": "1.0"},
    ]


def test_route_migrants_maximising_best():
    inds = [_Ind(1.0, (1.0,)), _Ind(7.0, (1.0,)), _Ind(4.0, (1.0,))]
    _, records = route_migrants({0: inds, 1: []}, [(0, 1)], epoch=0)
    assert records[0]["best_fitness"] == "7.0"


# --- island blocks of rank groups -----------------------------------------------------------------


def test_island_block_examples():
    assert [island_block(5, 2, g) for g in range(2)] == [[0, 1], [2, 3, 4]]
    assert [island_block(4, 4, g) for g in range(4)] == [[0], [1], [2], [3]]
    assert [island_block(7, 3, g) for g in range(3)] == [[0, 1], [2, 3], [4, 5, 6]]
    assert island_block(8, 1, 0) == list(range(8))


@pytest.mark.parametrize("n", range(1, 40))
def test_island_block_covers_every_island_once(n):
    for g in range(1, n + 1):
        blocks = [island_block(n, g, k) for k in range(g)]
        assert [i for block in blocks for i in block] == list(range(n))
        sizes = [len(block) for block in blocks]
        assert max(sizes) - min(sizes) <= 1
        assert min(sizes) >= 1


# --- custom topologies as callables -------------------------------------------------------------------------


def one_way(n_islands, epoch, rng):
    """Everyone sends to island 0 (itself included, which check_routes refuses)."""
    return [(i, 0) for i in range(n_islands)]


def test_callable_topology_resolves_and_is_named_in_route_errors():
    assert resolve_topology(one_way) is one_way
    with pytest.raises(ValueError, match=rf"^{__name__}:one_way returned route \(0, 0\): an island cannot send"):
        check_routes(one_way(3, 0, None), 3, one_way)
    assert TOPOLOGY.spec_of(one_way) == f"{__name__}:one_way"
    assert TOPOLOGY.spec_of(random_permutation) == "random"
