#!/bin/bash
# A seed sweep as a SLURM job array: task i runs jobs/slurm/run.sh with --seed i in its own run folder
# (runs/job-<array job id>-<i>). Submit from the repository root: `sbatch jobs/slurm/sweep.sh`.
# Every knob of run.sh works here too (CONFIG, HPCEVO_ARGS, VENV, LAUNCHER, MAX_RESTARTS, ...); a task that is
# stopped early requeues and resumes on its own, like a run.sh job.
#SBATCH --job-name=hpcevo-sweep
#SBATCH --array=1-8
#SBATCH --ntasks=16
#SBATCH --time=02:00:00
#SBATCH --output=hpcevo-sweep-%A_%a.out
#SBATCH --open-mode=append
#SBATCH --signal=USR1@120
#SBATCH --requeue

# sbatch runs a copy of this script from its spool folder, so find run.sh from where the job was submitted
# (or set RUN_SH to its path).
RUN_SH="${RUN_SH:-${SLURM_SUBMIT_DIR:-$PWD}/jobs/slurm/run.sh}"
if [ ! -f "$RUN_SH" ]; then
    echo "sweep.sh: no run.sh at RUN_SH=$RUN_SH: submit from the repository root or set RUN_SH" >&2
    exit 2
fi
# the last --seed wins, so a --seed in HPCEVO_ARGS is overridden by the task's
export HPCEVO_ARGS="${HPCEVO_ARGS:-} --seed ${SLURM_ARRAY_TASK_ID:-1}"
exec bash "$RUN_SH" "$@"
