"""Shared pieces of the built-in problems: DEAP creator classes, gene sampling, bounds, option checks.

Everything here is module-level so toolboxes that reference it pickle by name (no lambdas or
closures), and deap.creator is imported only when a class is actually needed.
"""

import numbers
import random

__all__ = [
    "check_int",
    "check_probability",
    "clip_to_bounds",
    "clipped",
    "creator_class",
    "random_bit",
    "uniform_gene",
]


def creator_class(name, base, **attrs):
    """Return deap.creator.<name>, creating it on first use so repeated builds reuse one class silently."""
    from deap import creator

    existing = getattr(creator, name, None)
    if existing is None:
        creator.create(name, base, **attrs)
        return getattr(creator, name)
    if not issubclass(existing, base):
        raise TypeError(f"deap.creator.{name} exists but does not derive from {base.__name__}")
    for key, value in attrs.items():
        # Class-valued attrs (e.g. fitness=...) are per-instance in creator; compare static ones only.
        if not isinstance(value, type) and getattr(existing, key, value) != value:
            raise ValueError(f"deap.creator.{name} exists with {key}={getattr(existing, key)!r}, not {value!r}")
    return existing


def uniform_gene(low, up):
    """Draw one float uniformly from [low, up] with the global `random` state the engine seeds."""
    return random.uniform(low, up)


def random_bit():
    """Draw one bit (int 0 or 1) from the global `random` state."""
    return random.getrandbits(1)


def clip_to_bounds(individual, low, up):
    """Clamp every gene of `individual` into [low, up] in place and return it."""
    if individual and low <= min(individual) and max(individual) <= up:  # nothing to clamp: two C-level passes
        return individual
    for i, gene in enumerate(individual):
        if gene < low:
            individual[i] = low
        elif gene > up:
            individual[i] = up
    return individual


def clipped(operator, *individuals, low, up, **kwargs):
    """Apply a DEAP variation `operator`, then clamp each returned individual into [low, up].

    Register as `toolbox.register("mutate", clipped, tools.mutGaussian, low=..., up=..., ...)`.
    """
    offspring = operator(*individuals, **kwargs)
    for child in offspring:
        clip_to_bounds(child, low, up)
    return offspring


def check_int(name, value, minimum):
    """Return `value` as int if it is an integer >= minimum (bools rejected), else raise ValueError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_probability(name, value):
    """Return `value` as float if it is a real number in [0, 1], else raise ValueError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    return float(value)
