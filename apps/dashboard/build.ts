/**
 * Builds the dashboard with vite's API: `pnpm dashboard:build` (into apps/dashboard/dist, which
 * the API serves at /ui/), and the browser tests before they start the API, each into a
 * directory of its own (so nothing depends on a build made by hand, and two test runs on one
 * machine never empty each other's build).
 */
import { fileURLToPath } from 'node:url';
import { build } from 'vite';

/** Where `pnpm dashboard:build` puts the build; the API serves this directory at /ui/ by default. */
export const DASHBOARD_DIST = fileURLToPath(new URL('./dist', import.meta.url));

/** Builds the dashboard into `outDir` and returns it: the directory holding index.html and its assets. */
export async function buildDashboard(outDir: string = DASHBOARD_DIST): Promise<string> {
  // Vite and the React plugin take the mode from a NODE_ENV they find set, and a test runner
  // sets it to `test`: that would bundle React's development build (and its double effects).
  // The API serves the production build, whoever builds it.
  const nodeEnv = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production';
  try {
    await build({
      configFile: fileURLToPath(new URL('./vite.config.ts', import.meta.url)),
      mode: 'production',
      build: { outDir, emptyOutDir: true },
    });
  } finally {
    if (nodeEnv === undefined) delete process.env.NODE_ENV;
    else process.env.NODE_ENV = nodeEnv;
  }
  return outDir;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dir = await buildDashboard();
  console.log(`dashboard built into ${dir}; the API serves it at /ui/`);
}
