"""hpcevo: island-model evolutionary search with DEAP over MPI ranks.

`hpcevo.evolve(toolbox, islands=8, generations=300, seed=7)` runs a search from Python (a script, a notebook,
or every rank of `mpiexec -n N python script.py`); `hpcevo.load_run(RUN_DIR)` reads a run folder back.
"""

import time as _time

__version__ = "0.2.0"
IMPORTED = _time.perf_counter()  # start-up times fall back to "since hpcevo was imported" without /proc
__all__ = ["__version__", "evolve", "load_run", "Result", "UserError", "ConfigError", "ProblemError", "WorldError",
           "Rejected"]

_LAZY = {"evolve": "api", "load_run": "api", "Result": "api", "UserError": "errors", "ConfigError": "errors",
         "ProblemError": "errors", "WorldError": "errors", "Rejected": "errors"}


def __getattr__(name):
    """Import the API on first use, so `python -m hpcevo --help` and MPI start-up stay light."""
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    import importlib.util

    if not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        return importlib.import_module(f".{name}", __name__)  # hpcevo.cli.main(...) without importing hpcevo.cli
    raise AttributeError(f"module 'hpcevo' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
