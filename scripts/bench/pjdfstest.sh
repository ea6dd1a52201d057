#!/bin/bash
# POSIX conformance as FUSE filesystems measure it: pjdfstest (github.com/pjd/pjdfstest, not part
# of this repository: build it yourself and point PJDFSTEST at it) against a root mount with
# --allow-other on the bundled server, with this checkout's build (npm run build first).
#
#   PJDFSTEST=/tmp/pjdfstest bash scripts/bench/pjdfstest.sh [WORKDIR] [test dir...]
#   (e.g. `... /tmp/pjd chmod rename`; MOUNT_ARGS="--write-back 5" passes mount options)
#
# Prints the cases passed of those run ("not ok … # TODO" counts as passed, as prove counts it),
# the files prove passes, and WORKDIR/failing.txt: failing cases per file.
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd)
PJD=${PJDFSTEST:?set PJDFSTEST to a built pjdfstest checkout}
W=${1:-/tmp/ossencfs-pjdfstest}; shift || true
DIRS=("$@"); [ ${#DIRS[@]} -eq 0 ] && DIRS=($(ls -d "$PJD"/tests/*/ | xargs -n1 basename))
rm -rf "$W"; mkdir -p "$W/server" "$W/mnt" "$W/cache"; chmod 700 "$W/cache"
export OSS_ACCESS_KEY_ID=PJDKEY OSS_ACCESS_KEY_SECRET=pjdsecret0123456789 OSS_REGION=cn-hangzhou
BIN="node $REPO/bin/ossencfs.js"
$BIN server --dir "$W/server" --port 0 > "$W/server.out" 2>&1 &
SPID=$!
for _ in $(seq 100); do URL=$(grep -o 'http://[^ ]*' "$W/server.out" | head -1); [ -n "$URL" ] && break; sleep 0.1; done
$BIN mb oss://pjd --endpoint "$URL" >/dev/null
$BIN keygen --out "$W/key.pem" >/dev/null
$BIN mount oss://pjd "$W/mnt" --foreground --endpoint "$URL" --rsa-key "$W/key.pem" --cache-dir "$W/cache" \
  --log-file "$W/mount.log" --allow-other ${MOUNT_ARGS:-} > "$W/mount.out" 2>&1 &
MPID=$!
for _ in $(seq 200); do grep -q 'mounted ' "$W/mount.out" && break; sleep 0.1; done
mountpoint -q "$W/mnt" || { echo "mount failed"; cat "$W/mount.out"; kill $SPID; exit 1; }
mkdir -p "$W/mnt/work" && cd "$W/mnt/work" || exit 1
start=$(date +%s)
for d in "${DIRS[@]}"; do
  for t in "$PJD"/tests/"$d"/*.t; do
    echo "=== $t" >> "$W/tap.log"
    timeout 300 prove -v "$t" >> "$W/tap.log" 2>&1
  done
done
end=$(date +%s)
cd /
fusermount -u "$W/mnt"; wait $MPID; kill $SPID; wait $SPID 2>/dev/null
awk '
/^=== /{nf++; next}
/^Result: PASS/{pf++}
/^1\.\.[0-9]+/{ split($1, a, "\\.\\."); planned += a[2] }
/^ok [0-9]+/{ total++; pass++ }
/^not ok [0-9]+/{ total++; if ($0 ~ /# TODO/) pass++ }
END{ printf "cases %d/%d (planned %d)  files %d/%d\n", pass, total, planned, pf, nf }' "$W/tap.log"
echo "time $((end - start)) s"
awk '/^=== /{f=$2; next} /^not ok/ && !/# TODO/{bad[f]++} END{for (f in bad) print bad[f], f}' "$W/tap.log" | sort -k2 > "$W/failing.txt"
