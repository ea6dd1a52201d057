import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Asks V8 for a full collection once enough buffer memory has become garbage. Buffers the block
 * cache lets go of are old by then (blocks live long), and V8 would free them only at its next
 * full collection, which external memory triggers after ~64 MiB more of it, so meanwhile that
 * much stays resident on top of the budget: the cache's own churn (a writer's parts and the
 * blocks they displace, two sizes that cannot reuse each other's memory) would take the mount's
 * RSS that far past --cache-size. A full collection of this heap (tens of MiB) costs tens of ms.
 *
 * --expose-gc is a flag for the whole process, and `gc` appears in every context made while it is
 * on: it is on just long enough to make one. (A script that declares its own `gc` at top level,
 * like the decrypt worker's, fails to load in a context that has the global.)
 */
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as (options: { type: 'major'; execution: 'async' }) => Promise<void>;
setFlagsFromString('--no-expose-gc');

export class Collector {
  private garbage = 0;
  private collecting = false;

  constructor(private readonly threshold: number) {}

  /** `bytes` of buffers just became unreachable. */
  dropped(bytes: number): void {
    this.garbage += bytes;
    if (this.garbage < this.threshold || this.collecting) return;
    this.garbage = 0;
    this.collecting = true;
    // Async: the collection runs outside the code that dropped the buffers (it may still be
    // copying out of them), and FUSE requests already queued are served first.
    void gc({ type: 'major', execution: 'async' }).finally(() => (this.collecting = false));
  }
}
