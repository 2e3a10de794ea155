"""Migration topologies: pure functions `(n_islands, epoch, rng) -> routes`, routes a list of (src, dst).

`hpcevo.registry.TOPOLOGY` names the built-in ones; a custom topology is any callable with that signature, and
`check_routes` validates what it returns.
"""

import operator

__all__ = ["ring", "random_permutation", "complete", "none", "check_routes"]


def ring(n_islands, epoch, rng):
    """Island i sends to island i+1 (the last to the first)."""
    if n_islands < 2:
        return []
    return [(i, (i + 1) % n_islands) for i in range(n_islands)]


def random_permutation(n_islands, epoch, rng):
    """Each island sends to one other: a random cycle through all islands, drawn per epoch from `rng`.

    A single cycle (not any derangement) keeps every epoch's graph connected, so good genes can reach every
    island."""
    if n_islands < 2:
        return []
    order = list(range(n_islands))
    rng.shuffle(order)
    # Following the shuffled cycle gives a derangement: nobody sends to itself, everyone receives once.
    return sorted((order[k], order[(k + 1) % n_islands]) for k in range(n_islands))


def complete(n_islands, epoch, rng):
    """Every island sends to every other island."""
    return [(i, j) for i in range(n_islands) for j in range(n_islands) if i != j]


def none(n_islands, epoch, rng):
    """Isolated islands: no migration at all."""
    return []


def check_routes(routes, n_islands, name="topology"):
    """Return `routes` as a sorted list of int pairs, or raise ValueError saying what is wrong.

    `name` is the topology setting (a string, or the function itself) that messages name."""
    if not isinstance(name, str):
        from .registry import TOPOLOGY  # here: the registry imports this module

        name = TOPOLOGY.spec_of(name)
    try:
        pairs = [(operator.index(src), operator.index(dst)) for src, dst in routes]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must return a list of (src, dst) island pairs, got {routes!r:.200}") from None
    for src, dst in pairs:
        if not (0 <= src < n_islands and 0 <= dst < n_islands):
            raise ValueError(f"{name} returned route ({src}, {dst}) outside islands 0..{n_islands - 1}")
        if src == dst:
            raise ValueError(f"{name} returned route ({src}, {dst}): an island cannot send to itself")
    return sorted(set(pairs))
