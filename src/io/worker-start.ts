/**
 * Worker threads started before their work is known. A Node worker takes 20-30 ms of CPU to start
 * (its own V8 isolate and Node environment): the launcher starts the checks worker of a conversion
 * (io/background.ts) as its first step, on the core that is idle while the main thread compiles
 * the command line and opens the source, and the worker's first message then brings its code.
 * Kept apart from background.ts so that the launcher, which runs without a code cache, loads
 * only this.
 */
import { Worker } from 'node:worker_threads';

/** The message a blank worker sends once it has started (io/background.ts's tasks all have an id). */
export const STARTED = 'weightport:worker-started';

// The worker loads the modules its checks use (node:crypto for the SHA-256), says it has started,
// and waits: its first message is { source, workerData }, and `source` runs as a function body with
// `require` and `workerData` in scope (CommonJS, as an eval worker's code).
const BOOTSTRAP = `const { parentPort } = require('node:worker_threads');
require('node:crypto');
parentPort.postMessage(${JSON.stringify(STARTED)});
parentPort.once('message', (m) => new Function('require', 'workerData', m.source)(require, m.workerData));`;

export interface BlankWorker {
  readonly worker: Worker;
  /** False once the thread has ended (it failed to start, or was terminated). */
  readonly alive: boolean;
  /** Resolves once the thread has started and loaded its modules, or has ended; never rejects. */
  readonly started: Promise<void>;
}

/** A worker waiting for its code; unreferenced (it keeps no process alive) until `giveWork`. */
export function startBlankWorker(): BlankWorker {
  const worker = new Worker(BOOTSTRAP, { eval: true, stdout: true, stderr: true });
  let hasStarted = () => {};
  const started = new Promise<void>((resolve) => (hasStarted = resolve));
  const blank = { worker, alive: true, started };
  worker.on('message', function whenStarted(m: unknown) {
    if (m !== STARTED) return;
    worker.off('message', whenStarted);
    hasStarted();
  });
  worker.once('exit', () => {
    blank.alive = false;
    hasStarted();
  });
  worker.on('error', () => undefined); // seen by whoever gives it work, as its exit
  worker.unref();
  return blank;
}

/** Sends the worker its code (see BOOTSTRAP) and lets it keep the process alive again. */
export function giveWork(worker: Worker, source: string, workerData: unknown): void {
  worker.ref();
  worker.postMessage({ source, workerData });
}
