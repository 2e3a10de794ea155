"""Factories that are wrong in one way each, for the bad-input corpus (tests/test_bad_inputs.py)."""

from deap import base

NOT_CALLABLE = 42


def returns_dict():
    """Returns a plain dict instead of a deap.base.Toolbox."""
    return {"evaluate": sum}


def no_evaluate():
    """A toolbox without evaluate."""
    tb = base.Toolbox()
    tb.register("individual", list)
    return tb


def needs_argument(path):
    """A factory with a required argument the config does not give."""
    raise AssertionError("never called without its argument")


def lambda_evaluate(length=10):
    """Accepted on purpose: evaluate is never pickled (each rank builds its own toolbox)."""
    from tests.support.factories import plain_toolbox

    tb = plain_toolbox(length)
    tb.register("evaluate", lambda ind: (float(sum(ind)),))
    return tb
