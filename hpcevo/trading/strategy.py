"""Trading strategies as typed GP trees: generation, deterministic variation, and vectorised compilation.

The language itself (types, menus, primitive set, `to_expression`, `parse`) lives in `language.py` and is
re-exported here. This module adds:

- `gen_strategy(pset, min_, max_, type_=Signal)`: a half-and-half generator that never fails on types without
  terminals (Signal, Osc, Ratio) or without primitives (Window, Level, Threshold);
- `cx_one_point(ind1, ind2)`: `gp.cxOnePoint` with the crossover type drawn from the common types sorted by
  name, so the same seed gives the same children in every process;
- `register_strategy_operators(toolbox, individual_class, ...)`: expr / individual / population / mate / mutate,
  with `static_limit` (DEAP's `gp.staticLimit` on height, without its deep copies) for mate and mutate;
- `compile_signal(tree, market, cache)`: the boolean signal and its defined-mask over the whole series.
"""

import functools
import random
from collections import OrderedDict
from inspect import isclass

import numpy as np
from deap import gp, tools

from ..problem import clone_list
from . import indicators
from .language import (
    LEVELS,
    PRICE_FIELDS,
    PRIMITIVES,
    PRINTED,
    THRESHOLDS,
    VOLUME_FIELD,
    WINDOWS,
    ExpressionError,
    Level,
    Osc,
    Price,
    Ratio,
    Signal,
    Threshold,
    Volume,
    Window,
    apply_indicator,
    get_pset,
    make_pset,
    parse,
    to_expression,
)

__all__ = [
    "CACHE_MAX_ENTRIES",
    "HEIGHT_LIMIT",
    "LEVELS",
    "IndicatorCache",
    "THRESHOLDS",
    "WINDOWS",
    "ExpressionError",
    "Level",
    "Osc",
    "Price",
    "Ratio",
    "Signal",
    "Threshold",
    "Volume",
    "Window",
    "compile_signal",
    "cx_one_point",
    "gen_strategy",
    "get_pset",
    "make_pset",
    "parse",
    "register_strategy_operators",
    "static_limit",
    "tree_height",
    "to_expression",
]

HEIGHT_LIMIT = 8
# Cache bound: past this many entries, compile_signal drops the least recently used nested indicators
# (sma(ema(close,10),20); in the default job that computes 17,000 indicators where first-in-first-out took 19,400);
# market fields and indicators of a field (sma(close,20): a few hundred at most) always stay.
# 2,048 entries of 5,000 bars take 80 MB.
CACHE_MAX_ENTRIES = 2048


def _nested(key):
    return key.count("(") > 1


class IndicatorCache(dict):
    """A compile_signal cache (a dict) that also keeps its nested-indicator keys in insertion order, so that
    eviction takes O(1) per insertion instead of a scan of the cache; the entries kept are those a plain dict
    keeps. Keys are registered by `cache[key] = entry` (as compile_signal inserts) and by construction; a key
    removed some other way is skipped when its turn to be evicted comes."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.nested = OrderedDict((key, None) for key in self if _nested(key))

    def __setitem__(self, key, value):
        if key not in self and _nested(key):
            nested = self.nested
            nested[key] = None
            nested.move_to_end(key)  # a key removed and inserted again is again the newest, as in the dict
        dict.__setitem__(self, key, value)

    def clear(self):
        dict.clear(self)
        self.nested.clear()

    def __reduce__(self):
        return type(self), (dict(self),)


# ---------------------------------------------------------------------------------------------------------------
# Generation


def _height_tables(pset):
    """Per type and per primitive, the least height of a subtree; cached on the pset."""
    tables = getattr(pset, "_hpcevo_heights", None)
    if tables is None:
        least = {t: 0 for t, terms in pset.terminals.items() if terms}
        changed = True
        while changed:
            changed = False
            for type_, prims in pset.primitives.items():
                for prim in prims:
                    if all(a in least for a in prim.args):
                        h = 1 + max(least[a] for a in prim.args)
                        if h < least.get(type_, float("inf")):
                            least[type_] = h
                            changed = True
        tables = pset._hpcevo_heights = (least, {}, {})
    return tables


def _fitting(pset, type_, remaining):
    """The primitives of `type_` (in pset order) whose least subtree height is <= remaining."""
    least, _, fit = _height_tables(pset)
    key = (type_, remaining)
    prims = fit.get(key)
    if prims is None:
        prims = fit[key] = [p for p in pset.primitives[type_]
                            if 1 + max(least.get(a, float("inf")) for a in p.args) <= remaining]
    return prims


def _generate(pset, min_, max_, type_, full):
    least = _height_tables(pset)[0]
    if type_ not in least:
        raise ValueError(f"no finite tree of type {type_.__name__} can be built from this primitive set")
    height = max(random.randint(min_, max_), least[type_])  # rather one level too high than an IndexError
    ratio = pset.terminalRatio
    expr = []
    stack = [(0, type_)]
    while stack:
        depth, type_ = stack.pop()
        remaining = height - depth
        terms = pset.terminals[type_]
        prims = _fitting(pset, type_, remaining) if remaining > 0 else ()
        if terms and (not prims or (not full and depth >= min_ and random.random() < ratio)):
            term = random.choice(terms)
            expr.append(term() if isclass(term) else term)
        else:
            prim = random.choice(prims)
            expr.append(prim)
            for arg in reversed(prim.args):
                stack.append((depth + 1, arg))
    return expr


def gen_strategy(pset, min_, max_, type_=Signal):
    """A random expression (list of nodes) of `type_`, height in [min_, max_]: grow or full, half the time each.

    Unlike DEAP's generators it never raises IndexError: where a type has no terminal it takes the primitives
    that still fit the remaining height, and where it has no primitive a terminal. The only way it exceeds max_
    is when no tree of `type_` is that low (e.g. max_=0 for Signal): it then builds the lowest one.
    """
    full = random.random() < 0.5
    return _generate(pset, min_, max_, type_, full)


# ---------------------------------------------------------------------------------------------------------------
# Variation


def _type_name(type_):
    return f"{type_.__module__}.{type_.__qualname__}"


def cx_one_point(ind1, ind2):
    """`gp.cxOnePoint` for typed trees, reproducible across processes.

    DEAP draws the crossover type with `random.choice(list(set(types)))`, whose order depends on the classes'
    memory addresses; here the common types are sorted by name first. Random draws are otherwise the same:
    one choice of type, then one index in each parent.
    """
    if len(ind1) < 2 or len(ind2) < 2:
        return ind1, ind2
    types1, types2 = {}, {}
    for idx, node in enumerate(ind1[1:], 1):
        types1.setdefault(node.ret, []).append(idx)
    for idx, node in enumerate(ind2[1:], 1):
        types2.setdefault(node.ret, []).append(idx)
    common = sorted((t for t in types1 if t in types2), key=_type_name)
    if common:
        type_ = random.choice(common)
        index1 = random.choice(types1[type_])
        index2 = random.choice(types2[type_])
        slice1 = ind1.searchSubtree(index1)
        slice2 = ind2.searchSubtree(index2)
        ind1[slice1], ind2[slice2] = ind2[slice2], ind1[slice1]
    return ind1, ind2


def register_strategy_operators(toolbox, individual_class, *, pset=None, init_min=2, init_max=4, mut_min=0,
                                mut_max=2, height_limit=HEIGHT_LIMIT):
    """Register expr, individual, population, expr_mut, mate and mutate for strategy trees on `toolbox`.

    mate is `cx_one_point`, mutate `gp.mutUniform` with `gen_strategy(min_=mut_min, max_=mut_max)` subtrees;
    both are decorated with `static_limit(height_limit)` (DEAP's `gp.staticLimit` on height). Returns the toolbox.
    """
    pset = get_pset() if pset is None else pset
    toolbox.register("expr", gen_strategy, pset=pset, min_=init_min, max_=init_max)
    toolbox.register("individual", tools.initIterate, individual_class, toolbox.expr)
    toolbox.register("population", tools.initRepeat, list, toolbox.individual)
    toolbox.register("expr_mut", gen_strategy, min_=mut_min, max_=mut_max)
    toolbox.register("mate", cx_one_point)
    toolbox.register("mutate", gp.mutUniform, expr=toolbox.expr_mut, pset=pset)
    limit = static_limit(height_limit)
    toolbox.decorate("mate", limit)
    toolbox.decorate("mutate", limit)
    return toolbox


def static_limit(max_height):
    """`gp.staticLimit(key=height, max_value=max_height)`, keeping cheap copies of the parents (`clone_list`: the
    nodes are shared, never changed in place) instead of deep copies; the same random draws, the same children."""

    def decorator(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            keep = [clone_list(ind) for ind in args]
            children = list(func(*args, **kwargs))
            for i, child in enumerate(children):
                if len(child) > max_height + 1 and tree_height(child) > max_height:  # height < number of nodes
                    children[i] = random.choice(keep)
            return children

        return wrapper

    return decorator


def tree_height(tree):
    """`tree.height` (the depth of the deepest node) in one pass over the arities."""
    depth = max_depth = 0
    open_ = []  # children still to come at each depth above the current node
    for node in tree:
        if depth > max_depth:
            max_depth = depth
        if node.arity:
            open_.append(node.arity)
            depth += 1
        else:
            while open_:
                open_[-1] -= 1
                if open_[-1]:
                    break
                open_.pop()
                depth -= 1
    return max_depth


# ---------------------------------------------------------------------------------------------------------------
# Compilation

_FIELD, _NUMBER, _INDICATOR, _COMPARE, _COMPARE_SCALAR, _CROSS, _AND, _OR, _NOT = range(9)

_INDICATOR_FUNCS = {
    "sma": indicators.sma, "ema": indicators.ema, "rmax": indicators.rolling_max, "rmin": indicators.rolling_min,
    "rsi": indicators.rsi, "roc": indicators.roc, "vol": indicators.volatility, "vsma": indicators.sma,
}


def _ops():
    ops = {field: (_FIELD, field) for field in (*PRICE_FIELDS, VOLUME_FIELD)}
    for menu in (WINDOWS, LEVELS, THRESHOLDS):
        ops.update({str(v): (_NUMBER, (PRINTED[str(v)], v)) for v in menu})
    ops.update({name: (_INDICATOR, name, func) for name, func in _INDICATOR_FUNCS.items()})
    for name, printed, _, args, _ in PRIMITIVES:
        if printed in ("gt", "lt"):
            ufunc = np.greater if printed == "gt" else np.less
            ops[name] = (_COMPARE_SCALAR if args[1] in (Level, Threshold) else _COMPARE, ufunc)
    ops.update({"cross_above": (_CROSS, False), "cross_below": (_CROSS, True),
                "and": (_AND,), "or": (_OR,), "not": (_NOT,)})
    return ops


_OPS = _ops()


def _entry(key, values):
    """Cache entry (key, values, start, mask): values NaN before `start`; mask is the not-NaN mask when NaNs
    also occur after start (None otherwise)."""
    nan = np.isnan(values)
    if not nan.any():
        return key, values, 0, None
    start = int(nan.argmin()) if not nan.all() else values.shape[0]
    return key, values, start, (~nan if nan[start:].any() else None)


def _field(market, cache, name):
    entry = cache.get(name)
    if entry is None:
        values = np.ascontiguousarray(getattr(market, name), dtype=np.float64)
        entry = cache[name] = _entry(name, values)
    return entry


def _evict(cache, max_entries):
    """Drop the oldest nested-indicator entries (in the cache's order: compile_signal moves an entry it uses
    again to the end, so the least recently used go first) until `max_entries` remain; entries of market fields
    and indicators of a field (a few hundred at most) stay. O(1) per dropped entry for an IndicatorCache; a
    plain dict is scanned from its oldest entry."""
    excess = len(cache) - max_entries
    if excess <= 0:
        return
    nested = getattr(cache, "nested", None)
    if isinstance(nested, OrderedDict):
        popitem, pop = nested.popitem, cache.pop
        while excess > 0 and nested:
            if pop(popitem(last=False)[0], _ABSENT) is not _ABSENT:
                excess -= 1
        return
    old = []
    for key in cache:
        if _nested(key):
            old.append(key)
            if len(old) == excess:
                break
    for key in old:
        del cache[key]


_ABSENT = object()


def _shifted(mask):
    out = mask.copy()
    out[1:] &= mask[:-1]
    out[0] = False
    return out


def compile_signal(tree, market, cache, max_cache_entries=CACHE_MAX_ENTRIES):
    """Evaluate a strategy tree over a whole market: returns (signal, defined), two bool arrays.

    `defined[t]` is True where every indicator the strategy compares is defined (not NaN) at t and, for
    cross_above / cross_below, at t - 1 too; `signal` is False wherever `defined` is. `market` has float arrays
    open, high, low, close, volume. `cache` is a dict the caller keeps per process *and market*: it maps each
    market field and indicator sub-expression (e.g. "sma(close,20)", the `to_expression` form) to
    (key, values, start, mask) so every individual reuses them; signals are not cached. Past
    `max_cache_entries` the least recently used nested-indicator entries go (`_evict`; a nested entry used
    again becomes the newest): an `IndicatorCache` (what TradingContext holds) evicts in O(1) per insertion,
    a plain dict by a scan.
    """
    stack = []
    pop, push = stack.pop, stack.append
    start = 0
    masks = None
    ops = _OPS
    try:
        for node in reversed(tree):
            op = ops[node.name]
            code = op[0]
            if code == _NUMBER:
                push(op[1])
            elif code == _FIELD:
                entry = cache.get(op[1])
                push(entry if entry is not None else _field(market, cache, op[1]))
            elif code == _INDICATOR:
                series = pop()
                window = pop()
                key = f"{op[1]}({series[0]},{window[0]})"
                entry = cache.get(key)
                if entry is None:
                    entry = cache[key] = _entry(key, apply_indicator(op[2], series[1], window[1], series[2]))
                    if len(cache) > max_cache_entries:
                        _evict(cache, max_cache_entries)
                elif "(" in series[0]:  # a nested indicator used again: the newest entry now (evicted last)
                    cache[key] = cache.pop(key)
                push(entry)
            elif code == _COMPARE_SCALAR:
                a = pop()
                level = pop()
                if a[2] > start:
                    start = a[2]
                if a[3] is not None:
                    masks = [a[3]] if masks is None else masks + [a[3]]
                push(op[1](a[1], level[1]))
            elif code == _COMPARE or code == _CROSS:
                a = pop()
                b = pop()
                if code == _CROSS:
                    if op[1]:
                        a, b = b, a
                    s = max(a[2], b[2]) + 1
                    values_a, values_b = a[1], b[1]
                    out = np.zeros(values_a.shape[0], dtype=bool)
                    np.logical_and(values_a[1:] > values_b[1:], values_a[:-1] <= values_b[:-1], out=out[1:])
                    new = [_shifted(m) for m in (a[3], b[3]) if m is not None]
                else:
                    s = a[2] if a[2] > b[2] else b[2]
                    out = op[1](a[1], b[1])
                    new = [m for m in (a[3], b[3]) if m is not None]
                if s > start:
                    start = s
                if new:
                    masks = new if masks is None else masks + new
                push(out)
            elif code == _AND:
                a = pop()
                push(np.logical_and(a, pop(), out=a))
            elif code == _OR:
                a = pop()
                push(np.logical_or(a, pop(), out=a))
            else:  # _NOT
                a = pop()
                push(np.logical_not(a, out=a))
    except (KeyError, IndexError):
        raise ValueError(f"not a strategy tree: {_describe(tree)}") from None
    if len(stack) != 1 or not isinstance(stack[0], np.ndarray) or stack[0].dtype != bool:
        raise ValueError(f"not a Signal strategy tree: {_describe(tree)}")
    signal = stack[0]
    n = signal.shape[0]
    if start == 0 and masks is None:
        return signal, np.ones(n, dtype=bool)
    defined = np.zeros(n, dtype=bool)
    defined[start:] = True
    for mask in masks or ():
        defined &= mask
    signal &= defined
    return signal, defined


def _describe(tree):
    """The expression of a tree, or the repr of its nodes when it is not a strategy tree."""
    try:
        return to_expression(tree)
    except ValueError:
        return repr(list(tree))
