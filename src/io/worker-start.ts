/**
 * Worker threads started before their work is known. A Node worker takes 20-30 ms of CPU to start
 * (its own V8 isolate and Node environment): the launcher starts the checks worker of a conversion
 * (io/background.ts) as its first step, on the core that is idle while the main thread compiles
 * the command line and opens the source, and the worker's first message then brings its code.
 * Kept apart from background.ts so that the launcher, which runs without a code cache, loads
 * only this.
 */
import { Worker } from 'node:worker_threads';

// The first message is { source, workerData }: `source` runs as a function body with `require`
// and `workerData` in scope (CommonJS, as an eval worker's code).
const BOOTSTRAP = `const { parentPort } = require('node:worker_threads');
parentPort.once('message', (m) => new Function('require', 'workerData', m.source)(require, m.workerData));`;

export interface BlankWorker {
  readonly worker: Worker;
  /** False once the thread has ended (it failed to start, or was terminated). */
  readonly alive: boolean;
}

/** A worker waiting for its code; unreferenced (it keeps no process alive) until `giveWork`. */
export function startBlankWorker(): BlankWorker {
  const worker = new Worker(BOOTSTRAP, { eval: true, stdout: true, stderr: true });
  const blank = { worker, alive: true };
  worker.once('exit', () => (blank.alive = false));
  worker.on('error', () => undefined); // seen by whoever gives it work, as its exit
  worker.unref();
  return blank;
}

/** Sends the worker its code (see BOOTSTRAP) and lets it keep the process alive again. */
export function giveWork(worker: Worker, source: string, workerData: unknown): void {
  worker.ref();
  worker.postMessage({ source, workerData });
}
