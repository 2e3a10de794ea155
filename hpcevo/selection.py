"""Faster stand-ins for DEAP selection operators: the same picks from the same random state, with less work.

`equivalent(select)` returns the stand-in for a toolbox's `select` when it is one we have (today DEAP's
`selTournament` on `fitness`, registered with `tournsize` alone), else `select` itself. The stand-in draws the
same random numbers in the same order as DEAP's operator and keeps the same individual of each tournament, so a
run's files do not change (tests/test_selection.py compares them pick by pick, and whole runs).
"""

import functools
import random

from deap import base, tools

__all__ = ["equivalent", "sel_tournament"]


def sel_tournament(individuals, k, tournsize):
    """DEAP's `selTournament(individuals, k, tournsize)`: k tournaments of `tournsize` aspirants drawn with
    replacement, each won by the first aspirant no later one beats (`max` by fitness).

    DEAP draws each aspirant with `random.choice`, which is `_randbelow(n)`: getrandbits(n.bit_length()) until
    the draw is below n. This draws the same bits itself and compares the fitnesses' weighted values once
    fetched (`Fitness.__gt__` is `not a.wvalues <= b.wvalues`), instead of a Python-level call per comparison."""
    n = len(individuals)
    if n == 0 and k > 0:
        raise IndexError("cannot choose from an empty sequence")  # what random.choice raises
    keys = [ind.fitness.wvalues for ind in individuals]
    getrandbits = random.getrandbits
    bits = n.bit_length()
    chosen = []
    for _ in range(k):
        best = getrandbits(bits)
        while best >= n:
            best = getrandbits(bits)
        top = keys[best]
        for _ in range(tournsize - 1):
            i = getrandbits(bits)
            while i >= n:
                i = getrandbits(bits)
            if not keys[i] <= top:
                best, top = i, keys[i]
        chosen.append(individuals[best])
    return chosen


@functools.cache
def _draws_like_choice():
    """Whether sel_tournament picks what DEAP's selTournament picks on this Python (whose random.choice it
    assumes draws getrandbits until below n): both run once on a probe population, from a private state."""
    probe = type("_Probe", (base.Fitness,), {"weights": (1.0,)})
    population = []
    for i in range(1025):
        ind = type("_Individual", (), {})()
        ind.fitness = probe((float(i % 37),))  # ties, so the first-aspirant rule is checked too
        population.append(ind)
    state = random.getstate()
    try:
        picks = []
        for select in (functools.partial(tools.selTournament, tournsize=3), functools.partial(sel_tournament,
                                                                                           tournsize=3)):
            random.seed(12345)
            picks.append([id(ind) for n in (1, 2, 3, 5, 7, 100, 1000, 1025) for ind in select(population[:n], 20)])
        return picks[0] == picks[1]
    finally:
        random.setstate(state)


def equivalent(select):
    """The stand-in for `select` (a toolbox entry) when one gives the same picks, else `select`."""
    if (isinstance(select, functools.partial) and select.func is tools.selTournament and not select.args
            and set(select.keywords) <= {"tournsize", "fit_attr"} and "tournsize" in select.keywords
            and select.keywords.get("fit_attr", "fitness") == "fitness"
            and isinstance(select.keywords["tournsize"], int) and select.keywords["tournsize"] >= 1
            and _draws_like_choice()):
        return functools.partial(sel_tournament, tournsize=select.keywords["tournsize"])
    return select
