"""Symbolic regression with DEAP's genetic programming on hpcevo: find a formula through sampled points.

    python -m hpcevo run --problem examples.symbolic_regression:make_toolbox -O points=20   # from the repo root
    python examples/symbolic_regression.py [--quick] [--ranks N] [--out DIR]              # from anywhere

GP trees travel between ranks as migrants and into checkpoints (pickled), hence three rules:

- The ephemeral constant's generator is a named module-level function, not a lambda: the constants of a
  pickled tree refer to it by module and name.
- The ephemeral's name is unique in the process: hpcevo pickles ephemeral classes by name and gives a migrant's
  constants the receiving rank's class of that name, so they compare equal to local ones (the hall of fame
  de-duplicates with that). The set is built once, at import time, so there is one such class per process
  however often the factory runs.
- The set is untyped (`gp.PrimitiveSet`): with a typed set, `gp.cxOnePoint` chooses among node types in an
  order that changes from process to process, so serial and MPI runs would differ.
"""

import json
import math
import operator
import random
import sys

from deap import base, creator, gp, tools


def protected_div(a, b):
    """a / b, or 1 where b is (nearly) zero: every tree must evaluate everywhere."""
    return a / b if abs(b) > 1e-9 else 1.0


def random_constant():
    """The ephemeral constant's value, drawn from the global `random` (hpcevo seeds it per island)."""
    return random.randint(-2, 2)


PSET = gp.PrimitiveSet("MAIN", 1)
for _function, _arity in ((operator.add, 2), (operator.sub, 2), (operator.mul, 2), (protected_div, 2),
                          (operator.neg, 1), (math.sin, 1), (math.cos, 1)):
    PSET.addPrimitive(_function, _arity)
PSET.addEphemeralConstant("examples_symreg_constant", random_constant)
PSET.renameArguments(ARG0="x")


def target(x):
    """The formula to rediscover."""
    return x**4 + x**3 + x**2 + x


def make_toolbox(points=20, max_height=10):
    """Trees over x fitted by mean squared error at `points` x values in [-1, 1)."""
    if not hasattr(creator, "SymRegFitness"):
        creator.create("SymRegFitness", base.Fitness, weights=(-1.0,))
        creator.create("SymRegTree", gp.PrimitiveTree, fitness=creator.SymRegFitness)
    xs = [2 * i / points - 1 for i in range(points)]
    toolbox = base.Toolbox()
    toolbox.register("expr", gp.genHalfAndHalf, pset=PSET, min_=1, max_=3)
    toolbox.register("individual", tools.initIterate, creator.SymRegTree, toolbox.expr)
    toolbox.register("population", tools.initRepeat, list, toolbox.individual)
    toolbox.register("evaluate", mean_squared_error, xs=xs, ys=[target(x) for x in xs])
    toolbox.register("select", tools.selTournament, tournsize=3)
    toolbox.register("mate", gp.cxOnePoint)
    toolbox.register("expr_mut", gp.genFull, min_=0, max_=2)
    toolbox.register("mutate", gp.mutUniform, expr=toolbox.expr_mut, pset=PSET)
    # Bloat control as in DEAP's examples: a child taller than max_height is replaced by its parent.
    limit = gp.staticLimit(key=operator.attrgetter("height"), max_value=max_height)
    toolbox.decorate("mate", limit)
    toolbox.decorate("mutate", limit)
    # hpcevo hook: the text of an individual in hall_of_fame.json (default str(), DEAP's prefix form).
    toolbox.register("describe", infix)
    return toolbox


def mean_squared_error(tree, xs, ys):
    func = gp.compile(tree, PSET)
    return (math.fsum((func(x) - y) ** 2 for x, y in zip(xs, ys)) / len(xs),)


_INFIX = {"add": "+", "sub": "-", "mul": "*", "protected_div": "/"}


def infix(tree):
    """A tree as a formula: `add(mul(x, x), sin(x))` reads `(x * x) + sin(x)`."""
    def build(i, outermost):  # -> (text of the subtree whose root is node i, index of the node after it)
        node, args, j = tree[i], [], i + 1
        if node.arity == 0:
            return node.format(), j
        for _ in range(node.arity):
            text, j = build(j, node.name not in _INFIX)  # a function call's arguments need no parentheses
            args.append(text)
        if node.name not in _INFIX:
            return f"{node.name}({', '.join(args)})", j
        text = f" {_INFIX[node.name]} ".join(args)
        return (text if outermost else f"({text})"), j

    return build(0, True)[0]


def print_best(out):
    """Script mode: show the best formulas found (hall_of_fame.json holds their `describe` text)."""
    for entry in json.loads((out / "hall_of_fame.json").read_text())["individuals"][:3]:
        print(f"mse {entry['fitness'][0]:.4g}: y = {entry['individual']}")


if __name__ == "__main__":
    from _run import run_example  # examples/_run.py: prints and runs `python -m hpcevo run ...`

    sys.exit(run_example("symbolic_regression", ["--problem", "examples.symbolic_regression:make_toolbox",
                                                 "-O", "points=20", "--islands", "4"],
                         quick=["--population", "30", "--generations", "6", "--migration-interval", "3"],
                         full=["--population", "300", "--generations", "60", "--migration-interval", "5"],
                         report=print_best))
