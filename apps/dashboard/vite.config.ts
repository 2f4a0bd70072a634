import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

/** The dashboard's build: a static app the API serves at /ui/ (so assets resolve under it). */
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/ui/',
  plugins: [react()],
  logLevel: 'warn',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
  },
  // `pnpm --filter @switchyard/dashboard dev`: the app with hot reload at :5173/ui/, its API
  // calls passed to a running API (SWITCHYARD_API_URL, as for the CLI), so the origin is one.
  server: {
    proxy: { '/v1': process.env.SWITCHYARD_API_URL ?? 'http://127.0.0.1:8080' },
  },
});
