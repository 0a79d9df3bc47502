#!/bin/bash
# The command of an AWS Batch array job's container (array size 2 to 10,000).
# Batch sets AWS_BATCH_JOB_ARRAY_INDEX (0 .. size-1) in each child job; the
# job definition sets SHARDS to the array size. The partial result goes to
# S3 with the AWS CLI; the merge job (depending on the array job) syncs all
# the shards down and merges them:
#
#   aws s3 sync "s3://$BUCKET/run-42/" shards/
#   surgesim merge shards/shard-* -o merged
set -euo pipefail
surgesim run scenarios/ --shard "${AWS_BATCH_JOB_ARRAY_INDEX}/${SHARDS}" -o "shard-${AWS_BATCH_JOB_ARRAY_INDEX}"
aws s3 sync "shard-${AWS_BATCH_JOB_ARRAY_INDEX}" "s3://${BUCKET}/run-42/shard-${AWS_BATCH_JOB_ARRAY_INDEX}/"
