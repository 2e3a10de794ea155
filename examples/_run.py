"""Script mode shared by the examples: `python examples/NAME.py [--quick] [--ranks N] [--out DIR]`.

It prints the `python -m hpcevo run ...` command it runs (copy it to run the search yourself) and runs it in a
child process with the folder that holds examples/ on PYTHONPATH, so `examples.NAME:function` imports from any
working directory. With --ranks N > 1 the command runs under `mpiexec -n N`.
"""

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the folder that holds examples/


def run_example(name, flags, quick, full, before=None, report=None, argv=None):
    """Run hpcevo with `flags` plus the `quick` or `full` size flags; returns hpcevo's exit status.

    `before(out)` may prepare input files and return more flags; `report(out)` prints what the run found.
    """
    parser = argparse.ArgumentParser(prog=f"examples/{name}.py", description=f"Run the {name} example with hpcevo.")
    parser.add_argument("--quick", action="store_true", help="a tiny search (seconds), as the tests run it")
    parser.add_argument("--ranks", type=int, default=1, help="MPI ranks; more than 1 runs under mpiexec")
    parser.add_argument("--out", type=Path, default=Path(time.strftime(f"runs/{name}-%Y%m%d-%H%M%S")),
                        help="run folder to create (default runs/NAME-DATE-TIME)")
    args = parser.parse_args(argv)
    extra = before(args.out) if before else []
    cmd = [sys.executable, "-m", "hpcevo", "run", *flags, *extra, *(quick if args.quick else full),
           "--out", str(args.out)]
    if args.ranks > 1:
        mpiexec = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or "mpiexec"
        cmd = [mpiexec, "-n", str(args.ranks), *cmd]
    print("$", shlex.join(cmd), flush=True)
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    status = subprocess.run(cmd, env={**os.environ, "PYTHONPATH": path}).returncode
    if status == 0:
        if report:
            report(args.out)
        print(f"results in {args.out}/ (hall_of_fame.json, logbook.csv, migrations.csv, summary.json, config.toml)")
    return status
