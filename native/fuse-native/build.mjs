// Builds fuse-native as ossencfs runs it, in build/source/: the pinned upstream release's sources
// (package.json pins it; npm installs it), our patches (patches/*.patch, in order, each applied
// exactly or the build stops), our C files (*.c, which the patches #include), then node-gyp with
// this machine's Node headers (no download). Nothing is written outside build/. Skipped when
// nothing it reads has changed since the last build; run by scripts/build-native.mjs.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gypRebuild } from '../../scripts/node-gyp.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const source = join(here, 'build', 'source');
const built = join(source, 'build', 'Release', 'fuse.node');
const stamp = join(here, 'build', 'inputs.sha256');
/** The upstream files the addon and its JavaScript are made of (its tests, example and prebuilds are not). */
const UPSTREAM_FILES = ['binding.gyp', 'fuse-native.c', 'semaphore.h', 'index.js'];

/** One line naming what went wrong, and a failed exit: setup.sh stops there. */
function fail(message) {
  console.error(`native/fuse-native: ${message}`);
  process.exit(1);
}

const pinned = JSON.parse(readFileSync(join(here, 'package.json'), 'utf8')).dependencies['fuse-native'];
const require = createRequire(join(here, 'package.json'));
const upstream = dirname(require.resolve('fuse-native/package.json'));
const { version } = require('fuse-native/package.json');
if (version !== pinned) {
  fail(`${upstream} is fuse-native ${version}, the patches are for ${pinned}: run npm ci`);
}
const patches = readdirSync(join(here, 'patches')).filter((f) => f.endsWith('.patch')).sort();
const ours = readdirSync(here).filter((f) => f.endsWith('.c'));

const inputs = createHash('sha256');
for (const [dir, files] of [[upstream, UPSTREAM_FILES], [join(here, 'patches'), patches], [here, [...ours, 'build.mjs']]]) {
  for (const file of files) inputs.update(`${file}\0`).update(readFileSync(join(dir, file)));
}
const digest = inputs.digest('hex');
if (existsSync(built) && existsSync(stamp) && readFileSync(stamp, 'utf8') === digest) process.exit(0);

rmSync(join(here, 'build'), { recursive: true, force: true });
mkdirSync(source, { recursive: true });
for (const file of UPSTREAM_FILES) copyFileSync(join(upstream, file), join(source, file));
for (const patch of patches) {
  try {
    // --forward: a patch that looks applied already is a mismatch too (never reversed, never asked about).
    execFileSync('patch', ['-p1', '--forward', '--fuzz=0', '--no-backup-if-mismatch', '--reject-file=-', '-d', source, '-i', join(here, 'patches', patch)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    process.stderr.write(`${err.stdout ?? ''}${err.stderr ?? ''}`);
    fail(`patches/${patch} does not apply to fuse-native ${version} in ${upstream} (see above; npm ci restores it)`);
  }
}
for (const file of ours) copyFileSync(join(here, file), join(source, file));
try {
  gypRebuild(source, 'native/fuse-native');
} catch (err) {
  fail(err.message);
}
writeFileSync(stamp, digest);
console.log(`setup: built native/fuse-native (fuse-native ${version} with ${patches.length} patches)`);
