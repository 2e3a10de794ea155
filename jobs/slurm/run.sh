#!/bin/bash
# hpcevo under SLURM: copy this file, edit the #SBATCH lines and the knobs, then `sbatch run.sh [hpcevo run flags]`
# (flags after the script name are passed on as they are, spaces in them kept: sbatch run.sh --seed 7).
# Outside SLURM, `bash run.sh [flags]` runs the same job with mpiexec on NTASKS local ranks (default 2).
#
# A run that is stopped early (time limit near, preemption, scancel --signal=USR1) writes a checkpoint and
# exits with status 75; this script then requeues the job (`scontrol requeue`), and the requeued job resumes
# from RUN_DIR's checkpoint (`--resume auto`), up to MAX_RESTARTS times. The results are the same as those of
# an uninterrupted run.
#SBATCH --job-name=hpcevo
#SBATCH --ntasks=64
#SBATCH --time=02:00:00
# Lines starting "##SBATCH" are comments to sbatch: remove one "#" to use them. Most sites want an account and a
# partition; a fixed layout gives whole nodes (then drop --ntasks above); one core per rank is hpcevo's model.
##SBATCH --account=myproject
##SBATCH --partition=compute
##SBATCH --nodes=2
##SBATCH --ntasks-per-node=32
##SBATCH --cpus-per-task=1
##SBATCH --mem=64G
#SBATCH --output=hpcevo-%j.out
# append: a requeued job keeps the earlier runs' output in the same file
#SBATCH --open-mode=append
# USR1 to every rank 120 s before the time limit: the run finishes its current epoch, writes a checkpoint and
# exits 75. SLURM checks time limits only every 30 s or so and may send the signal up to ~60 s earlier than
# asked, so keep this margin >= 60 s plus the time of one epoch and one checkpoint.
#SBATCH --signal=USR1@120
# may be requeued (by this script after a stop, or by SLURM after a node failure)
#SBATCH --requeue

# ---- knobs (environment variables override these defaults; sbatch passes your environment) --------------
CONFIG="${CONFIG:-}"                        # TOML config file; empty = the built-in main job
# run folder: the same for every restart of this job (a requeued job keeps its job id), so a restart resumes.
# It must be on a filesystem every node can write (not node-local /tmp): every group leader writes its log
# shards there, and rank 0 the checkpoint.
if [ -n "${SLURM_JOB_ID:-}" ]; then
    RUN_DIR="${RUN_DIR:-runs/job-${SLURM_ARRAY_JOB_ID:-$SLURM_JOB_ID}${SLURM_ARRAY_TASK_ID:+-$SLURM_ARRAY_TASK_ID}}"
else
    RUN_DIR="${RUN_DIR:-runs/job-local-$$}"
fi
RANKS_PER_ISLAND="${RANKS_PER_ISLAND:-1}"   # 1 leader + evaluators per island group
# A file sourced first, for what your site needs: `module load ...`, `conda activate ...`, `source env/bin/activate`
SITE_SETUP="${SITE_SETUP:-}"
VENV="${VENV-$PWD/.venv}"                   # python environment with hpcevo; empty: the python on PATH (SITE_SETUP)
COMMAND="${COMMAND:-run}"                   # run | walkforward (the windows side by side; resumed the same way)
HPCEVO_ARGS="${HPCEVO_ARGS:-}"              # extra flags, e.g. "--generations 500 --seed 7 --checkpoint-every 5"
MAX_RESTARTS="${MAX_RESTARTS:-10}"          # requeue a stopped job at most this many times
if [ -n "${SLURM_JOB_ID:-}" ]; then
    LAUNCHER="${LAUNCHER:-srun}"            # srun | mpiexec | mpirun (inside a job they place ranks through SLURM)
    NTASKS="${SLURM_NTASKS:-1}"
else
    LAUNCHER="${LAUNCHER:-mpiexec}"
    NTASKS="${NTASKS:-2}"                   # local ranks outside SLURM
fi
SRUN_MPI="${SRUN_MPI:-pmi2}"                # srun --mpi=...: pmi2 for the mpich wheel; pmix for most Open MPI builds
# One thread per rank for the numeric libraries: a rank per core is hpcevo's model, and N ranks x N BLAS threads
# oversubscribe every node. Set them before submitting to give each rank more (with --cpus-per-task).
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}" \
       MKL_NUM_THREADS="${MKL_NUM_THREADS:-1}" NUMEXPR_NUM_THREADS="${NUMEXPR_NUM_THREADS:-1}"
# ------------------------------------------------------------------------------------------------------------
set -euo pipefail
RESTART="${SLURM_RESTART_COUNT:-0}"
if [ -n "$SITE_SETUP" ]; then
    if [ ! -f "$SITE_SETUP" ]; then
        echo "run.sh: SITE_SETUP=$SITE_SETUP: no such file; give the file that loads your site's modules or environment" >&2
        exit 2
    fi
    # shellcheck disable=SC1090  # the site's own file
    set +u; . "$SITE_SETUP"; set -u
fi
if [ -n "$VENV" ]; then
    if [ ! -x "$VENV/bin/python" ]; then
        echo "run.sh: no python environment at VENV=$VENV; create it with: python3 -m venv .venv && .venv/bin/pip install -e '.[mpich,fast]' (or set VENV= and SITE_SETUP to a file that activates yours)" >&2
        exit 2
    fi
    export PATH="$VENV/bin:$PATH"
fi
if ! python -c "import hpcevo" 2>/dev/null; then
    echo "run.sh: the python on PATH ($(command -v python || echo none)) cannot import hpcevo: set VENV to the environment where it is installed, or SITE_SETUP to a file that activates it" >&2
    exit 2
fi
# With numba (the "fast" extra) the trading kernels compile once into a cache beside hpcevo (or NUMBA_CACHE_DIR),
# and into a plain extension module there that the ranks load without importing numba (hpcevo/trading/aot.py);
# doing it here, once, means the ranks load them instead of every rank compiling at the same time.
python -m hpcevo.trading.kernels || echo "run.sh: compiling the kernels failed; the ranks will try (the NumPy code runs if they cannot)" >&2
case "$COMMAND" in
    run|walkforward) ;;
    *) echo "run.sh: COMMAND=$COMMAND: use run or walkforward" >&2; exit 2 ;;
esac
case "$LAUNCHER" in
    srun|mpiexec|mpirun) ;;
    *) echo "run.sh: LAUNCHER=$LAUNCHER: use srun, mpiexec or mpirun" >&2; exit 2 ;;
esac
if [ "$LAUNCHER" = srun ] && [ -z "${SLURM_JOB_ID:-}" ]; then
    echo "run.sh: LAUNCHER=srun needs a SLURM job (submit with sbatch); outside SLURM use LAUNCHER=mpiexec" >&2
    exit 2
fi
job="${SLURM_JOB_ID:-none (local)}${SLURM_ARRAY_JOB_ID:+ (array ${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID:-})}"
echo "run.sh: job $job restart=$RESTART/$MAX_RESTARTS run_dir=$RUN_DIR launcher=$LAUNCHER ranks=$NTASKS" \
     "threads=$OMP_NUM_THREADS host=$(hostname -s) $(date '+%F %T')"

# MPICH names its shared-memory segment after the PMI job name, `<jobid>.<stepid>` under srun: a step killed
# before MPI_Finalize leaves /dev/shm/mpich_shm_* behind, and the same step of the requeued job opens it and
# fails or hangs in MPI_Init. Remove such files (ours, a few seconds old, mapped or held open by no process).
clean_stale_shm() {
    local held f cutoff
    held="$({ cat /proc/[0-9]*/maps 2>/dev/null | grep -o '/dev/shm/mpich_shm_[^ ]*'
              find /proc/[0-9]*/fd -maxdepth 1 -lname '/dev/shm/mpich_shm_*' -printf '%l\n' 2>/dev/null; } | sort -u)" || true
    cutoff=$(( $(date +%s) - 5 ))
    for f in /dev/shm/mpich_shm_*; do
        [ -O "$f" ] || continue                                  # exists and is ours
        [ "$(stat -c %Y "$f" 2>/dev/null || echo "$cutoff")" -lt "$cutoff" ] || continue  # not being set up now
        grep -qxF "$f" <<<"$held" && continue                    # in use
        rm -f "$f" && echo "run.sh: removed stale MPICH shared memory $f on $(hostname -s)"
    done
    return 0
}
if [ "${SLURM_JOB_NUM_NODES:-1}" -gt 1 ]; then  # one cleanup task on every node of the allocation
    srun --nodes="$SLURM_JOB_NUM_NODES" --ntasks="$SLURM_JOB_NUM_NODES" --ntasks-per-node=1 --mpi=none \
         bash -c "$(declare -f clean_stale_shm); clean_stale_shm" || echo "run.sh: stale shared-memory cleanup failed" >&2
else
    clean_stale_shm
fi

args=("$COMMAND" --out "$RUN_DIR" --resume auto --ranks-per-island "$RANKS_PER_ISLAND")
[ -n "$CONFIG" ] && args+=(--config "$CONFIG")
# shellcheck disable=SC2206  # HPCEVO_ARGS is split on spaces on purpose (the script's own arguments are not)
[ -n "$HPCEVO_ARGS" ] && args+=($HPCEVO_ARGS)
args+=("$@")
if [ "$LAUNCHER" = srun ]; then
    # never --mpi=none (it would start N runs of one rank each); a rank that dies ends the whole step at once
    launch=(srun --mpi="$SRUN_MPI" --kill-on-bad-exit=1)
else
    launch=("$LAUNCHER" -n "$NTASKS")  # inside an allocation mpiexec/mpirun place the ranks through SLURM
fi
status=0
"${launch[@]}" python -m hpcevo "${args[@]}" || status=$?

abs_run_dir="$(realpath -m "$RUN_DIR")"

# Requeue this job (it resumes from the run folder's checkpoint), at most MAX_RESTARTS times in all.
requeue() {
    if [ -n "${SLURM_JOB_ID:-}" ] && [ "$RESTART" -lt "$MAX_RESTARTS" ]; then
        if scontrol requeue "$SLURM_JOB_ID"; then
            echo "run.sh: requeued job $SLURM_JOB_ID (restart $((RESTART + 1)) of at most $MAX_RESTARTS);" \
                 "it resumes from $abs_run_dir"
            exit 0
        fi
        echo "run.sh: scontrol requeue $SLURM_JOB_ID failed" >&2
    elif [ -n "${SLURM_JOB_ID:-}" ]; then
        echo "run.sh: not requeued: $RESTART restarts already (MAX_RESTARTS=$MAX_RESTARTS)"
    fi
}

how_to_resume() {
    if [ -n "${SLURM_JOB_ID:-}" ]; then
        echo "run.sh: to resume, submit the job script again with the same knobs and" \
             "RUN_DIR=$abs_run_dir (e.g. RUN_DIR=$abs_run_dir sbatch run.sh ARGUMENTS)"
    else
        echo "run.sh: to resume: RUN_DIR=$abs_run_dir bash $0 (with the same knobs and arguments)"
    fi
}

case "$status" in
    0)
        echo "run.sh: run complete: $abs_run_dir" ;;
    75)
        echo "run.sh: the run stopped early with a checkpoint in $abs_run_dir (status 75)"
        requeue
        how_to_resume
        exit 75 ;;
    1|2|74|130)
        # an error hpcevo reported (a retry would meet it again), a user mistake, an unwritable run folder, or
        # Ctrl-C twice: not requeued
        echo "run.sh: hpcevo failed with status $status (run folder $abs_run_dir)" >&2
        exit "$status" ;;
    *)
        # a rank was lost (killed, out of memory, its node failed): the launcher ended the job with this status
        echo "run.sh: the job lost a rank (launcher status $status; run folder $abs_run_dir)" >&2
        if [ -f "$RUN_DIR/checkpoint.pkl" ]; then
            echo "run.sh: resuming from the last checkpoint (the epochs since it are run again, identically)"
            requeue
            how_to_resume
        fi
        exit "$status" ;;
esac
