#!/bin/bash
# surgesim on a Slurm job array: 64 shards, 16 at a time, on a shared file
# system (out/ must be visible from every node and from the merge job).
#
#   jobid=$(sbatch --parsable slurm-array.sh)
#   sbatch --dependency=afterok:$jobid slurm-merge.sh
#
# The array counts from 0, as --shard does: with --array=1-64 the index
# would need 1 subtracted. SLURM_ARRAY_TASK_COUNT is the number of tasks.
#SBATCH --job-name=surgesim
#SBATCH --array=0-63%16
#SBATCH --cpus-per-task=2
#SBATCH --output=slurm-%A_%a.out
set -euo pipefail
surgesim run scenarios/ --jobs "${SLURM_CPUS_PER_TASK:-1}" --shard "${SLURM_ARRAY_TASK_ID}/${SLURM_ARRAY_TASK_COUNT}" -o "out/shard-${SLURM_ARRAY_TASK_ID}"
