#!/usr/bin/env bash
# End-to-end bench: builds, then runs scripts/bench-mount.mjs (server, mount and FUSE ceiling each
# in their own process). Prints a table; writes bench/results/<timestamp>.json and bench/plot.svg.
#
#   bash scripts/bench.sh            # SIZE = 1 GiB (a few minutes)
#   bash scripts/bench.sh --quick    # small sizes, well under 2 minutes
#   OSSENCFS_BENCH_RESULTS_DIR=/tmp/x bash scripts/bench.sh --quick   # results and plot elsewhere
#   OSSENCFS_BENCH_NO_BUILD=1 …      # skip `npx tsc -p .` (dist/ is already built)
# Other options go to bench-mount.mjs: --size-mib N --cache-size 256M --results-dir D --plot F --keep --no-rclone
#   --rtt MS (the latency profile, scripts/bench/latency.mjs: ours and rclone through a relay at 0 and MS ms; default 30; none skips it)
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in node python3 dd cp ls rsync fusermount; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is required" >&2; exit 2; }
done
[ -e /dev/fuse ] || { echo "bench: /dev/fuse is missing" >&2; exit 2; }
if [ "${OSSENCFS_BENCH_NO_BUILD:-}" != 1 ]; then
  # Others may be mid-edit in src/: type errors still emit JavaScript, so warn and go on.
  npx tsc -p . || echo "bench: tsc reported errors; benchmarking what it emitted" >&2
fi
exec node scripts/bench-mount.mjs "$@"
