"""A whole generation in one call: `toolbox.evaluate_batch(individuals)`, vectorised with NumPy.

    python -m hpcevo run --problem examples.batch_rastrigin:make_toolbox -O dimension=30   # repo root
    python examples/batch_rastrigin.py [--quick] [--ranks N] [--out DIR]                    # anywhere

When a toolbox has `evaluate_batch`, the engine hands it a generation's offspring in one call (in-process), or
in one contiguous chunk per worker rank (with `--ranks-per-island` above 1), instead of calling `evaluate` once
per individual. It returns one fitness tuple per individual, in order; an entry may be an exception instance
(e.g. `hpcevo.errors.Rejected(...)`) for an individual that failed, and only that one is penalised. If the call
itself raises, the engine evaluates that batch again one by one with `evaluate`.

`evaluate` must stay, and must agree exactly with the batch (hpcevo checks both on one individual when the
problem loads): here both are the same NumPy kernel, applied to a matrix of one row or of many. NumPy reduces each
row of a C-contiguous matrix the same way whatever the number of rows, so the results, and the run's files,
do not depend on how a generation was split into calls.
"""

import sys

import numpy as np

from hpcevo.problems.functions import rastrigin


def rastrigin_rows(x):
    """Rastrigin of every row of the 2-D array `x`: 10 d + sum (x^2 - 10 cos(2 pi x))."""
    return 10.0 * x.shape[1] + np.sum(x * x - 10.0 * np.cos(2.0 * np.pi * x), axis=1)


def evaluate_batch(individuals):
    values = rastrigin_rows(np.asarray(individuals, dtype=np.float64))
    return [(float(v),) for v in values]


def evaluate(individual):
    return evaluate_batch([individual])[0]


def make_toolbox(dimension=30, batch=True):
    """hpcevo's Rastrigin toolbox evaluated by the vectorised kernel, a generation per call (`batch=False`: the
    same kernel one individual per call, to compare)."""
    toolbox = rastrigin(dimension)
    toolbox.register("evaluate", evaluate)
    if batch:
        toolbox.register("evaluate_batch", evaluate_batch)  # in place of the built-in's own batch
    else:
        toolbox.unregister("evaluate_batch")  # the built-in's batch gives its own evaluate's floats, not these
    return toolbox


def print_best(out):
    import json

    best = json.loads((out / "summary.json").read_text())["best"]["fitness"][0]
    print(f"best Rastrigin value {best:.6g} (0 is the optimum)")


if __name__ == "__main__":
    from _run import run_example  # examples/_run.py: prints and runs `python -m hpcevo run ...`

    sys.exit(run_example("batch_rastrigin", ["--problem", "examples.batch_rastrigin:make_toolbox",
                                             "-O", "dimension=30"],
                         quick=["--population", "12", "--generations", "4", "--migration-interval", "2"],
                         full=["--population", "100", "--generations", "100", "--migration-interval", "10"],
                         report=print_best))
