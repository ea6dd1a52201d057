/**
 * Runs at most `concurrency` of the given tasks at once, in the order they were queued.
 * (Bounded fan-out for HEADs, copies and deletes; p-limit's idea in a dozen lines.)
 */
export function createLimiter(concurrency: number): <T>(task: () => Promise<T>) => Promise<T> {
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
        task().then(resolve, reject).finally(next);
      };
      if (running < concurrency) run();
      else queue.push(run);
    });
}
