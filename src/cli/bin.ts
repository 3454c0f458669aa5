#!/usr/bin/env node
// The `port` bin, bundled on its own into dist/port.cjs (scripts/bundle-cli.mjs): runs the
// command line bundled beside it, dist/port-main.cjs, from its code cache (cli/launch.ts). It is
// CommonJS so that Node reads it synchronously: as an ES module it was read through libuv's thread
// pool, which then had started, with its size fixed, before the first line below ran.
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { startBlankWorker } from '../io/worker-start.js';
import { loadCli, setPortV8Flags } from './launch.js';

// The thread pool does a conversion's reads and writes; libuv starts 4 threads on first use, more
// than a 2-core machine runs at once beside the main thread and the checks worker. One per core,
// up to libuv's 4: Keras -> ONNX -12 to -15 ms, TF V1 -10 (paired runs, docs/performance.md). A
// value set in the environment is kept.
process.env.UV_THREADPOOL_SIZE ??= String(Math.min(4, availableParallelism()));

/** The commands that never convert (the others: `convert`, and an input file as the first argument). */
const NOT_CONVERTING = new Set(['graph', 'parity', 'inspect', 'demo', 'diff']);

const argv = process.argv.slice(2);
// A conversion hashes its source on a worker thread, which takes 20-30 ms of CPU to start: started
// first, it starts on the idle core while this thread compiles the command line and opens the
// source (the hash of a Keras .h5 then ends ~30 ms sooner).
const convertsFiles = argv.length > 0 && !NOT_CONVERTING.has(argv[0]) && !argv.some((a) => a === '--help' || a === '-h' || a === '--version');
const checksWorker = convertsFiles ? startBlankWorker() : undefined;
const cli = loadCli(fileURLToPath(new URL('./port-main.cjs', import.meta.url)));
// A conversion's V8 flags, once the bundle and the worker are compiled from their code caches.
checksWorker?.started.then(setPortV8Flags);
void cli.main(argv, { checksWorker }).then((code) => {
  process.exitCode = code;
});
