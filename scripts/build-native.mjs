// Builds our own native addon, native/malloc-tuning (see src/util/allocator.ts), unless the built
// file is newer than its sources. Idempotent; run by setup.sh.
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gypRebuild } from './node-gyp.mjs';

const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'native', 'malloc-tuning');
const built = join(dir, 'build', 'Release', 'malloc_tuning.node');
const sources = ['binding.gyp', 'malloc_tuning.c'].map((f) => statSync(join(dir, f)).mtimeMs);
if (existsSync(built) && statSync(built).mtimeMs >= Math.max(...sources)) process.exit(0);
gypRebuild(dir, 'native/malloc-tuning');
console.log('setup: built native/malloc-tuning');
