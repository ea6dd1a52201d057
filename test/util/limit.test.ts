import { describe, expect, it } from 'vitest';
import { deferred } from '../../src/util/deferred.js';
import { createLimiter, createSerialQueue } from '../../src/util/limit.js';

const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('the one limiter', () => {
  it('runs at most N at once, starts the rest in the order queued, and a failure frees its place', async () => {
    const limit = createLimiter(2);
    const gates = [deferred<void>(), deferred<void>(), deferred<void>(), deferred<void>()];
    const started: number[] = [];
    const results = gates.map((g, i) => limit(async () => {
      started.push(i);
      await g.promise;
      return i;
    }));
    // Observed from the start: the failure below must not pass through as an unhandled rejection.
    const outcomes = Promise.allSettled(results);
    await settle();
    expect(started).toEqual([0, 1]);
    gates[1]!.reject(new Error('one failed'));
    await settle();
    expect(started).toEqual([0, 1, 2]);
    gates[0]!.resolve();
    await settle();
    expect(started).toEqual([0, 1, 2, 3]);
    gates[2]!.resolve();
    gates[3]!.resolve();
    const outcome = await outcomes;
    expect(outcome.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect((outcome[3] as PromiseFulfilledResult<number>).value).toBe(3);
  });

  it('a task that throws before returning a promise rejects and gives its place back', async () => {
    const limit = createLimiter(1);
    const thrown = limit((): Promise<void> => {
      throw new Error('at once');
    });
    await expect(thrown).rejects.toThrow('at once');
    await expect(limit(async () => 'next')).resolves.toBe('next');
  });

  it('the serial queue runs one task at a time in order, past failures', async () => {
    const serial = createSerialQueue();
    const log: string[] = [];
    const first = deferred<void>();
    const a = serial(async () => {
      log.push('a starts');
      await first.promise;
      log.push('a ends');
      throw new Error('a failed');
    });
    const b = serial(async () => void log.push('b'));
    await settle();
    expect(log).toEqual(['a starts']);
    first.resolve();
    await expect(a).rejects.toThrow('a failed');
    await b;
    expect(log).toEqual(['a starts', 'a ends', 'b']);
  });
});
