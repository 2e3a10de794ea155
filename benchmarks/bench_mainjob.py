"""The default main job on two commits, side by side: evaluations per second of wall time, one core.

Runs `python -m hpcevo --out DIR --quiet` (the default job: trading on the embedded S&P 500, 4 islands x 100,
100 generations) from a detached git worktree of `--base` (default b917855, the commit issue 13 started from)
and from this checkout, alternately (base first in odd repeats, this checkout first in even ones), each as a
single-threaded process pinned to one core. Per run it records the whole process's wall and CPU time and, from
summary.json, the evolution loop (`wall_seconds`), the evaluations and the time outside the loop spent writing
the outputs and the report (`seconds.output`). Ratios are this checkout's rate over the base's, per repeat.

    python benchmarks/bench_mainjob.py [--quick] [--repeats N] [--base COMMIT] [--write]
"""

import json
import os
import shutil
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
    package_version,
    publish,
    run_process,
    table,
    utc_now,
    worktree,
)

BEGIN = "<!-- bench_mainjob:begin (written by benchmarks/bench_mainjob.py --write; edits here are replaced) -->"
END = "<!-- bench_mainjob:end -->"
BASE = "b917855"
TARGET = 5.0  # issue 13: at least 5x more evaluations per second of wall time, one core
SIZES = {"quick": {"repeats": 1, "generations": 10}, "full": {"repeats": 3, "generations": None}}
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "NUMEXPR_NUM_THREADS": "1"}


def one_core():
    """The first CPU this process may use, to pin every run to the same one."""
    return min(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None


def run_job(tree, out, generations, core):
    """Run the default job from the source tree `tree` into `out`; return its measurements."""
    cmd = [PYTHON, "-m", "hpcevo", "--out", str(out), "--quiet"]
    if generations:
        cmd += ["--generations", str(generations)]
    env = {**os.environ, **ONE_THREAD, "PYTHONPATH": str(tree)}
    pin = (lambda: os.sched_setaffinity(0, {core})) if core is not None else None
    wall, cpu, _ = run_process(cmd, timeout=900, cwd=tree, env=env, preexec_fn=pin)
    summary = json.loads((Path(out) / "summary.json").read_text())
    return {"wall": wall, "cpu": cpu, "loop": summary["wall_seconds"],
            "evaluations": summary["evaluations"], "output": summary["seconds"]["output"],
            "evaluation": summary["seconds"]["evaluation"]}


def measure(size, base_tree, workdir, load):
    core = one_core()
    trees = {"base": base_tree, "head": ROOT}
    runs = {"base": [], "head": []}
    load.start("1")
    for repeat in range(size["repeats"]):
        order = ["base", "head"] if repeat % 2 == 0 else ["head", "base"]
        for name in order:
            out = Path(workdir) / f"{name}-{repeat}"
            got = run_job(trees[name], out, size["generations"], core)
            runs[name].append(got)
            log(f"repeat {repeat + 1}: {name}: process {got['wall']:.2f}s, loop {got['loop']:.2f}s, "
                f"{got['evaluations']:,} evaluations")
            shutil.rmtree(out)
    load.stop()
    return runs


def _ratio_text(values):
    return f"**{median(values):.2f}x** ({min(values):.2f}-{max(values):.2f})"


def report(size, runs, base_commit, args, started, took, load, kernels):
    rows = []
    labels = {"base": f"{base_commit} (issue 13's start)", "head": f"{git_commit()} (this checkout)"}
    for name in ("base", "head"):
        r = runs[name]
        rows.append([labels[name], f"{median(x['evaluations'] for x in r):,.0f}",
                     f"{median(x['wall'] for x in r):.2f}s", f"{median(x['cpu'] / x['wall'] for x in r):.2f}",
                     f"{median(x['loop'] for x in r):.2f}s", f"{median(x['output'] for x in r):.2f}s",
                     f"{median(x['wall'] - x['loop'] - x['output'] for x in r):.2f}s",
                     f"**{median(x['evaluations'] / x['wall'] for x in r):,.0f}/s**",
                     f"{median(x['evaluations'] / x['loop'] for x in r):,.0f}/s",
                     f"{median(x['evaluations'] / x['evaluation'] for x in r):,.0f}/s"])
    per_process = [(h["evaluations"] / h["wall"]) / (b["evaluations"] / b["wall"])
                   for b, h in zip(runs["base"], runs["head"])]
    per_loop = [(h["evaluations"] / h["loop"]) / (b["evaluations"] / b["loop"])
                for b, h in zip(runs["base"], runs["head"])]
    per_eval = [(h["evaluations"] / h["evaluation"]) / (b["evaluations"] / b["evaluation"])
                for b, h in zip(runs["base"], runs["head"])]
    command = "python benchmarks/bench_mainjob.py" + (" --quick" if args.quick else "") + \
        (f" --base {args.base}" if args.base != BASE else "")
    gens = f"{size['generations']} generations (quick; not the default)" if size["generations"] else \
        "default 100 generations"
    verdict_whole = "met" if median(per_process) >= TARGET else f"not met ({median(per_process):.2f}x of {TARGET:g}x)"
    verdict_loop = "met" if median(per_loop) >= TARGET else f"not met ({median(per_loop):.2f}x of {TARGET:g}x)"
    return "\n".join([
        "## The default main job, before and after (`benchmarks/bench_mainjob.py`)", "",
        f"- Command: `{command}` ({size['repeats']} alternating repeat(s), median shown, per-repeat ratio range "
        f"in brackets; took {took / 60:.1f} min)",
        f"- Date: {started}",
        f"- Machine: {os.cpu_count()} cores (`nproc`), {cpu_model()}; every run single-threaded and pinned to one "
        f"core",
        f"- CPU taken by others while measuring (cores, on average): {load.text()}",
        f"- Software: Python {sys.version.split()[0]}, numpy {package_version('numpy')}, "
        f"deap {package_version('deap')}, scipy {package_version('scipy')}, arch {package_version('arch')}",
        f"- Kernels, compiled ahead in this checkout before the runs (`python -m hpcevo.trading.kernels`, as "
        f"jobs/slurm/run.sh does): {kernels}", "",
        f"`python -m hpcevo --out DIR --quiet`, {gens}, run from a worktree of each commit with the same Python "
        "and libraries. Process = the whole command; loop = summary.json `wall_seconds` (evolution only); "
        "outputs = `seconds.output` (result files and the overfitting statistics); start-up = process - loop - "
        "outputs (imports, data checks). Evaluation-only = evaluations / `seconds.evaluation`.", "",
        table(["Commit", "evaluations", "process", "CPU/wall", "loop", "outputs", "start-up",
               "evaluations/s (process)", "evaluations/s (loop)", "evaluation-only"], rows), "",
        "This checkout over the base, per repeat:", "",
        f"- evaluations per second of the whole process: {_ratio_text(per_process)}; {TARGET:g}x goal: "
        f"{verdict_whole}",
        f"- evaluations per second of the evolution loop: {_ratio_text(per_loop)}; {TARGET:g}x goal: "
        f"{verdict_loop}",
        f"- evaluations per second of evaluation time alone: {_ratio_text(per_eval)}", ""])


def main():
    def base_option(parser):
        parser.add_argument("--base", default=BASE, help=f"the commit to compare with (default {BASE})")

    args, size = bench_args(__doc__, "10 generations, one repeat", "alternating repeats (default 3)", SIZES,
                            extra=base_option)
    base = args.base
    started = utc_now()
    t0 = time.perf_counter()
    load = OtherLoad()
    kernels = compile_kernels()  # the base commit has no kernels
    with tempfile.TemporaryDirectory(prefix="hpcevo-mainjob-") as workdir:
        base_tree = Path(workdir) / "base"
        with worktree(base, base_tree) as commit:
            runs = measure(size, base_tree, workdir, load)
    publish(report(size, runs, commit, args, started, time.perf_counter() - t0, load, kernels), args, BEGIN, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
