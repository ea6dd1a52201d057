import { Readable } from 'node:stream';
import { FsError } from '../errors.js';
import { RetryBudget, type RetryPolicy } from './retry.js';
import { isRetryable } from './errors.js';

export interface ResumableBodyOptions {
  /** Object offset of the first byte of `first`. */
  start: number;
  /** Object offset just past the last byte the response promised. */
  endExclusive: number;
  /** Re-requests the rest of the range from `offset`, pinned to the first response's ETag. */
  reopen: (offset: number) => Promise<Readable>;
  retry: RetryPolicy;
  /** Turns a final failure into the FsError the reader sees. */
  fail: (err: unknown) => FsError;
}

/**
 * The body of a GET that survives a connection dropped mid-way: the bytes already delivered stay
 * delivered and the rest is fetched from the exact byte where the stream stopped. The reader sees
 * one uninterrupted stream, so a CTR decryptor downstream just keeps counting.
 */
export function resumableBody(first: Readable, o: ResumableBodyOptions): Readable {
  async function* chunks(): AsyncGenerator<Buffer> {
    let offset = o.start;
    let stream = first;
    let failedAt = o.start;
    const budget = new RetryBudget(o.retry);
    for (;;) {
      try {
        for await (const chunk of stream as AsyncIterable<Buffer>) {
          offset += chunk.length;
          yield chunk;
        }
        if (offset >= o.endExclusive) return;
        throw Object.assign(new Error(`body ended at byte ${offset} of ${o.endExclusive}`), {
          code: 'ERR_STREAM_PREMATURE_CLOSE',
        });
      } catch (err) {
        stream.destroy();
        if (offset > failedAt) budget.reset();
        failedAt = offset;
        if (!isRetryable(err) || !(await budget.next())) throw o.fail(err);
      }
      stream = await reopenWithRetry(offset, budget);
    }
  }

  async function reopenWithRetry(offset: number, budget: RetryBudget): Promise<Readable> {
    for (;;) {
      try {
        return await o.reopen(offset);
      } catch (err) {
        if (!isRetryable(err) || !(await budget.next())) throw o.fail(err);
      }
    }
  }

  return Readable.from(chunks(), { objectMode: false, highWaterMark: 64 * 1024 });
}
