/**
 * Starts the bundled command line (dist/port-main.cjs: cli/main.ts and the library) from V8's
 * code cache of it, dist/port-main.cache. The build writes that cache after running typical
 * commands in one process (scripts/warm-code-cache.mjs), so V8 neither parses the 1.1 MB bundle
 * nor compiles the functions those commands run: a fifth to a third of `port --help` and 40-60 ms of
 * every conversion (docs/performance.md). A cache V8 rejects (another Node version, other
 * V8 flags, a changed bundle) or a missing one costs only that time: the bundle is compiled as
 * usual.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import type { BlankWorker } from '../io/worker-start.js';

interface CliModule {
  main(argv: string[], launch?: { checksWorker?: BlankWorker }): Promise<number>;
}

export interface LoadedCli extends CliModule {
  /** The compiled bundle, for writing its code cache; undefined where it was require()d. */
  readonly script?: vm.Script;
  /** True when a code cache was there and V8 refused it. */
  readonly cacheRejected?: boolean;
}

/** The code cache that belongs to a bundle: `port-main.cjs` -> `port-main.cache`. */
export const codeCachePath = (bundle: string): string => bundle.replace(/\.cjs$/, '') + '.cache';

/**
 * V8 flags for a conversion. Its hot work runs in WebAssembly and in the kernel; its JavaScript
 * runs once per file or per tensor, and at V8's default budget TurboFan compiled about 50 such
 * functions on the background threads, 0.3 s of compile jobs (`--trace-opt`) that mostly finished
 * after their function's last call: on 2 cores that CPU is taken from the checks worker and the
 * I/O threads. With a budget 15x the default (66 KiB in Node 20) three small functions are
 * optimised; the full IRv2 Keras -> ONNX went from 515 to 462 ms (CPU 813 -> 712 ms), TF V1 ->
 * safetensors 617 -> 541 ms, V2 469 -> 427 ms (medians of 7-9 interleaved runs); the same with the
 * parity check on (tfjs-wasm and onnxruntime) 4.24 -> 4.23 s. 3 MB measured no better for these and
 * slower for Keras -> tfjs (710 against 564 ms); 250 KB to 2 MB, set as setPortV8Flags does, within
 * noise of 1 MB (21 interleaved runs each).
 */
export const PORT_V8_FLAGS = '--interrupt-budget=1000000';

/**
 * Sets PORT_V8_FLAGS; call it once what the process needs is compiled. Any flag set at run time
 * changes the flag hash V8 checks a code cache against, so everything compiled afterwards is
 * compiled from source: this bundle's cache (written under default flags), and Node's own cache
 * of its built-in modules, which a worker thread's start and node:crypto alone take 40-45 ms of
 * CPU to compile without (measured beside the same steps under default flags).
 */
export function setPortV8Flags(): void {
  v8.setFlagsFromString(PORT_V8_FLAGS);
}

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
