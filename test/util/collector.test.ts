// --expose-gc is a flag for the whole process: only an entry point may switch it, never an import.
import { afterEach, describe, expect, it, vi } from 'vitest';

const flags = vi.hoisted(() => [] as string[]);
vi.mock('node:v8', async (original) => {
  const v8 = await original<typeof import('node:v8')>();
  return {
    ...v8,
    setFlagsFromString: (flag: string) => {
      flags.push(flag);
      v8.setFlagsFromString(flag);
    },
  };
});

afterEach(() => vi.resetModules());

describe('enableCollections', () => {
  it('importing the collector, the memory budget or the block cache switches no V8 flag', async () => {
    await import('../../src/util/collector.js');
    await import('../../src/memory/budget.js');
    await import('../../src/vfs/blockCache.js');
    expect(flags).toEqual([]);
  });

  it('turns --expose-gc on just long enough to take gc, once however often it is called', async () => {
    const { enableCollections } = await import('../../src/util/collector.js');
    enableCollections();
    enableCollections();
    expect(flags).toEqual(['--expose-gc', '--no-expose-gc']);
  });
});
