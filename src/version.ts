import { readFileSync } from 'node:fs';

let version: string | undefined;

/**
 * The package's version, from package.json (written into outputs' provenance and reports). This
 * module is one level below the root both as src/version.ts and as dist/version.js, and so is the
 * bundled command line, dist/port-main.cjs: the same relative URL finds package.json from all three.
 */
export function packageVersion(): string {
  if (version === undefined) {
    try {
      version = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
    } catch {
      version = 'unknown';
    }
  }
  return version;
}
