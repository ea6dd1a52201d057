import type { Logger } from '../log.js';
import { nextBackgroundDelay } from '../store/retry.js';

/** What waits: anything with a size (the bytes it holds in the mount) and a name for the log. */
export interface Waiting {
  readonly size: number;
  readonly path: string;
}

export interface WriteBackQueueOptions<T extends Waiting> {
  /** Bytes that may wait at once; roomFor() says whether one more fits. */
  maxBytes: number;
  /** Runs when an item's wait is over; a rejection is logged and the item waits again (nextBackgroundDelay). */
  due: (item: T) => Promise<void>;
  log: Logger;
}

/**
 * Closed files whose upload waits: one timer each, a bound on the bytes they hold, and the backoff
 * of an upload that fails (the file stays readable in the mount meanwhile). It knows nothing of
 * uploads: `due` does the work.
 */
export class WriteBackQueue<T extends Waiting> {
  private readonly timers = new Map<T, NodeJS.Timeout>();

  constructor(private readonly o: WriteBackQueueOptions<T>) {}

  has(item: T): boolean {
    return this.timers.has(item);
  }

  /** Whether what waits (`item` aside) leaves room for `item`. */
  roomFor(item: T): boolean {
    let waiting = 0;
    for (const other of this.timers.keys()) if (other !== item) waiting += other.size;
    return waiting + item.size <= this.o.maxBytes;
  }

  /** `item` is due in `delayMs`, whatever it waited for before. */
  schedule(item: T, delayMs: number): void {
    clearTimeout(this.timers.get(item));
    const timer = setTimeout(() => {
      this.timers.delete(item);
      this.o.due(item).catch((err: Error) => {
        const next = nextBackgroundDelay(Math.max(delayMs, 1));
        this.o.log.error(`${item.path}: upload after close failed, trying again in ${next / 1000} s: ${err.message}`);
        this.schedule(item, next);
      });
    }, delayMs);
    this.timers.set(item, timer);
  }

  /** `item` waits no more (its upload started elsewhere, or it was opened again). */
  cancel(item: T): void {
    clearTimeout(this.timers.get(item));
    this.timers.delete(item);
  }

  /** Nothing waits any more: the caller uploads what is left itself (unmount). */
  cancelAll(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }
}
