// Builds a native addon with npm's own node-gyp and this machine's Node headers, so nothing is
// downloaded (CI reaches only the npm and Debian registries). Used by setup.sh's build steps.
import { execFileSync } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** `node-gyp rebuild` in `dir`; on failure prints the compiler's output and throws naming `what`. */
export function gypRebuild(dir, what) {
  const npmDir = dirname(realpathSync(execFileSync('bash', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim()));
  const gyp = join(npmDir, '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  const nodeRoot = dirname(dirname(process.execPath));
  const nodedir = existsSync(join(nodeRoot, 'include', 'node', 'node_api.h')) ? [`--nodedir=${nodeRoot}`] : [];
  try {
    execFileSync(process.execPath, [gyp, 'rebuild', ...nodedir], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    process.stderr.write(`${err.stdout ?? ''}${err.stderr ?? ''}`);
    throw new Error(`building ${what} failed (see above)`);
  }
}
