/**
 * Starts the bundled command line (dist/port-main.cjs: cli/main.ts and the library) from V8's
 * code cache of it, dist/port-main.cache. The build writes that cache after running typical
 * commands in one process (scripts/warm-code-cache.mjs), so V8 neither parses the 1.1 MB bundle
 * nor compiles the functions those commands run: a fifth to a third of `port --help` and 40-60 ms of
 * every conversion (README, Speed and memory). A cache V8 rejects (another Node version, other
 * V8 flags, a changed bundle) or a missing one costs only that time: the bundle is compiled as
 * usual.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import vm from 'node:vm';

interface CliModule {
  main(argv: string[]): Promise<number>;
}

export interface LoadedCli extends CliModule {
  /** The compiled bundle, for writing its code cache; undefined where it was require()d. */
  readonly script?: vm.Script;
  /** True when a code cache was there and V8 refused it. */
  readonly cacheRejected?: boolean;
}

/** The code cache that belongs to a bundle: `port-main.cjs` -> `port-main.cache`. */
export const codeCachePath = (bundle: string): string => bundle.replace(/\.cjs$/, '') + '.cache';

/** Loads the CommonJS bundle as Node's own loader would, compiled with its code cache when one is there. */
export function loadCli(bundle: string, options: { useCache?: boolean } = {}): LoadedCli {
  const require = createRequire(bundle);
  // Node maps stack traces (`node --enable-source-maps`) only in modules it loads itself.
  if (process.sourceMapsEnabled) return require(bundle) as CliModule;
  let cachedData: Buffer | undefined;
  if (options.useCache !== false) {
    try {
      cachedData = readFileSync(codeCachePath(bundle));
    } catch {
      // no cache: compiled as usual
    }
  }
  // The wrapper Node puts around every CommonJS module.
  const source = `(function (exports, require, module, __filename, __dirname) { ${readFileSync(bundle, 'utf8')}\n})`;
  const script = new vm.Script(source, { filename: bundle, cachedData });
  const module = { exports: {} as CliModule };
  (script.runInThisContext() as (...args: unknown[]) => void)(module.exports, require, module, bundle, dirname(bundle));
  return { main: module.exports.main, script, cacheRejected: cachedData ? script.cachedDataRejected : undefined };
}
