#!/usr/bin/env bash
# Installs everything ossencfs needs on Debian 12 (as root) and builds it. Idempotent: a second run
# installs nothing new and only rebuilds.
set -euo pipefail
cd "$(dirname "$0")/.."

# fuse/libfuse2: the mount. liblzma-dev: the header of liblzma's CRC-64, which the server's addon
# (native/crc64) calls. rclone: the bench's peer (an rclone crypt mount, side by side). The rest are
# the tools the end-to-end tests drive through the mount, and openssl makes the HTTPS tests' certificate.
# patch: native/fuse-native/build.mjs applies our changes to fuse-native with it.
packages=(fuse libfuse2 liblzma-dev patch rclone rsync sqlite3 git fio procps strace openssl attr)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if ((node_major < 20)); then
  echo "setup: ossencfs needs Node.js 20 or newer (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi

# npm ci only when the lock file changed since the last install: keeps reruns fast.
stamp=node_modules/.ossencfs-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
  npm ci --no-audit --no-fund
  echo "$want" >"$stamp"
fi
node scripts/build-native.mjs
npm run build --silent
# /sbin/mount.fuse.ossencfs, so mount(8) mounts fstab lines of type fuse.ossencfs.
node bin/ossencfs.js install-helper
echo "setup: ok"
