import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: FUSE mounts and servers per file are heavy, so files run two at a time.
    maxWorkers: 2,
    pool: 'forks',
  },
});
