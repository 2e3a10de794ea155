"""Walk-forward windows side by side against one after another, on the same ranks, and the default walk-forward.

Section 1 runs one walk-forward (5 windows of the embedded S&P 500, a smaller search than the default) under
`mpiexec -n RANKS` with RANKS islands, alternating `--parallel 1` (one window at a time, one island per rank) with
`--parallel RANKS` (RANKS windows at once, each with all its islands on one rank), and checks that both wrote
byte-identical walkforward.csv and walkforward_returns.csv. Section 2 times the default walk-forward
(`python -m hpcevo walkforward`, 5 windows of the full default search) in one process pinned to one core; --quick
leaves it out.

    python benchmarks/bench_walkforward.py [--quick] [--repeats N] [--ranks 2] [--write]
"""

import os
import platform
import tempfile
from pathlib import Path

import harness
from harness import PYTHON, log, median, run_process, table

BEGIN, END = "<!-- bench_walkforward:begin -->", "<!-- bench_walkforward:end -->"
SIZES = {"quick": {"repeats": 1, "population": 20, "generations": 10},
         "full": {"repeats": 2, "population": 40, "generations": 30}}
OUTPUTS = ("walkforward.csv", "walkforward_returns.csv")


def _extra(parser):
    parser.add_argument("--ranks", type=int, default=2, help="ranks of section 1 (default 2: one per core here)")
    parser.add_argument("--skip-default", action="store_true", help="leave out section 2 (the default walk-forward)")


def side_by_side(size, ranks, workdir):
    mpiexec = harness.mpiexec("bench_walkforward")
    search = ["--islands", ranks, "--population", size["population"], "--generations",
              size["generations"], "--migration-interval", 5, "--migrants", 2, "--quiet"]
    walls = {"1": [], str(ranks): []}
    files = {}
    for repeat in range(size["repeats"]):
        for parallel in walls:
            out = Path(workdir) / f"p{parallel}-{repeat}"
            cmd = [mpiexec, "-n", ranks, PYTHON, "-m", "hpcevo", "walkforward", *search, "--parallel", parallel,
                   "--out", out]
            wall, _, _ = run_process([str(c) for c in cmd], timeout=1800)
            walls[parallel].append(wall)
            files.setdefault(parallel, [(out / name).read_bytes() for name in OUTPUTS])
            log(f"  --parallel {parallel}: {wall:.1f} s")
    same = files["1"] == files[str(ranks)]
    return walls, same, search


def default_walkforward(workdir):
    out = Path(workdir) / "default"
    wall, cpu, _ = run_process([PYTHON, "-m", "hpcevo", "walkforward", "--out", str(out), "--quiet"], timeout=3600,
                               preexec_fn=lambda: os.sched_setaffinity(0, {0}))
    import json

    summary = json.loads((out / "summary.json").read_text())
    evaluations = sum(json.loads((out / w["folder"] / "summary.json").read_text())["evaluations"]
                      for w in summary["windows"])
    return wall, evaluations, summary


def main():
    args, size = harness.bench_args(__doc__, "smaller searches, one repeat", "alternating repeats of section 1",
                                    SIZES, _extra)
    env_note = f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}"
    load = harness.OtherLoad()
    with tempfile.TemporaryDirectory(prefix="hpcevo-wf-") as workdir:
        load.start("1")
        walls, same, search = side_by_side(size, args.ranks, workdir)
        load.stop()
        one, many = median(walls["1"]), median(walls[str(args.ranks)])
        sections = [
            "### 1. Windows side by side against one after another\n\n"
            f"`mpiexec -n {args.ranks} python -m hpcevo walkforward {' '.join(map(str, search))}` with "
            f"`--parallel 1` and `--parallel {args.ranks}`, alternating, {size['repeats']} repeat(s); median wall "
            f"seconds.\n\n"
            + table(["layout", "wall s", "runs"], [
                ["one window at a time on every rank (--parallel 1)", f"{one:.1f}",
                 ", ".join(f"{w:.1f}" for w in walls["1"])],
                [f"{args.ranks} windows side by side (--parallel {args.ranks})", f"{many:.1f}",
                 ", ".join(f"{w:.1f}" for w in walls[str(args.ranks)])],
            ])
            + f"\n\nSpeed-up of side by side: **{one / many:.2f}x**. Identical walkforward.csv and "
              f"walkforward_returns.csv in both layouts: {'yes' if same else '**NO**'}.\n"
            "One after another, both ranks share each window's evolution, but its start-up (data, checks) and its "
            "end-of-run\nreport (the overfitting statistics, about a second) run on the window's first rank while "
            "the other waits; side\nby side, every rank does all of that for its own windows, so the gain is that "
            "serial share, not 2x.\n"]
        if args.quick or args.skip_default:
            sections.append("### 2. The default walk-forward on one core\n\nLeft out (--quick or --skip-default).\n")
        else:
            load.start("2")
            wall, evaluations, summary = default_walkforward(workdir)
            load.stop()
            wf = summary["walkforward"]
            sections.append(
                "### 2. The default walk-forward on one core\n\n"
                "`python -m hpcevo walkforward --quiet` (5 windows of 8 + 2 years on the embedded S&P 500, each "
                "the default search: 4 islands x 100, 100 generations), one process pinned to one core.\n\n"
                + table(["wall s", "evaluations", "evaluations/s", "windows", "record Sharpe", "buy-and-hold"],
                        [[f"{wall:.1f}", f"{evaluations:,}", f"{evaluations / wall:,.0f}", wf["windows"],
                          f"{wf['oos_sharpe']:.2f}", f"{wf['buy_and_hold_sharpe']:.2f}"]])
                + f"\n\nVerdict: {wf['verdict']}.\n")
    header = (f"## Walk-forward (bench_walkforward.py)\n\nCommand: `python benchmarks/bench_walkforward.py"
              f"{' --quick' if args.quick else ''} --ranks {args.ranks}`. Machine: {harness.cpu_model()}, "
              f"{os.cpu_count()} cores, Python {platform.python_version()}, {env_note}. Commit "
              f"{harness.git_commit(tracked_only=True)}. Date: {harness.utc_now()}. Other load: {load.text()}.\n\n")
    text = header + "\n".join(sections)
    print(text)
    if args.write:
        harness.write_benchmarks(args.benchmarks_file, text, BEGIN, END)


if __name__ == "__main__":
    main()
