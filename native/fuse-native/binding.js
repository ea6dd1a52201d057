'use strict';
// The addon build.mjs made: fuse-native's own functions, which index.js drives, and the ones our C
// exports (ossencfs_*). Loaded by path, so this is the same module instance the mount uses.
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const built = join(__dirname, 'build', 'source', 'build', 'Release', 'fuse.node');
if (!existsSync(built)) {
  throw new Error(`native/fuse-native is not built (no ${built}): run scripts/setup.sh`);
}
module.exports = require(built);
