"""Start-up at scale: a rank imports only what its role needs, and summary.json says how long the ranks took."""

import json
import os
import subprocess
import sys

import pytest
from conftest import MPIEXEC, ROOT

from hpcevo.rundir import startup_summary
from hpcevo.runner import startup_seconds

HEAVY = ("pandas", "scipy", "pyarrow", "matplotlib", "numba", "hpcevo.trading.language", "hpcevo.trading.data")

# Every rank runs the CLI, then says which heavy modules it had imported by the end of the run.
WRAPPER = '''
import atexit, os, runpy, sys

def said():
    heavy = [m for m in {heavy!r} if m in sys.modules]
    with open(f"imported.{{os.environ.get('PMI_RANK', '0')}}", "w") as fh:
        fh.write(",".join(heavy))

atexit.register(said)
sys.argv = ["hpcevo", *sys.argv[1:]]
runpy.run_module("hpcevo", run_name="__main__", alter_sys=True)
'''


def test_startup_summary_names_the_slowest_rank():
    processes = [{"rank": r, "host": f"n{r // 2}", "startup": s} for r, s in enumerate([1.5, 4.0, 2.0, 4.0])]
    assert startup_summary(processes) == {"slowest_seconds": 4.0, "median_seconds": 3.0, "slowest_rank": 1,
                                          "slowest_host": "n0"}
    assert startup_summary(processes[:3])["median_seconds"] == 2.0


def test_startup_seconds_is_this_process_age():
    age = startup_seconds()
    assert 0 < age < 24 * 3600


@pytest.mark.slow
def test_a_non_trading_run_imports_no_trading_stack(tmp_path):
    """onemax on 4 ranks in groups of 2 (leaders and evaluator ranks): no rank imports pandas, scipy, pyarrow,
    matplotlib or the trading modules; summary.json records the ranks' start-up."""
    (tmp_path / "wrapper.py").write_text(WRAPPER.format(heavy=HEAVY))
    run = subprocess.run([MPIEXEC, "-n", "4", sys.executable, "wrapper.py", "run", "--problem", "onemax",
                          "--generations", "2", "--population", "8", "--ranks-per-island", "2", "--quiet",
                          "--out", "r"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT), "MPIEXEC_TIMEOUT": "110"})
    assert run.returncode == 0, run.stderr
    assert [(tmp_path / f"imported.{r}").read_text() for r in range(4)] == ["", "", "", ""]
    startup = json.loads((tmp_path / "r" / "summary.json").read_text())["startup"]
    assert 0 < startup["median_seconds"] <= startup["slowest_seconds"] and 0 <= startup["slowest_rank"] < 4
