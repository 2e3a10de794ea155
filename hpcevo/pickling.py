"""Pickle DEAP's dynamically created classes by name, so migrants keep their class identity.

DEAP 1.4 pickles `creator.create` classes and GP ephemeral classes by value: every `pickle.loads`
re-creates the class, which breaks `isinstance`, equality of GP trees with ephemerals and hall-of-fame
de-duplication, and leaks one class per message.  Every rank builds the problem before anything is
unpickled, so looking classes up by name is both correct and cheap.
"""

import copyreg

from deap import creator, gp

__all__ = ["install"]

_original_creator_reduce = creator.MetaCreator.__reduce__
_original_ephemeral_reduce = gp.MetaEphemeral.__reduce__


def _creator_class(name, reduce_args):
    """Return the existing `deap.creator` class called `name`, creating it only if absent."""
    cls = getattr(creator, name, None)
    if isinstance(cls, creator.MetaCreator):
        return cls
    return creator.meta_create(*reduce_args)


def _reduce_creator(cls):
    return _creator_class, (cls.__name__, cls.reduce_args)


def _ephemeral_class(name, func, ret, id_):
    """Return the process's ephemeral class named `name` (the newest one), creating it only if absent."""
    cls = gp.MetaEphemeral.cache.get(id_)
    if cls is not None and cls.name == name:  # pickled in this very process
        return cls
    for cls in reversed(list(gp.MetaEphemeral.cache.values())):
        if cls.name == name:
            return cls
    return gp.MetaEphemeral(name, func, ret, id_)


def _reduce_ephemeral(cls):
    return _ephemeral_class, (cls.name, cls.func, cls.ret, id(cls))


def install():
    """Register the by-name reducers (idempotent); call before any individual is pickled."""
    copyreg.pickle(creator.MetaCreator, _reduce_creator)
    copyreg.pickle(gp.MetaEphemeral, _reduce_ephemeral)


install()
