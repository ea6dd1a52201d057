// The mount's memory budget: what each account holds, who holds it, what happens when it is full,
// and that a job that fails cannot leave its memory counted.
import { describe, expect, it } from 'vitest';
import { MemoryBudget } from '../../src/memory/budget.js';

const KiB = 1024;
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** A reclaimable holder for a budget: blocks taken under the cache account, given back oldest first. */
function reclaimable(budget: MemoryBudget): { fill: (n: number, size: number) => void; held: () => number; reclaims: () => number } {
  const lease = budget.lease('cache', 'test cache');
  const blocks: Buffer[] = [];
  let reclaims = 0;
  budget.reclaimWith(() => {
    const oldest = blocks.shift();
    if (!oldest) return false;
    reclaims++;
    lease.give(oldest);
    return true;
  });
  return {
    fill: (n, size) => {
      for (let i = 0; i < n; i++) blocks.push(lease.take(size));
    },
    held: () => blocks.length,
    reclaims: () => reclaims,
  };
}

describe('accounts and leases', () => {
  it('counts each lease in its account, names its owner, and sums to the total with the spares', async () => {
    const budget = new MemoryBudget(1024 * KiB);
    const reading = budget.lease('readAhead', 'reader of a.bin');
    const writing = budget.lease('writeParts', 'upload of b.bin');
    const a = reading.take(64 * KiB);
    const b = writing.take(128 * KiB);
    writing.take(128 * KiB);
    expect(a.length).toBe(64 * KiB);
    expect(b.buffer.byteLength).toBe(128 * KiB); // owns its whole memory: it may go to the worker
    expect(budget.usage).toMatchObject({ cache: 0, readAhead: 64 * KiB, writeParts: 256 * KiB, spare: 0, total: 320 * KiB });
    expect(budget.holders()).toEqual([
      { account: 'readAhead', owner: 'reader of a.bin', bytes: 64 * KiB },
      { account: 'writeParts', owner: 'upload of b.bin', bytes: 256 * KiB },
    ]);

    writing.give(b);
    reading.lost(64 * KiB);
    const u = budget.usage;
    expect(u).toMatchObject({ readAhead: 0, writeParts: 128 * KiB, spare: 128 * KiB });
    expect(u.total).toBe(u.cache + u.readAhead + u.writeParts + u.spare);
    expect(budget.holders().map((h) => h.owner)).toEqual(['upload of b.bin']);
  });

  it('a buffer given back serves the next take of its size, by any lease, once the event loop turns', async () => {
    const budget = new MemoryBudget(1024 * KiB);
    const one = budget.lease('writeParts', 'one');
    const other = budget.lease('readAhead', 'other');
    const given = one.take(96 * KiB);
    one.give(given);
    expect(other.take(96 * KiB).buffer).not.toBe(given.buffer); // still in the task that gave it back
    const again = one.take(96 * KiB);
    one.give(again);
    await turn();
    expect(other.take(96 * KiB).buffer).toBe(again.buffer);
    expect(budget.usage.spare).toBe(96 * KiB); // the first one given back, free now too
  });

  it('pass() moves bytes from one lease to another: a fetched block becomes a cached one', () => {
    const budget = new MemoryBudget(1024 * KiB);
    const fetching = budget.lease('readAhead', 'fetches');
    const cached = budget.lease('cache', 'cache');
    const block = fetching.take(32 * KiB);
    fetching.pass(block.length, cached);
    expect([fetching.bytes, cached.bytes]).toEqual([0, 32 * KiB]);
    expect(budget.usage).toMatchObject({ cache: 32 * KiB, readAhead: 0, total: 32 * KiB });
  });
});

describe('a full budget', () => {
  it('lets go of spares first, then reclaims the oldest cached memory, and stays within its size', async () => {
    const budget = new MemoryBudget(512 * KiB);
    const cache = reclaimable(budget);
    cache.fill(6, 64 * KiB);
    const parts = budget.lease('writeParts', 'upload');
    parts.give(parts.take(64 * KiB)); // a spare
    await turn();
    expect(budget.usage).toMatchObject({ cache: 6 * 64 * KiB, spare: 64 * KiB });
    expect(cache.reclaims()).toBe(0);

    parts.take(128 * KiB); // another size: the spare cannot serve it, and is dropped before any block
    expect(budget.usage.total).toBeLessThanOrEqual(512 * KiB);
    expect(budget.usage.writeParts).toBe(128 * KiB);
    expect(cache.reclaims()).toBeGreaterThan(0);
    expect(cache.held()).toBeGreaterThanOrEqual(4);
  });

  it('never refuses memory that cannot be reclaimed: the cache empties, the total passes the size, and the holder is named', () => {
    const budget = new MemoryBudget(256 * KiB);
    const cache = reclaimable(budget);
    cache.fill(4, 64 * KiB);
    const parts = budget.lease('writeParts', 'upload of big.bin');
    for (let i = 0; i < 5; i++) parts.take(128 * KiB);
    expect(cache.held()).toBe(0);
    expect(budget.usage).toMatchObject({ cache: 0, writeParts: 640 * KiB, total: 640 * KiB, allowance: 256 * KiB });
    expect(budget.holders()).toEqual([{ account: 'writeParts', owner: 'upload of big.bin', bytes: 640 * KiB }]);
  });

  it('gives read-ahead room for a quarter of the allowance, less what unreclaimable memory leaves', () => {
    const budget = new MemoryBudget(1024 * KiB);
    reclaimable(budget).fill(8, 64 * KiB); // cached blocks take no room: they can be reclaimed
    expect(budget.room('readAhead')).toBe(256 * KiB);
    const fetches = budget.lease('readAhead', 'fetches');
    fetches.take(64 * KiB);
    expect(budget.room('readAhead')).toBe(192 * KiB);
    const parts = budget.lease('writeParts', 'upload');
    for (let i = 0; i < 7; i++) parts.take(128 * KiB); // 896 KiB of parts and 64 KiB fetching: 64 KiB left
    expect(budget.room('readAhead')).toBe(64 * KiB);
    parts.take(128 * KiB);
    expect(budget.room('readAhead')).toBe(0);
  });

  it("shrinks its allowance to what the process's memory target leaves, never below half its size", () => {
    const inUse = (): number => process.memoryUsage.rss();
    const over = new MemoryBudget(1024 * KiB, { rss: inUse() - 1024 * KiB, inUse });
    over.lease('readAhead', 'fetches').take(16 * KiB);
    expect(over.usage.allowance).toBe(512 * KiB);
    const under = new MemoryBudget(1024 * KiB, { rss: inUse() + 1024 * 1024 * KiB, inUse });
    under.lease('readAhead', 'fetches').take(16 * KiB);
    expect(under.usage.allowance).toBe(1024 * KiB);
  });
});

describe('memory an owner holds itself (staging)', () => {
  it("counts in the staging account, pushes cached blocks out to make room, and is written off when the lease ends", () => {
    const budget = new MemoryBudget(256 * KiB);
    const cache = reclaimable(budget);
    cache.fill(4, 64 * KiB);
    const staging = budget.lease('staging', 'open file /a.txt');
    staging.own(100 * KiB);
    staging.own(28 * KiB);
    const u = budget.usage;
    expect(u.staging).toBe(128 * KiB);
    expect(u.total).toBe(u.cache + u.staging + u.spare);
    expect(u.total).toBeLessThanOrEqual(256 * KiB);
    expect(cache.held()).toBeLessThanOrEqual(2); // of 4: the budget took back what the staged bytes needed
    expect(budget.holders()).toContainEqual({ account: 'staging', owner: 'open file /a.txt', bytes: 128 * KiB });
    staging.end();
    expect(budget.usage.staging).toBe(0);
    expect(budget.holders().map((h) => h.owner)).toEqual(['test cache']);
    expect(() => staging.own(1)).toThrow(/after its lease ended/);
  });

  it('is unreclaimable: it leaves read-ahead only what the allowance has beyond it', () => {
    const budget = new MemoryBudget(1024 * KiB);
    budget.lease('staging', 'open file /big').own(900 * KiB);
    expect(budget.room('readAhead')).toBe(124 * KiB);
  });
});

describe('the process past its memory target', () => {
  it('names the holders once as it goes past, and again only after it was back under', () => {
    let used = 0;
    const told: string[][] = [];
    const budget = new MemoryBudget(1024 * KiB, { rss: 1024 * 1024 * KiB, inUse: () => used, exceeded: (holders) => told.push(holders.map((h) => h.owner)) });
    const parts = budget.lease('writeParts', 'upload of big.bin');
    parts.take(64 * KiB);
    expect(told).toEqual([]);
    used = 2048 * 1024 * KiB;
    parts.take(64 * KiB);
    parts.take(64 * KiB);
    expect(told).toEqual([['upload of big.bin']]);
    used = 0;
    parts.take(64 * KiB);
    used = 2048 * 1024 * KiB;
    parts.take(64 * KiB);
    expect(told).toHaveLength(2);
  });
});

describe('a lease that ends', () => {
  it('writes off what its owner still holds (a failed job), and what comes back later is not counted again', async () => {
    const budget = new MemoryBudget(1024 * KiB);
    const parts = budget.lease('writeParts', 'upload of failed.bin');
    const inFlight = parts.take(128 * KiB);
    parts.take(128 * KiB);
    parts.end();
    expect(budget.usage).toMatchObject({ writeParts: 0, total: 0 });
    expect(budget.holders()).toEqual([]);
    parts.give(inFlight); // the part's request settled after the upload was given up
    parts.lost(128 * KiB);
    await turn();
    expect(budget.usage).toMatchObject({ writeParts: 0, spare: 0, total: 0 });
    expect(() => parts.take(128 * KiB)).toThrow(/upload of failed.bin.*after its lease ended/);
  });

  it('ends on an error path with try/finally: nothing stays counted whatever the job threw', async () => {
    const budget = new MemoryBudget(1024 * KiB);
    async function failingUpload(): Promise<void> {
      const parts = budget.lease('writeParts', 'upload of x');
      try {
        parts.take(256 * KiB);
        await turn();
        throw new Error('store refused the part');
      } finally {
        parts.end();
      }
    }
    await expect(failingUpload()).rejects.toThrow('store refused the part');
    expect(budget.usage.writeParts).toBe(0);
    expect(budget.holders()).toEqual([]);
  });
});

describe('a budget of no size', () => {
  it('is refused', () => {
    expect(() => new MemoryBudget(0)).toThrow(RangeError);
  });
});
