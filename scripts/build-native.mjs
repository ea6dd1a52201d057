// Builds our own native addons (native/*/binding.gyp: malloc-tuning, see src/util/allocator.ts;
// crc64, see src/server/storage/crc64.ts; no-core-dump, see src/util/hardening.ts), each unless its built file is newer than its sources,
// and native/fuse-native, which its own build.mjs assembles from the pinned fuse-native and our patches.
// Idempotent; run by setup.sh.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gypRebuild } from './node-gyp.mjs';

const native = join(dirname(fileURLToPath(import.meta.url)), '..', 'native');
for (const name of readdirSync(native)) {
  const dir = join(native, name);
  if (existsSync(join(dir, 'build.mjs'))) {
    try {
      execFileSync(process.execPath, [join(dir, 'build.mjs')], { stdio: 'inherit' });
    } catch {
      process.exit(1); // build.mjs said why
    }
    continue;
  }
  const built = join(dir, 'build', 'Release', `${name.replaceAll('-', '_')}.node`);
  const newestSource = Math.max(...readdirSync(dir).filter((f) => f !== 'build').map((f) => statSync(join(dir, f)).mtimeMs));
  if (existsSync(built) && statSync(built).mtimeMs >= newestSource) continue;
  gypRebuild(dir, `native/${name}`);
  console.log(`setup: built native/${name}`);
}
