#!/bin/bash
# The merge of slurm-array.sh's shards, submitted as a dependent job:
#   sbatch --dependency=afterok:<array job id> slurm-merge.sh
# afterok starts it only when every array task has succeeded.
#SBATCH --job-name=surgesim-merge
#SBATCH --output=slurm-merge-%j.out
set -euo pipefail
surgesim merge out/shard-* -o out/merged
surgesim check scenarios/ --from out/merged --junit out/check.xml
