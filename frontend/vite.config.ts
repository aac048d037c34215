/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';
import tailwindcss from '@tailwindcss/vite';
import { fileURLToPath } from 'node:url';

const outDir = fileURLToPath(new URL('../src/beholder/web', import.meta.url));
const apiTarget = process.env.BEHOLDER_DEV_API ?? 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [react(), tailwindcss()],
  build: {
    outDir,
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    chunkSizeWarningLimit: 500,
  },
  server: {
    proxy: {
      '/api': { target: apiTarget, changeOrigin: false },
      '/ws': { target: apiTarget.replace(/^http/, 'ws'), ws: true },
    },
  },
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.{ts,tsx}', 'tests/**/*.test.{ts,tsx}'],
    pool: 'threads',
    maxWorkers: 1,
    restoreMocks: true,
    // Line coverage of the app's sources: `npm test` (and so `make test`) runs with --coverage
    // and prints it per file (fully covered files omitted) and in total. The floors are the
    // level reached, rounded down: a change that lowers coverage fails. `npx vitest run FILE`
    // runs without coverage, so a single test file is not held to the floors.
    coverage: {
      provider: 'v8',
      include: ['src/**/*.{ts,tsx}'],
      exclude: ['src/**/__tests__/**', 'src/test/**', 'src/**/*.test.{ts,tsx}', 'src/api/generated/**', 'src/**/*.d.ts'],
      reporter: [['text', { skipFull: true }], 'text-summary'],
      // Reached on 2026-12-02: lines 96.0 %, statements 93.3 %, functions 93.0 %, branches 86.1 %;
      // floors one point under, so that a timing-dependent branch cannot fail a run by itself.
      thresholds: { lines: 95, statements: 92, functions: 92, branches: 85 },
    },
  },
});
