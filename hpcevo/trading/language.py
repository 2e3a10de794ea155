"""The strategy language: types, fixed menus, the typed DEAP primitive set, printing and parsing.

A strategy is a `deap.gp.PrimitiveTree` over `make_pset()` whose root returns a `Signal` (a boolean series).
`to_expression(tree)` prints it as e.g. `and(gt(sma(close,20),sma(close,100)),lt(rsi(close,14),70))` and
`parse(text)` reads that form back (spaces allowed) into an equal tree, or raises `ExpressionError` with a
caret under the offending column and the names or menu values allowed there.

Window lengths, RSI levels and rate-of-change / volatility thresholds are typed terminals drawn from the fixed
menus below (not ephemeral constants): trees pickle by value with plain numbers, generation is deterministic,
and indicator values can be computed once per dataset and shared by every individual.
"""

import difflib
import re

import numpy as np
from deap import gp

from ..errors import UserError
from . import indicators

__all__ = [
    "LEVELS",
    "PRICE_FIELDS",
    "THRESHOLDS",
    "VOLUME_FIELD",
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
    "apply_indicator",
    "get_pset",
    "make_pset",
    "number_text",
    "parse",
    "to_expression",
]


class Price:
    """A price-like series: close, open, high, low, or a moving average / rolling extreme of one."""


class Osc:
    """An oscillator in 0..100 (RSI)."""


class Ratio:
    """A series of fractions: rate of change, volatility of returns."""


class Volume:
    """A volume series: volume or its moving average."""


class Signal:
    """A boolean series: True where the strategy wants to be in the market."""


class Window:
    """An indicator window length, one of WINDOWS."""


class Level:
    """An oscillator level, one of LEVELS."""


class Threshold:
    """A fraction to compare a Ratio with, one of THRESHOLDS."""


WINDOWS = (5, 10, 14, 20, 50, 100, 200)
LEVELS = (20, 30, 50, 70, 80)
THRESHOLDS = (-0.05, -0.02, -0.01, 0.0, 0.01, 0.02, 0.05)
PRICE_FIELDS = ("close", "open", "high", "low")
VOLUME_FIELD = "volume"

_MENUS = {Window: WINDOWS, Level: LEVELS, Threshold: THRESHOLDS}
_MENU_NOUN = {Window: "window", Level: "level", Threshold: "threshold"}


class ExpressionError(UserError):
    """A strategy expression that does not parse; the message shows the text with a caret under the column."""

    def __init__(self, text, position, detail):
        self.text, self.position, self.detail = text, position, detail
        shown = text.translate(_BLANKS)
        super().__init__(f"cannot read the strategy at column {position + 1}: {detail}\n  {shown}\n  {' ' * position}^")


_BLANKS = str.maketrans("\t\n\r\f\v", "     ")


# ---------------------------------------------------------------------------------------------------------------
# Primitive semantics on whole arrays. These are what the primitive set registers (named module-level functions,
# so nothing needs a lambda); `strategy.compile_signal` is the fast, cached path with the same meaning.


def apply_indicator(func, values, window, first=None):
    """func(values, window) on the part of `values` after its leading NaNs (the warm-up of an inner indicator),
    padded back with NaN, so indicators can be nested whatever their seeding. `first`: the index of the first
    value that is not NaN (len(values) when all are), when the caller knows it (compile_signal's cache does)."""
    values = np.asarray(values, dtype=np.float64)
    if first is None:
        if not (values.shape[0] and np.isnan(values[0])):
            return func(values, window)
        valid = ~np.isnan(values)
        first = int(valid.argmax()) if valid.any() else values.shape[0]
    elif first == 0:
        return func(values, window)
    out = np.full(values.shape[0], np.nan)
    if first < values.shape[0]:
        out[first:] = func(values[first:], window)
    return out


def op_sma(price, window):
    return apply_indicator(indicators.sma, price, window)


def op_ema(price, window):
    return apply_indicator(indicators.ema, price, window)


def op_rmax(price, window):
    return apply_indicator(indicators.rolling_max, price, window)


def op_rmin(price, window):
    return apply_indicator(indicators.rolling_min, price, window)


def op_rsi(price, window):
    return apply_indicator(indicators.rsi, price, window)


def op_roc(price, window):
    return apply_indicator(indicators.roc, price, window)


def op_vol(price, window):
    return apply_indicator(indicators.volatility, price, window)


def op_gt(a, b):
    return np.greater(a, b)


def op_lt(a, b):
    return np.less(a, b)


def op_cross_above(a, b):
    """a_t > b_t and a_{t-1} <= b_{t-1} (False on bar 0)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    out = np.zeros(a.shape[0], dtype=bool)
    out[1:] = (a[1:] > b[1:]) & (a[:-1] <= b[:-1])
    return out


def op_cross_below(a, b):
    """a_t < b_t and a_{t-1} >= b_{t-1} (False on bar 0)."""
    return op_cross_above(b, a)


def op_and(a, b):
    return np.logical_and(a, b)


def op_or(a, b):
    return np.logical_or(a, b)


def op_not(a):
    return np.logical_not(a)


# (name, function, argument type, return type) of the indicator primitives; the second argument is a Window.
INDICATORS = (
    ("sma", op_sma, Price, Price),
    ("ema", op_ema, Price, Price),
    ("rmax", op_rmax, Price, Price),
    ("rmin", op_rmin, Price, Price),
    ("rsi", op_rsi, Price, Osc),
    ("roc", op_roc, Price, Ratio),
    ("vol", op_vol, Price, Ratio),
    ("vsma", op_sma, Volume, Volume),
)
_COMPARED = ((Price, Price), (Osc, Level), (Ratio, Threshold), (Volume, Volume))
# (pset name, printed name, function, argument types, return type) of every primitive, in pset order. gt and lt
# are overloaded: one pset primitive per argument pair (gt_price, gt_osc, gt_ratio, gt_volume), printed "gt".
PRIMITIVES = (
    *((f"{op}_{a.__name__.lower()}", op, fn, (a, b), Signal) for op, fn in (("gt", op_gt), ("lt", op_lt))
      for a, b in _COMPARED),
    ("cross_above", "cross_above", op_cross_above, (Price, Price), Signal),
    ("cross_below", "cross_below", op_cross_below, (Price, Price), Signal),
    ("and", "and", op_and, (Signal, Signal), Signal),
    ("or", "or", op_or, (Signal, Signal), Signal),
    ("not", "not", op_not, (Signal,), Signal),
    *((name, name, fn, (arg, Window), ret) for name, fn, arg, ret in INDICATORS),
)


def make_pset(with_open=True):
    """A new typed primitive set for strategies (root type Signal). Prefer `get_pset()`, built once.

    `with_open=False` leaves the `open` terminal out (for data whose opening prices are stale)."""
    pset = gp.PrimitiveSetTyped("strategy", [], Signal)
    for name, _, func, args, ret in PRIMITIVES:
        pset.addPrimitive(func, list(args), ret, name=name)
    for field in PRICE_FIELDS:
        if with_open or field != "open":
            pset.addTerminal(field, Price, name=field)
    pset.addTerminal(VOLUME_FIELD, Volume, name=VOLUME_FIELD)
    for type_, menu in _MENUS.items():
        for value in menu:
            pset.addTerminal(value, type_)  # plain numbers: equal after pickling, no ephemeral classes
    return pset


_PSETS = {}


def get_pset(with_open=True):
    """The process's strategy primitive set (with or without `open`), built on first use."""
    pset = _PSETS.get(with_open)
    if pset is None:
        pset = _PSETS[with_open] = make_pset(with_open)
    return pset


def number_text(value):
    """A menu number as printed: 20, 0, -0.02."""
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


# pset node name -> printed text (primitives: their name without the type suffix; numbers: number_text).
PRINTED = {name: printed for name, printed, *_ in PRIMITIVES}
PRINTED.update({field: field for field in (*PRICE_FIELDS, VOLUME_FIELD)})
PRINTED.update({str(value): number_text(value) for menu in _MENUS.values() for value in menu})


def to_expression(tree):
    """The readable form of a strategy tree, e.g. `and(gt(sma(close,20),sma(close,100)),lt(rsi(close,14),70))`."""
    stack = []
    printed = PRINTED
    try:
        for node in reversed(tree):
            arity = node.arity
            if arity == 0:
                stack.append(printed[node.name])
            elif arity == 1:
                stack.append(f"{printed[node.name]}({stack.pop()})")
            else:
                args = [stack.pop() for _ in range(arity)]
                stack.append(f"{printed[node.name]}({','.join(args)})")
    except (KeyError, IndexError):
        raise ValueError(f"not a strategy tree: {list(tree)!r}") from None
    if len(stack) != 1:
        raise ValueError(f"not a strategy tree: {list(tree)!r}")
    return stack[0]


# ---------------------------------------------------------------------------------------------------------------
# Parsing

_TOKEN = re.compile(r"\s*(?:(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
                    r"|(?P<number>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)|(?P<punct>[(),])|(?P<bad>\S))")
_COMPARABLE = (Price, Osc, Ratio, Volume)
_SERIES_TYPES = (Price, Osc, Ratio, Volume, Signal)


def _article(word):
    return f"an {word}" if word[0] in "AEIOUaeiou" else f"a {word}"


class _Language:
    """Lookup tables for the parser, built from one primitive set."""

    def __init__(self, pset):
        self.by_name = {}  # printed name -> [nodes] (several only for the overloaded gt / lt)
        self.menu_nodes = {}  # type -> {float value: node}
        for type_ in _SERIES_TYPES:
            for node in pset.terminals[type_] + pset.primitives[type_]:
                if node.ret is type_:
                    self.by_name.setdefault(PRINTED[node.name], []).append(node)
        for type_ in _MENUS:
            self.menu_nodes[type_] = {float(node.value): node for node in pset.terminals[type_]}
        self.names_of = {t: [n for n, nodes in self.by_name.items() if nodes[0].ret is t] for t in _SERIES_TYPES}

    def expected(self, types):
        """'a Price (close, open, ...)' for the type(s) allowed at a position."""
        if types in _MENUS:
            menu = ", ".join(map(number_text, _MENUS[types]))
            return f"{_article(types.__name__)} (one of {menu})"
        if isinstance(types, tuple):
            names = ", ".join(n for t in types for n in self.names_of[t])
            kinds = ", ".join(t.__name__ for t in types[:-1]) + f" or {types[-1].__name__}"
            return f"{_article(kinds)} ({names})"
        return f"{_article(types.__name__)} ({', '.join(self.names_of[types])})"

    def signature(self, name):
        sigs = [f"{name}({','.join(a.__name__ for a in node.args)})" for node in self.by_name[name]]
        return sigs[0] if len(sigs) == 1 else ", ".join(sigs[:-1]) + f" or {sigs[-1]}"


_LANGUAGE = None


def _language():
    global _LANGUAGE
    if _LANGUAGE is None:
        _LANGUAGE = _Language(get_pset())
    return _LANGUAGE


class _Parser:
    def __init__(self, text):
        self.text = text
        self.lang = _language()
        self.tokens = []  # (kind, token, position)
        pos = 0
        end = len(text.rstrip())
        while pos < end:
            match = _TOKEN.match(text, pos)
            kind = match.lastgroup
            start = match.start(kind)
            if kind == "bad":
                raise ExpressionError(text, start, f"unexpected character {text[start]!r}; a strategy is made of "
                                      f"names, menu numbers, parentheses and commas")
            self.tokens.append((kind, match.group(kind), start))
            pos = match.end()
        self.tokens.append(("end", "", end))
        self.index = 0

    def fail(self, position, detail):
        raise ExpressionError(self.text, position, detail)

    def take(self):
        token = self.tokens[self.index]
        if token[0] != "end":
            self.index += 1
        return token

    @staticmethod
    def describe(kind, token):
        if kind == "end":
            return "the end of the text"
        return f"the number {token}" if kind == "number" else repr(token)

    def node(self, expected, where):
        """Parse one sub-expression of type `expected` (a type, or the tuple of types gt / lt compare)."""
        kind, token, pos = self.take()
        lang = self.lang
        if expected in _MENUS:
            if kind == "number":
                found = lang.menu_nodes[expected].get(float(token))
                if found is None:
                    menu = ", ".join(map(number_text, _MENUS[expected]))
                    self.fail(pos, f"{_MENU_NOUN[expected]} {token} is not in the menu {menu}")
                return [found]
            self.fail(pos, f"expected {lang.expected(expected)} {where}, found {self.describe(kind, token)}")
        if kind != "name":
            self.fail(pos, f"expected {lang.expected(expected)} {where}, found {self.describe(kind, token)}")
        nodes = lang.by_name.get(token)
        allowed = expected if isinstance(expected, tuple) else (expected,)
        if nodes is None:
            detail = f"unknown name {token!r} where {lang.expected(expected)} is expected {where}"
            self.fail(pos, detail + _suggestion(token, [n for t in allowed for n in lang.names_of[t]], lang.by_name))
        ret = nodes[0].ret
        if ret not in allowed:
            self.fail(pos, f"{token!r} gives {_article(ret.__name__)}, but {lang.expected(expected)} is expected "
                           f"{where}")
        if nodes[0].arity == 0:
            if self.tokens[self.index][0] == "punct" and self.tokens[self.index][1] == "(":
                self.fail(self.tokens[self.index][2], f"{token!r} is a series and takes no arguments")
            return [nodes[0]]
        paren = self.take()
        if paren[1] != "(" or paren[0] != "punct":
            self.fail(paren[2], f"expected '(' after {token!r}: {lang.signature(token)}, "
                                f"found {self.describe(*paren[:2])}")
        if len(nodes) > 1:  # gt / lt: the first argument's type picks the variant
            first = self.node(_COMPARABLE, f"as argument 1 of {token}")
            prim = next(n for n in nodes if n.args[0] is first[0].ret)
        else:
            prim = nodes[0]
            first = self.node(prim.args[0], f"as argument 1 of {lang.signature(token)}")
        out = [prim, *first]
        sig = f"{token}({','.join(a.__name__ for a in prim.args)})"
        for i, arg in enumerate(prim.args[1:], 2):
            kind, comma, cpos = self.take()
            if comma != ",":
                if comma == ")":
                    self.fail(cpos, f"{sig} takes {prim.arity} arguments, found ')' after argument {i - 1}")
                self.fail(cpos, f"expected ',' before argument {i} of {sig}, found {self.describe(kind, comma)}")
            out += self.node(arg, f"as argument {i} of {sig}")
        kind, close, cpos = self.take()
        if close != ")":
            if close == ",":
                self.fail(cpos, f"too many arguments: {sig} takes {prim.arity}")
            self.fail(cpos, f"expected ')' to close {token!r} opened at column {paren[2] + 1}, "
                            f"found {self.describe(kind, close)}")
        return out


def _suggestion(name, preferred, everything):
    for pool in (preferred, list(everything)):
        lower = [n for n in pool if n.lower() == name.lower()]
        close = lower or difflib.get_close_matches(name, pool, n=3, cutoff=0.6)
        if close:
            return ". Did you mean " + " or ".join(map(repr, close)) + "?"
    return ""


def parse(text, tree_class=gp.PrimitiveTree):
    """Read a strategy expression (the `to_expression` form, spaces allowed) into a `tree_class` of pset nodes.

    Raises ExpressionError (a UserError) pointing at the first position that cannot be read.
    """
    if not isinstance(text, str):
        raise TypeError(f"parse() takes the expression as a str, not {type(text).__name__}")
    parser = _Parser(text)
    if parser.tokens[0][0] == "end":
        parser.fail(0, f"the expression is empty; expected {parser.lang.expected(Signal)}")
    try:
        nodes = parser.node(Signal, "as the strategy (the whole expression is a Signal)")
    except RecursionError:
        raise ExpressionError(text, 0, "the expression is nested too deeply") from None
    kind, token, pos = parser.tokens[parser.index]
    if kind != "end":
        rest = text[pos:].rstrip()
        rest = rest if len(rest) <= 30 else rest[:27] + "..."
        parser.fail(pos, f"unexpected text after the complete expression: {rest!r}")
    return tree_class(nodes)
