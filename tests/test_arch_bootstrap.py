"""hpcevo.trading.arch_bootstrap: arch.bootstrap without arch's package file (no statsmodels, no GARCH models),
and the rest of arch still there for whoever asks for it later in the same process. Each check runs in a fresh
interpreter: whether arch was imported before is the point."""

import subprocess
import sys
from importlib import metadata

import pytest


def _python(code):
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return run.stdout.split()


def test_the_report_statistics_import_arch_bootstrap_alone():
    out = _python("import sys, hpcevo.trading.overfitting as o, arch.bootstrap as b\n"
                  "print(o.SPA is b.SPA, o.StationaryBootstrap is b.StationaryBootstrap, "
                  "o.optimal_block_length is b.optimal_block_length, 'arch.univariate' in sys.modules, "
                  "'statsmodels' in sys.modules)")
    assert out == ["True", "True", "True", "False", "False"]


@pytest.mark.parametrize("later", [
    "import arch; print(arch.__version__)",
    "from arch import arch_model; import arch; print(arch.__version__)",
    "import arch.univariate, arch; print(arch.__version__)",
    "from arch import *; import arch; print(arch.__version__ if arch_model is arch.arch_model else 'differs')",
])
def test_the_rest_of_arch_works_afterwards(later):
    out = _python(f"import hpcevo.trading.overfitting\n{later}\n"
                  "import sys, arch; print(callable(arch.arch_model), 'arch.univariate' in sys.modules)")
    assert out == [metadata.version("arch"), "True", "True"]


def test_arch_imported_first_is_used_as_it_is():
    out = _python("import arch, hpcevo.trading.arch_bootstrap as a, arch.bootstrap as b\n"
                  "print(a.SPA is b.SPA, hasattr(arch, 'arch_model'), '__getattr__' in vars(arch))")
    assert out == ["True", "True", "False"]


def test_an_unknown_name_is_still_an_attribute_error():
    out = _python("import hpcevo.trading.overfitting, arch\n"
                  "try:\n    arch.no_such_thing\nexcept AttributeError:\n    print('AttributeError')\n"
                  "print(hasattr(arch, '__wrapped__'))")
    assert out == ["AttributeError", "False"]
