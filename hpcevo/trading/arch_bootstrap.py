"""arch.bootstrap, the part of arch the report uses, without the half-second arch's package file adds.

`arch/__init__.py` imports `arch.univariate` (the GARCH models), which imports statsmodels and, where it is
installed, matplotlib: about 0.5 s on the 2-core VM of BENCHMARKS.md, a sixteenth of the default job, for code
hpcevo never calls. When no one has imported arch yet, `load()` registers the `arch` package without running that
file (`importlib.util.module_from_spec`, which sets `__path__`, so `arch.bootstrap` imports as usual) and gives
the package a module `__getattr__` (PEP 562) that runs the file on the first use of a name it defines: later
`import arch; arch.arch_model(...)` or `arch.__version__` in the same process work as ever. If arch is already
imported, or its spec is not a plain package, it is imported as usual.
"""

import importlib
import importlib.util
import sys

__all__ = ["SPA", "StationaryBootstrap", "optimal_block_length", "load"]


def load():
    """The arch.bootstrap module."""
    if "arch" not in sys.modules:
        spec = importlib.util.find_spec("arch")
        if spec is not None and spec.loader is not None and spec.submodule_search_locations is not None:
            sys.modules["arch"] = _deferred(spec)
    return importlib.import_module("arch.bootstrap")  # not `from arch import bootstrap`: that asks the package


def _deferred(spec):
    package = importlib.util.module_from_spec(spec)

    def __getattr__(name):  # the package file runs once, then answers every name itself
        if name.startswith("__") and name.endswith("__") and name not in ("__version__", "__all__"):
            raise AttributeError(name)  # probing for __wrapped__, __loader__ ...: not a reason to run the file
        del package.__getattr__
        spec.loader.exec_module(package)
        return getattr(package, name)

    package.__getattr__ = __getattr__
    return package


_bootstrap = load()
SPA, StationaryBootstrap, optimal_block_length = _bootstrap.SPA, _bootstrap.StationaryBootstrap, \
    _bootstrap.optimal_block_length
