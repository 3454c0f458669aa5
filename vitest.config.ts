import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 600_000,
    // Two cores: full-size conversions and Python fixtures run one file at a time.
    fileParallelism: false,
    pool: 'forks',
  },
});
