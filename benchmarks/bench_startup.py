"""Start-up of the trading job on 4 ranks, with and without the compiled kernels: does a JIT make every rank wait?

Runs `mpiexec -n 4 python -m hpcevo --out DIR --quiet --generations 1` (the default trading job, one generation)
and reads summary.json's `startup` (each rank's seconds from the interpreter's start to the end of the set-up,
gathered by rank 0: the slowest and the median rank), for:

- `before`: the commit before the kernels (`--before`, default eabc6c6), from a detached worktree;
- `NumPy`: this checkout with `HPCEVO_JIT=0` (SciPy's lfilter, no numba);
- `kernels, ahead of time`: this checkout with the module `python -m hpcevo.trading.kernels` builds (aot.py),
  which the ranks load without importing numba (what jobs/slurm/run.sh sets up);
- `kernels, cached`: this checkout with numba's cache in place and `HPCEVO_AOT=0` (the JIT loading its cache);
- `kernels, compiling`: this checkout with `NUMBA_CACHE_DIR` pointing at an empty folder, so all four ranks
  compile the kernels at the same moment (the first run after an install, had run.sh not compiled ahead).

The variants alternate within each repeat; 4 ranks share the machine's cores, so the figures include that
contention, as a node's ranks would.

    python benchmarks/bench_startup.py [--quick] [--repeats N] [--before COMMIT] [--write]
"""

import json
import os
import sys
import tempfile
import time
from pathlib import Path

from harness import (
    PYTHON,
    ROOT,
    OtherLoad,
    bench_args,
    compile_kernels,
    cpu_model,
    git_commit,
    log,
    median,
    mpiexec,
    package_version,
    publish,
    run_process,
    table,
    utc_now,
    worktree,
)

BEGIN = "<!-- bench_startup:begin (written by benchmarks/bench_startup.py --write; edits here are replaced) -->"
END = "<!-- bench_startup:end -->"
BEFORE = "eabc6c6"
RANKS = 4
SIZES = {"quick": {"repeats": 1}, "full": {"repeats": 3}}
VARIANTS = ("before", "NumPy", "kernels, ahead of time", "kernels, cached", "kernels, compiling")


def run_once(launcher, tree, out, env):
    cmd = [launcher, "-n", str(RANKS), PYTHON, "-m", "hpcevo", "--out", str(out), "--quiet", "--generations", "1"]
    wall, _, _ = run_process(cmd, timeout=600, cwd=tree, env={**os.environ, "PYTHONPATH": str(tree),
                                                                "OMP_NUM_THREADS": "1", **env})
    startup = json.loads((Path(out) / "summary.json").read_text())["startup"]
    return {"slowest": startup["slowest_seconds"], "median": startup["median_seconds"], "wall": wall}


def measure(size, before_tree, workdir, load):
    launcher = mpiexec("bench_startup")
    compile_kernels(check=True)  # numba's cache and the ahead-of-time module, as jobs/slurm/run.sh makes them
    runs = {name: [] for name in VARIANTS}
    load.start("1")
    for repeat in range(size["repeats"]):
        shift = repeat % len(VARIANTS)
        for name in VARIANTS[shift:] + VARIANTS[:shift]:
            env, tree = {}, ROOT
            if name == "before":
                tree = before_tree
            elif name == "NumPy":
                env = {"HPCEVO_JIT": "0"}
            elif name == "kernels, cached":
                env = {"HPCEVO_AOT": "0"}  # numba's JIT, loading its cache
            elif name == "kernels, compiling":
                env = {"NUMBA_CACHE_DIR": tempfile.mkdtemp(dir=workdir, prefix="numba-cache-")}
            got = run_once(launcher, tree, Path(workdir) / f"{repeat}-{VARIANTS.index(name)}", env)
            runs[name].append(got)
            log(f"repeat {repeat + 1}: {name}: slowest rank {got['slowest']:.2f}s, median {got['median']:.2f}s, "
                f"whole command {got['wall']:.2f}s")
    load.stop()
    return runs


def report(size, runs, before_commit, args, started, took, load):
    rows = []
    for name in VARIANTS:
        r = runs[name]
        label = f"{name} ({before_commit})" if name == "before" else f"{name} ({git_commit()})"
        rows.append([label, f"{median(x['slowest'] for x in r):.2f}s ({min(x['slowest'] for x in r):.2f}-"
                            f"{max(x['slowest'] for x in r):.2f})",
                     f"{median(x['median'] for x in r):.2f}s", f"{median(x['wall'] for x in r):.2f}s"])
    command = "python benchmarks/bench_startup.py" + (" --quick" if args.quick else "")
    return "\n".join([
        f"## Start-up on {RANKS} ranks, with and without the compiled kernels (`benchmarks/bench_startup.py`)", "",
        f"- Command: `{command}` ({size['repeats']} repeat(s), variants alternating; median, range in brackets; "
        f"took {took / 60:.1f} min)",
        f"- Date: {started}",
        f"- Machine: {os.cpu_count()} cores (`nproc`), {cpu_model()}; {RANKS} ranks share them",
        f"- CPU taken by others while measuring (cores, on average): {load.text()}",
        f"- Software: Python {sys.version.split()[0]}, numpy {package_version('numpy')}, "
        f"numba {package_version('numba')}, scipy {package_version('scipy')}, mpich {package_version('mpich')}", "",
        f"`mpiexec -n {RANKS} python -m hpcevo --out DIR --quiet --generations 1`; start-up = summary.json "
        "`startup`, each rank's seconds from its interpreter's start to the end of its set-up (imports, MPI, the "
        "data and the toolbox), the slowest rank and the median one. Whole command = mpiexec's wall time "
        "(one generation and the outputs included).", "",
        table(["Variant", "slowest rank", "median rank", "whole command"], rows), ""])


def main():
    def before_option(parser):
        parser.add_argument("--before", default=BEFORE, help=f"the commit before the kernels (default {BEFORE})")

    args, size = bench_args(__doc__, "one repeat", "repeats (default 3)", SIZES, extra=before_option)
    started = utc_now()
    t0 = time.perf_counter()
    load = OtherLoad()
    with tempfile.TemporaryDirectory(prefix="hpcevo-startup-") as workdir:
        before_tree = Path(workdir) / "before"
        with worktree(args.before, before_tree) as commit:
            runs = measure(size, before_tree, workdir, load)
    publish(report(size, runs, commit, args, started, time.perf_counter() - t0, load), args, BEGIN, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
