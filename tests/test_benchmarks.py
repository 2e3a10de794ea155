"""The benchmarks still run (smoke sizes, written to a temporary copy of BENCHMARKS.md), so they never rot."""

import subprocess
import sys

import pytest
from conftest import ROOT


@pytest.mark.parametrize("script, marker", [("bench_engine.py", "bench_engine:begin"),
                                            ("bench_trading.py", "bench_trading:begin")])
def test_benchmark_quick_run(tmp_path, script, marker):
    target = tmp_path / "BENCHMARKS.md"
    target.write_text((ROOT / "BENCHMARKS.md").read_text())
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--quick", "--repeats", "1", "--write",
                          "--benchmarks-file", str(target)], capture_output=True, text=True, timeout=240,
                         cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    text = target.read_text()
    section = text[text.index(marker):]
    assert "--quick" in section[:1500]  # the Command line of the section records the smoke run
    assert "**met**" in section or "**not met**" in section
