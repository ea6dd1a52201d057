import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/**
 * No core files and not dumpable, for the whole process, at start (native/no-core-dump): a core
 * of a mount or a CLI command would hold the PEM private key, the access secret and plaintext, and
 * a dumpable process lets any process of the same user read its memory. Node cannot set either.
 */
export type Hardening = { applied: true } | { applied: false; reason: string };

const ADDON = fileURLToPath(new URL('../../native/no-core-dump/build/Release/no_core_dump.node', import.meta.url));

let outcome: Hardening | undefined;

/** Applies both (once; later calls report the first outcome). Never throws. */
export function hardenProcess(): Hardening {
  if (outcome) return outcome;
  let addon: { harden(): string };
  try {
    addon = createRequire(import.meta.url)(ADDON) as { harden(): string };
  } catch (err) {
    return (outcome = { applied: false, reason: `native/no-core-dump is not built (scripts/setup.sh builds it): ${(err as Error).message.split('\n')[0]}` });
  }
  const failure = addon.harden();
  return (outcome = failure === '' ? { applied: true } : { applied: false, reason: failure });
}
