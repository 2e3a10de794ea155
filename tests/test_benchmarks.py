"""The benchmarks still run (smoke sizes, written to a temporary copy of BENCHMARKS.md), so they never rot."""

import subprocess
import sys

import pytest
from conftest import ROOT

pytestmark = pytest.mark.slow  # benchmark scripts at smoke size

# script, its section marker, text its smoke report must contain, timeout (s)
SCRIPTS = [
    ("bench_engine.py", "bench_engine:begin", ("**met**", "**not met**"), 240),
    ("bench_trading.py", "bench_trading:begin", ("**met**", "**not met**"), 240),
    ("bench_peers.py", "bench_peers:begin", ("evals/s vs eaSimple map",), 240),
    ("bench_scaling.py", "bench_scaling:begin", ("Weak scaling", "What 1,024 ranks would cost"), 120),
    ("bench_coordination.py", "bench_coordination:begin", ("rank 0's bytes per epoch grow",), 120),
    ("bench_checkpoint.py", "bench_checkpoint:begin", ("bytes sent to rank 0 per island",), 120),
    ("bench_indicators.py", "bench_indicators:begin", ("Largest difference over the table",), 120),
    ("bench_batch.py", "bench_batch:begin", ("NumPy kernel, evaluate_batch",), 120),
    ("bench_startup.py", "bench_startup:begin", ("| kernels, compiling (",), 300),
    ("bench_walkforward.py", "bench_walkforward:begin", ("Identical walkforward.csv and walkforward_returns.csv in "
                                                         "both layouts: yes",), 180),
]


@pytest.mark.parametrize("script, marker, expected, timeout", SCRIPTS, ids=[s[0] for s in SCRIPTS])
def test_benchmark_quick_run(tmp_path, script, marker, expected, timeout):
    target = tmp_path / "BENCHMARKS.md"
    target.write_text((ROOT / "BENCHMARKS.md").read_text())
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--quick", "--repeats", "1", "--write",
                          "--benchmarks-file", str(target)], capture_output=True, text=True, timeout=timeout,
                         cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    text = target.read_text()
    section = text[text.index(marker):]
    assert "--quick" in section[:1500]  # the Command line of the section records the smoke run
    assert any(e in section for e in expected), section[:3000]
    if script == "bench_scaling.py":  # the smoke run stays on at most 4 ranks
        assert "up to 4 ranks" in section[:1500]


def test_fitness_cost_benchmark_quick_run(tmp_path):
    """bench_fitness_cost.py side by side with a baseline commit (HEAD here, so a shallow clone has it too)."""
    target = tmp_path / "BENCHMARKS.md"
    target.write_text((ROOT / "BENCHMARKS.md").read_text())
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_fitness_cost.py"), "--quick", "--baseline",
                          "HEAD", "--write", "--benchmarks-file", str(target)], capture_output=True, text=True,
                         timeout=300, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    section = target.read_text().split("<!-- bench_fitness_cost:begin", 1)[1]
    assert "--quick --baseline HEAD" in section[:1500] and ("**met**" in section or "**not met**" in section)
    assert section.count("| this checkout") == 2 and "| baseline (Sharpe, drawdown, win rate) |" in section
