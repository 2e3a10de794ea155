"""Per-island random streams derived from one run seed, independent of which rank hosts an island.

DEAP's operators draw from the global `random` module (and user code may use `numpy.random`), so each
island's state is swapped in around its work and saved afterwards.
"""

import random
from contextlib import contextmanager

import numpy as np

__all__ = ["IslandRandom", "island_streams", "epoch_rng", "statistics_seed"]

# Distinct spawn keys keep the island streams apart from the migration-topology streams.
_TOPOLOGY_KEY = 0x70901


class IslandRandom:
    """The saved states of `random` and `numpy.random` for one island."""

    __slots__ = ("py_state", "np_state")

    def __init__(self, seed_sequence):
        words = seed_sequence.generate_state(8, dtype=np.uint32)
        self.py_state = random.Random(int.from_bytes(words.tobytes(), "little")).getstate()
        self.np_state = np.random.RandomState(np.random.MT19937(seed_sequence.spawn(1)[0])).get_state()

    @contextmanager
    def active(self):
        """Swap this island's streams into the global generators for the duration of the block."""
        saved_py, saved_np = random.getstate(), np.random.get_state()
        random.setstate(self.py_state)
        np.random.set_state(self.np_state)
        try:
            yield
        finally:
            self.py_state = random.getstate()
            self.np_state = np.random.get_state()
            random.setstate(saved_py)
            np.random.set_state(saved_np)


def island_streams(seed, n_islands):
    """One `IslandRandom` per island, island i's stream a function of (seed, i) only."""
    return [IslandRandom(np.random.SeedSequence(seed, spawn_key=(i,))) for i in range(n_islands)]


def epoch_rng(seed, epoch):
    """The `random.Random` a topology uses at `epoch` (same on every rank and launch mode)."""
    words = np.random.SeedSequence(seed, spawn_key=(_TOPOLOGY_KEY, epoch)).generate_state(4)
    return random.Random(int.from_bytes(words.tobytes(), "little"))


def statistics_seed(seed, *words):
    """An integer seed for one end-of-run statistic (a bootstrap), a function of the run seed and `words` only."""
    return int(np.random.SeedSequence([int(seed) % 2**63, *words]).generate_state(1)[0])
