import { defineConfig } from 'vitest/config';

// Two projects: `unit` (pure, fast, no privileges) and `lab` (real FRR, BIRD, dockerd,
// iptables in network namespaces the tests create; needs root, run one file at a time
// because the machine has two cores and the daemons are heavy).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/lab/**', 'node_modules/**'],
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'lab',
          include: ['test/lab/**/*.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
