import { Readable } from 'node:stream';
import { FsError } from '../errors.js';
import { RetryBudget, type RetryPolicy } from './retry.js';

export interface ResumableBodyOptions {
  /** Object offset of the first byte of `first`. */
  start: number;
  /** Object offset just past the last byte the response promised. */
  endExclusive: number;
  /** Re-requests the rest of the range from `offset`, pinned to the first response's ETag. */
  reopen: (offset: number) => Promise<Readable>;
  retry: RetryPolicy;
  /**
   * The longest wait for the next body bytes while the reader is asking for them; then the
   * connection counts as dead (a silent network drops no FIN and no RST) and the rest is fetched
   * again. 0 waits forever. Time the reader spends not asking (backpressure) does not count.
   */
  idleTimeoutMs?: number;
  /** Turns a final failure into the FsError the reader sees. */
  fail: (err: unknown) => FsError;
  /** Hears, before the wait, of each failure that another try follows: the byte that try starts from, the tries failed, the wait. */
  retried?: (err: unknown, offset: number, failed: number, delayMs: number) => void;
}

/**
 * The body of a GET that survives a connection dropped mid-way: the bytes already delivered stay
 * delivered and the rest is fetched from the exact byte where the stream stopped. The reader sees
 * one uninterrupted stream, so a CTR decryptor downstream just keeps counting.
 */
export function resumableBody(first: Readable, o: ResumableBodyOptions): Readable {
  /** The response being read; let go of the moment the reader is (see below). */
  let stream = first;
  /** The reader let go: nothing more is fetched. */
  let stopped = false;
  async function* chunks(): AsyncGenerator<Buffer> {
    let offset = o.start;
    let failedAt = o.start;
    const budget = new RetryBudget(o.retry);
    for (;;) {
      try {
        const source = (stream as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
        for (;;) {
          const next = await nextWithin(source, stream, o.idleTimeoutMs ?? 0, offset);
          if (next.done) break;
          offset += next.value.length;
          yield next.value;
        }
        if (offset >= o.endExclusive) return;
        throw Object.assign(new Error(`body ended at byte ${offset} of ${o.endExclusive}`), {
          code: 'ERR_STREAM_PREMATURE_CLOSE',
        });
      } catch (err) {
        abandon(stream);
        if (stopped) return;
        const progressed = offset > failedAt;
        failedAt = offset;
        await tryAgainOrFail(err, offset, budget, progressed);
      }
      stream = await reopenWithRetry(offset, budget);
      if (stopped) return abandon(stream);
    }
  }

  async function reopenWithRetry(offset: number, budget: RetryBudget): Promise<Readable> {
    for (;;) {
      try {
        return await o.reopen(offset);
      } catch (err) {
        await tryAgainOrFail(err, offset, budget);
      }
    }
  }

  /** Waits for the next try from `offset`, or throws the reader's error once retrying is over. */
  async function tryAgainOrFail(err: unknown, offset: number, budget: RetryBudget, progressed = false): Promise<void> {
    if (!(await budget.again(err, progressed, (delayMs, failed) => o.retried?.(err, offset, failed, delayMs)))) throw o.fail(err);
  }

  // Not Readable.from: a reader that stops early (a bad envelope found in the first bytes)
  // destroys the body, and that must reach the response under it at once. Readable.from hands a
  // destroy to the generator only once its pending read settles, which a paused response never
  // does: it held its connection, and kept the process alive, until the server gave up on it.
  const iterator = chunks();
  return new Readable({
    highWaterMark: 64 * 1024,
    read() {
      iterator.next().then(
        (next) => void this.push(next.done ? null : next.value),
        (err: Error) => this.destroy(err),
      );
    },
    destroy(err, callback) {
      stopped = true;
      abandon(stream);
      callback(err);
    },
  });
}

/**
 * Lets go of a response nobody reads any more. Destroyed before its end, undici's body emits an
 * abort error; with no reader left to hear it, that would be an uncaught 'error' event.
 */
export function abandon(stream: Readable): void {
  stream.on('error', () => undefined);
  stream.destroy();
}

/** The next chunk, or a retryable ETIMEDOUT (and the stream destroyed) when none comes within `ms`. */
function nextWithin(source: AsyncIterator<Buffer>, stream: Readable, ms: number, offset: number): Promise<IteratorResult<Buffer>> {
  if (ms <= 0) return source.next();
  let timer: NodeJS.Timeout | undefined;
  const idle = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = Object.assign(new Error(`no body bytes for ${ms} ms at byte ${offset}`), { code: 'ETIMEDOUT' });
      stream.destroy(err);
      reject(err);
    }, ms);
  });
  return Promise.race([source.next(), idle]).finally(() => clearTimeout(timer));
}
