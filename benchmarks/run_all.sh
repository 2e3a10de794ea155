#!/usr/bin/env bash
# Run every benchmark in benchmarks/ (bench_*.py: engine, peers, scaling, trading) and print its results.
# Arguments go to each benchmark, e.g. `benchmarks/run_all.sh --quick` or `benchmarks/run_all.sh --write`.
# Python: $PYTHON if set, else the repository's .venv, else python3 on PATH.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
python="${PYTHON:-$root/.venv/bin/python}"
[ -x "$python" ] || python="$(command -v python3)"
status=0
for bench in "$here"/bench_*.py; do
    echo "== $(basename "$bench")"
    "$python" "$bench" "$@" || { echo "== $(basename "$bench") FAILED" >&2; status=1; }
done
exit "$status"
