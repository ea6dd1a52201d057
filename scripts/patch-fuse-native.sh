#!/usr/bin/env bash
# fuse-native 2.2.6 hands utimens the access time twice and never the modification time
# (fuse-native.c: FUSE_UINT64_TO_INTS_ARGV(l->atime, 5)), so `touch -m`, `cp -p` and rsync could
# not set mtime. Fix the one line and build the addon from source (node-gyp, with the Node headers
# of this machine; no download). Idempotent: does nothing once the fixed build is in place.
set -euo pipefail
cd "$(dirname "$0")/../node_modules/fuse-native"
fixed='FUSE_UINT64_TO_INTS_ARGV(l->mtime, 5)'
if grep -qF "$fixed" fuse-native.c && [[ -f build/Release/fuse.node ]]; then exit 0; fi
sed -i 's/FUSE_UINT64_TO_INTS_ARGV(l->atime, 5)/FUSE_UINT64_TO_INTS_ARGV(l->mtime, 5)/' fuse-native.c
grep -qF "$fixed" fuse-native.c || { echo "patch-fuse-native: the expected line was not found" >&2; exit 1; }
gyp="$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js"
nodedir=$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")
if [[ ! -f $nodedir/include/node/node_api.h ]]; then nodedir=; fi
log=$(mktemp)
if ! node "$gyp" rebuild ${nodedir:+--nodedir="$nodedir"} >"$log" 2>&1; then cat "$log" >&2; rm -f "$log"; exit 1; fi
rm -f "$log"
echo "setup: built fuse-native with the utimens fix"
