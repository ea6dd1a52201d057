import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

type Gc = (options: { type: 'major' | 'minor'; execution: 'async' }) => Promise<void>;

let gc: Gc | undefined;

/**
 * Lets Collectors ask V8 for collections from now on; until then they leave V8 to its own schedule.
 * An entry point's decision (the mount's and the server's), never an import's side effect:
 * --expose-gc is a flag for the whole process, and `gc` appears in every context made while it is
 * on, so it is on just long enough to make one. (A script that declares its own `gc` at top
 * level, like the decrypt worker's, fails to load in a context that has the global.)
 */
export function enableCollections(): void {
  if (gc) return;
  setFlagsFromString('--expose-gc');
  try {
    gc = runInNewContext('gc') as Gc;
  } finally {
    setFlagsFromString('--no-expose-gc');
  }
}

/**
 * Asks V8 for a collection once enough buffer memory has become garbage (after
 * enableCollections). V8 counts a buffer's bytes as external memory, and left to itself frees dead
 * buffers only at the full collection that external memory triggers after ~64 MiB more of it:
 * meanwhile that much stays resident, and each new buffer is fresh memory (page faults, cold
 * caches) instead of one just freed.
 *
 * - `major` for buffers that died old: the block cache's blocks and a writer's parts
 *   (memory/budget.ts). A full collection of the mount's heap (tens of MiB) costs tens of ms.
 * - `minor` for buffers that die young: the server's body chunks once hashed
 *   (server/storage/bodyHasher.ts). A scavenge of the young generation frees them for a
 *   fraction of a millisecond.
 */
export class Collector {
  private garbage = 0;
  private collecting = false;

  constructor(
    private readonly threshold: number,
    private readonly kind: 'major' | 'minor',
  ) {}

  /** `bytes` of buffers just became unreachable. */
  dropped(bytes: number): void {
    if (!gc) return;
    this.garbage += bytes;
    if (this.garbage < this.threshold || this.collecting) return;
    this.garbage = 0;
    this.collecting = true;
    // Async: the collection runs outside the code that dropped the buffers (it may still be
    // copying out of them), and requests already queued are served first.
    void gc({ type: this.kind, execution: 'async' }).finally(() => (this.collecting = false));
  }
}
