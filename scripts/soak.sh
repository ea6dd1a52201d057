#!/usr/bin/env bash
# Soak test of the mount: several processes do random file operations against a model for a while,
# then the tree is compared with the model (also after a remount) and `ossencfs verify` runs over
# the bucket. Exit 0 only with zero differences, zero errors and a clean verify.
#
#   bash scripts/soak.sh                 # 10 minutes
#   bash scripts/soak.sh --minutes 60
#   bash scripts/soak.sh --quick         # about 30 s of operations (what the test suite runs)
#   bash scripts/soak.sh --faults        # the server also fails requests now and then (retries must hide it)
#   OSSENCFS_SOAK_NO_BUILD=1 …           # skip `npx tsc -p .` (dist/ is already built)
# Other options: --seconds N, --workers N (default 4), --seed N, --write-back SECONDS, --keep (leave the temp dir).
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in node fusermount; do
  command -v "$tool" >/dev/null || { echo "soak: $tool is required" >&2; exit 2; }
done
[ -e /dev/fuse ] || { echo "soak: /dev/fuse is missing" >&2; exit 2; }
if [ "${OSSENCFS_SOAK_NO_BUILD:-}" != 1 ]; then
  npx tsc -p . || echo "soak: tsc reported errors; testing what it emitted" >&2
fi
exec node scripts/soak.mjs "$@"
