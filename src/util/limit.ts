/** Runs a task when its turn comes; the promise is the task's. */
export type Limiter = <T>(task: () => Promise<T>) => Promise<T>;

/**
 * Runs at most `concurrency` of the given tasks at once, in the order they were queued; a task
 * that fails does not hold up the ones behind it. (Bounded fan-out for HEADs, copies, deletes and
 * transfers; p-limit's idea in a dozen lines.)
 */
export function createLimiter(concurrency: number): Limiter {
  let running = 0;
  const queue: (() => void)[] = [];
  const next = (): void => {
    running--;
    queue.shift()?.();
  };
  return <T>(task: () => Promise<T>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const run = (): void => {
        running++;
        // A task that throws before it returns a promise still gives its place back.
        let result: Promise<T>;
        try {
          result = task();
        } catch (err) {
          result = Promise.reject(err);
        }
        result.then(resolve, reject).finally(next);
      };
      if (running < concurrency) run();
      else queue.push(run);
    });
}

/** Runs tasks one at a time, in the order they were queued: the limiter with room for one. */
export function createSerialQueue(): Limiter {
  return createLimiter(1);
}
