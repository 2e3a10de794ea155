"""Harness shared by the benchmark scripts of this folder (bench_engine.py, bench_trading.py).

Logging, medians and Markdown tables, running a command from the repository root with its wall and CPU
time, the CPU that other processes took while a section ran, the machine's description, and writing a
script's marked section of BENCHMARKS.md.  The scripts run as `python benchmarks/bench_*.py`, so this
folder is on sys.path and they import it as `harness`.
"""

import contextlib
import datetime
import os
import resource
import shlex
import statistics
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
NOISY_CORES = 0.2  # CPU taken by others (cores, on average) above which a section's figures are flagged


# -- small helpers ----------------------------------------------------------------------------------

def bench_args(doc, quick, repeats, sizes=None, extra=None):
    """The options every recorded benchmark takes (--quick, --repeats, --write, --benchmarks-file), parsed; with
    `sizes` ({"quick": {...}, "full": {...}}) also the size chosen, --repeats overriding its "repeats".
    `extra(parser)` adds a script's own options."""
    import argparse

    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=quick)
    parser.add_argument("--repeats", type=int, help=repeats)
    parser.add_argument("--write", action="store_true", help="replace the marked section of BENCHMARKS.md")
    parser.add_argument("--benchmarks-file", default=str(ROOT / "BENCHMARKS.md"), help="file --write updates")
    if extra is not None:
        extra(parser)
    args = parser.parse_args()
    if sizes is None:
        return args
    size = dict(sizes["quick" if args.quick else "full"])
    if args.repeats:
        size["repeats"] = args.repeats
    return args, size


def mpiexec(who):
    """The mpiexec beside this Python (the mpich extra's), else the one on PATH; exits naming `who` if none."""
    import shutil

    found = shutil.which("mpiexec", path=str(Path(PYTHON).parent)) or shutil.which("mpiexec")
    if not found:
        sys.exit(f"{who}: mpiexec not found (pip install -e '.[mpich]')")
    return found


def log(message):
    print(message, file=sys.stderr, flush=True)


def median(values):
    return statistics.median(values)


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def pick_size(sizes, args):
    """A copy of sizes["quick"] or sizes["full"] (after --quick), with --repeats applied."""
    size = dict(sizes["quick" if args.quick else "full"])
    if args.repeats:
        size["repeats"] = args.repeats
    return size


def utc_now():
    """The current time as the header's Date line shows it."""
    return datetime.datetime.now(datetime.UTC).strftime("%a %b %d %H:%M:%S UTC %Y")


# -- processes and the CPU ---------------------------------------------------------------------------

def subprocess_env():
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": str(ROOT) + (os.pathsep + path if path else "")}


def _children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_process(cmd, timeout=600, cwd=ROOT, env=None, preexec_fn=None):
    """Run cmd from `cwd` (the repository root) with `env` (subprocess_env()); return (wall seconds, CPU seconds
    of it and its descendants, stdout). `preexec_fn` runs in the child before cmd (e.g. to pin it to a core).

    Raises with the command's stderr when it fails.
    """
    cpu0 = _children_cpu()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=subprocess_env() if env is None else env, capture_output=True,
                          text=True, timeout=timeout, preexec_fn=preexec_fn)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        where = "" if Path(cwd) == ROOT else f" in {cwd}"
        raise RuntimeError(f"{shlex.join(map(str, cmd))}{where} exited with {proc.returncode}:\n"
                           f"{proc.stderr[-4000:]}")
    return wall, _children_cpu() - cpu0, proc.stdout


class OtherLoad:
    """What else took the CPUs while a block ran, in cores on average: other processes of this machine
    (its busy time minus ours) and, on a virtual machine, time the hypervisor stole for other guests."""

    def __init__(self):
        self.sections = []

    @staticmethod
    def _sample():
        try:
            fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
            tick = os.sysconf("SC_CLK_TCK")
            busy = sum(fields[:3] + fields[5:7]) / tick  # user nice system irq softirq
            steal = fields[7] / tick
        except (OSError, ValueError, IndexError):
            busy = steal = None
        return busy, steal, time.process_time() + _children_cpu(), time.perf_counter()

    def start(self, name):
        self.sections.append([name, self._sample(), None])

    def stop(self):
        self.sections[-1][2] = self._sample()

    def text(self):
        parts = []
        for name, (busy0, steal0, ours0, t0), (busy1, steal1, ours1, t1) in self.sections:
            if busy0 is None or busy1 is None:
                return "not measured (no /proc/stat)"
            others = max(0.0, (busy1 - busy0) - (ours1 - ours0)) / (t1 - t0)
            steal = (steal1 - steal0) / (t1 - t0)
            flag = " (**noisy**: rerun on an idle machine)" if others + steal > NOISY_CORES else ""
            parts.append(f"section {name}: {others:.2f} other processes, {steal:.2f} steal{flag}")
        return "; ".join(parts)


def compile_kernels(check=False):
    """`python -m hpcevo.trading.kernels` in this checkout, as jobs/slurm/run.sh runs it before a job: numba's cache
    and the ahead-of-time module; returns what it printed, on one line (or the exit status and error's end).
    check: raise CalledProcessError when it fails."""
    done = subprocess.run([PYTHON, "-m", "hpcevo.trading.kernels"], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=check)
    return " ".join(done.stdout.split()) or f"exit {done.returncode}: {done.stderr.strip()[-300:]}"


# -- the machine, and BENCHMARKS.md ------------------------------------------------------------------

def package_version(name):
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def cpu_model():
    """The first `model name` of /proc/cpuinfo, or "unknown"."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return cpu


def git_commit(tracked_only=False):
    """The checkout's short commit, "(with uncommitted changes)" added when `git status` shows any (with
    `tracked_only`, changes to tracked files only); "unknown" without git."""
    commit = "unknown"
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, check=True).stdout.strip()
        status = ["git", "--no-optional-locks", "-C", str(ROOT), "status", "--porcelain"]
        if tracked_only:
            status.append("--untracked-files=no")
        dirty = subprocess.run(status, capture_output=True, text=True, check=True).stdout.strip()
        commit += " (with uncommitted changes)" if dirty else ""
    except (OSError, subprocess.CalledProcessError):
        pass
    return commit


@contextlib.contextmanager
def worktree(commit, folder):
    """A detached git worktree of `commit` at `folder` for the duration: yields its short commit name."""
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(folder), commit], check=True)
    try:
        yield subprocess.run(["git", "-C", str(folder), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, check=True).stdout.strip()
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(folder)], check=False)


def write_benchmarks(path, text, begin, end):
    """Replace the block between the markers `begin` and `end` of the file at `path` by `text` (appended,
    markers included, when the file has no such block; the file is created when missing)."""
    path = Path(path)
    block = f"{begin}\n{text}{end}\n"
    old = path.read_text() if path.exists() else "# Benchmarks\n\n"
    if begin in old and end in old:
        before, rest = old.split(begin, 1)
        after = rest.split(end, 1)[1].lstrip("\n")
        new = before + block + ("\n" + after if after else "")
    else:
        new = old.rstrip("\n") + "\n\n" + block
    path.write_text(new)


def publish(text, args, begin, end):
    """Print the report's header (the sections were printed as they finished) and, with --write, record the
    whole report between the markers of --benchmarks-file."""
    print(text.split("\n\n### ", 1)[0])
    if args.write:
        write_benchmarks(args.benchmarks_file, text, begin, end)
        log(f"wrote the results into {args.benchmarks_file}")
