/**
 * The items of `source` in order, with up to `depth` of them asked for ahead of the consumer: a
 * listing's next pages are on the wire while it is still busy with one (or waits for something
 * else, as a directory's index), instead of one round trip after it is done. An item that failed
 * fails where the consumer reaches it. Stopping early (a break, an error) waits for the items asked
 * for, then ends the source.
 */
export async function* askedAhead<T>(source: AsyncIterable<T>, depth: number): AsyncGenerator<T> {
  const it = source[Symbol.asyncIterator]();
  const asked: Promise<IteratorResult<T>>[] = [];
  let ended = false;
  const end = (): void => void (ended = true);
  const ask = (): void => {
    while (!ended && asked.length < depth) {
      const next = it.next();
      next.then((r) => r.done && end(), end);
      asked.push(next);
    }
  };
  try {
    for (;;) {
      ask();
      const next = await asked.shift();
      if (!next || next.done) return;
      // The next ones are asked for before this one goes to the consumer, which may keep it a while.
      ask();
      yield next.value;
    }
  } finally {
    if (!ended) {
      await Promise.allSettled(asked);
      await it.return?.();
    }
  }
}
