import { describe, expect, it } from 'vitest';
import { askedAhead } from '../../src/util/askedAhead.js';

/** A source of `count` items whose each item is asked for (logged) and then waits for `release`. */
function slowSource(count: number, failAt = -1) {
  const asked: number[] = [];
  const gates: (() => void)[] = [];
  async function* source(): AsyncGenerator<number> {
    for (let i = 0; i < count; i++) {
      asked.push(i);
      await new Promise<void>((resolve) => gates.push(resolve));
      if (i === failAt) throw new Error(`item ${i} failed`);
      yield i;
    }
  }
  return { source: source(), asked, release: () => gates.shift()?.() };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('askedAhead', () => {
  it('asks for the items after the one in use while the consumer is busy, up to the depth, and gives them in order', async () => {
    const s = slowSource(10);
    const it = askedAhead(s.source, 3)[Symbol.asyncIterator]();
    const first = it.next();
    for (let i = 0; i < 3; i++) {
      await tick();
      s.release();
    }
    expect((await first).value).toBe(0);
    await tick();
    // Item 0 is with the consumer; 1 and 2 came in meanwhile, and 3 is asked for.
    expect(s.asked).toEqual([0, 1, 2, 3]);
    const rest: number[] = [];
    const done = (async () => {
      for (let r = await it.next(); !r.done; r = await it.next()) rest.push(r.value);
    })();
    for (let i = 0; i < 10; i++) {
      await tick();
      s.release();
    }
    await done;
    expect(rest).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('a failed item fails where the consumer reaches it, after the items before it', async () => {
    const s = slowSource(5, 2);
    const got: number[] = [];
    const consumed = expect(
      (async () => {
        for await (const item of askedAhead(s.source, 4)) got.push(item);
      })(),
    ).rejects.toThrow('item 2 failed');
    for (let i = 0; i < 5; i++) {
      await tick();
      s.release();
    }
    await consumed;
    expect(got).toEqual([0, 1]);
  });
});
