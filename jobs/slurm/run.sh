#!/bin/bash
# hpcevo under SLURM: copy this file, edit the #SBATCH lines and the knobs, then `sbatch run.sh`.
# Outside SLURM, `bash run.sh` runs the same job with mpiexec on NTASKS local ranks (default 2).
#SBATCH --job-name=hpcevo
#SBATCH --ntasks=64
#SBATCH --time=02:00:00
#SBATCH --output=hpcevo-%j.out

# ---- knobs (environment variables override these defaults) ---------------------------------------
CONFIG="${CONFIG:-}"                                  # TOML config file; empty = the built-in main job
RUN_DIR="${RUN_DIR:-runs/job-${SLURM_JOB_ID:-local-$$}}" # run folder (must not exist yet)
RANKS_PER_ISLAND="${RANKS_PER_ISLAND:-1}"             # 1 leader + evaluators per island group
VENV="${VENV:-$PWD/.venv}"                            # python environment with hpcevo installed
HPCEVO_ARGS="${HPCEVO_ARGS:-}"                        # extra flags, e.g. "--generations 500 --seed 7"
NTASKS="${SLURM_NTASKS:-${NTASKS:-2}}"
# ----------------------------------------------------------------------------------------------------
set -euo pipefail
if [ ! -x "$VENV/bin/python" ]; then
    echo "run.sh: no python environment at VENV=$VENV; create it with: python3 -m venv .venv && .venv/bin/pip install -e '.[mpich]'" >&2
    exit 2
fi
export PATH="$VENV/bin:$PATH"
args=(run --out "$RUN_DIR" --ranks-per-island "$RANKS_PER_ISLAND")
[ -n "$CONFIG" ] && args+=(--config "$CONFIG")
# shellcheck disable=SC2206  # HPCEVO_ARGS is split on spaces on purpose
[ -n "$HPCEVO_ARGS" ] && args+=($HPCEVO_ARGS)
# MPICH's mpiexec (from the mpich wheel or a module) starts the ranks; inside an allocation it uses SLURM's
# own launcher to place them on the allocated nodes.
exec mpiexec -n "$NTASKS" python -m hpcevo "${args[@]}"
