/**
 * HDF5 files: the built-in pure-TypeScript reader first (hdf5-native.ts: the subset h5py writes for
 * Keras files, no WebAssembly start-up), h5wasm for everything else. h5wasm runs in a worker
 * thread (worker-source.ts says why); this module is its client: it starts workers, keeps one
 * healthy idle worker per h5wasm build for the next file, puts a time limit on every call, and turns every failure (HDF5 errors, wasm aborts, a dead or
 * hung worker) into an `Hdf5Error`; the Keras reader rewraps those as FormatErrors naming the file
 * and the layer.
 *
 * Two h5wasm builds: `h5wasm/node` opens real paths (Emscripten's NODERAWFS, which reads the file
 * through Node's fs as HDF5 asks), the plain `h5wasm` build keeps files in its in-memory file
 * system (MEMFS): the weights inside a `.keras` zip are opened from memory, never extracted to disk.
 * Nothing here is imported by the CLI before a Keras file is opened.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Worker as WorkerType } from 'node:worker_threads';
import { openHdf5Native } from './hdf5-native.js';
import { Hdf5Error, Hdf5Unsupported, MAX_DEPTH, MAX_OBJECTS, type H5Node, type Hdf5File, type Hdf5Source } from './hdf5/types.js';
import { WORKER_SOURCE } from './worker-source.js';

export { Hdf5Error, Hdf5Unsupported, MAX_DEPTH, MAX_OBJECTS } from './hdf5/types.js';
export type { H5DatasetInfo, H5Node, Hdf5File, Hdf5Source } from './hdf5/types.js';

export interface Hdf5Options {
  /** Time limit of each h5wasm call (open: the whole listing; read: one dataset), ms. Default 120 s. */
  readonly timeoutMs?: number;
  /**
   * Which HDF5 reader: `auto` (default) the built-in one, h5wasm for files it does not support;
   * `native` the built-in one only (Hdf5Unsupported otherwise); `h5wasm` h5wasm only.
   */
  readonly engine?: 'auto' | 'native' | 'h5wasm';
}

const DEFAULT_TIMEOUT_MS = 120_000;

type Build = 'node' | 'memory';

/** The file URL of an h5wasm entry point, from its package.json `exports` (no import of h5wasm here). */
function h5wasmUrl(build: Build): string {
  const require = createRequire(import.meta.url);
  for (const dir of require.resolve.paths('h5wasm') ?? []) {
    const manifest = join(dir, 'h5wasm', 'package.json');
    if (!existsSync(manifest)) continue;
    const exports = (JSON.parse(readFileSync(manifest, 'utf8')) as { exports: Record<string, { import?: string } | string> }).exports;
    const entry = exports[build === 'node' ? './node' : '.'];
    const target = typeof entry === 'string' ? entry : entry?.import;
    if (!target) break;
    return pathToFileURL(join(dir, 'h5wasm', target)).href;
  }
  throw new Hdf5Error('the h5wasm package is not installed');
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

/** One worker with one h5wasm instance. */
class H5Worker {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  /** False once the worker died, timed out or its wasm instance aborted: never reused. */
  healthy = true;

  private constructor(
    readonly build: Build,
    private readonly worker: WorkerType,
  ) {
    worker.on('message', (msg: { id: number; result?: unknown; error?: { name: string; message: string } }) => {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      clearTimeout(p.timer);
      if (msg.error) {
        // A wasm abort (RuntimeError: "Aborted(...)", "memory access out of bounds", "unreachable")
        // leaves the instance unusable.
        const aborted = msg.error.name === 'RuntimeError' || /Aborted\(|out of bounds|unreachable/.test(msg.error.message);
        if (aborted) this.healthy = false;
        p.reject(new Hdf5Error(cleanMessage(msg.error.message), aborted));
      } else p.resolve(msg.result);
    });
    const fail = (why: string) => {
      this.healthy = false;
      for (const [id, p] of this.pending) {
        clearTimeout(p.timer);
        this.pending.delete(id);
        p.reject(new Hdf5Error(why, true));
      }
    };
    worker.on('error', (e) => fail(`the HDF5 worker failed: ${cleanMessage(e.message)}`));
    worker.on('exit', (code) => fail(`the HDF5 worker exited (code ${code})`));
  }

  static async start(build: Build): Promise<H5Worker> {
    const { Worker } = await import('node:worker_threads');
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      // The worker silences its own stdout/stderr (worker-source.ts says why).
      workerData: { url: h5wasmUrl(build), maxNodes: MAX_OBJECTS, maxDepth: MAX_DEPTH },
      // Not the parent's flags: `--input-type=module` (node -e) would make this CommonJS code ESM.
      execArgv: [],
    });
    return new H5Worker(build, worker);
  }

  call<T>(op: string, args: Record<string, unknown>, timeoutMs: number, transfer: ArrayBuffer[] = []): Promise<T> {
    if (!this.healthy) return Promise.reject(new Hdf5Error('the HDF5 worker is no longer usable', true));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        this.healthy = false;
        void this.worker.terminate();
        reject(new Hdf5Error(`HDF5 did not answer within ${(timeoutMs / 1000).toFixed(1)} s (${op})`, true));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.worker.postMessage({ id, op, ...args }, transfer);
    });
  }

  ref(): void {
    this.worker.ref();
  }
  unref(): void {
    this.worker.unref();
  }
  async terminate(): Promise<void> {
    this.healthy = false;
    await this.worker.terminate();
  }
}

/** HDF5's multi-line diagnostics, reduced to their first line and the innermost "minor" reason. */
function cleanMessage(message: string): string {
  const lines = message.split('\n').map((l) => l.trim()).filter(Boolean);
  const minors = lines.filter((l) => l.startsWith('minor:')).map((l) => l.slice(6).trim());
  const first = lines[0] ?? message;
  const head = first.startsWith('HDF5-DIAG') ? (lines.find((l) => /^#\d+/.test(l)) ?? first).replace(/^#\d+:\s*\S+ line \d+ in /, '') : first;
  return minors.length ? `${head} (${minors.at(-1)})` : head;
}

/**
 * One idle healthy worker per build, reused by the next file within IDLE_MS (h5wasm takes about
 * 0.5 s to start); an idle worker never keeps the process alive (unref) and is stopped after that.
 */
const idle = new Map<Build, { worker: H5Worker; timer: NodeJS.Timeout }>();
const IDLE_MS = 10_000;

async function acquire(build: Build): Promise<H5Worker> {
  const hit = idle.get(build);
  if (hit) {
    idle.delete(build);
    clearTimeout(hit.timer);
    hit.worker.ref();
    return hit.worker;
  }
  return H5Worker.start(build);
}

async function release(w: H5Worker): Promise<void> {
  if (w.healthy && !idle.has(w.build)) {
    w.unref();
    const timer = setTimeout(() => {
      if (idle.get(w.build)?.worker === w) idle.delete(w.build);
      void w.terminate();
    }, IDLE_MS);
    timer.unref();
    idle.set(w.build, { worker: w, timer });
  } else await w.terminate();
}

/**
 * Opens an HDF5 file and lists its objects: with the built-in reader (hdf5-native.ts), or with
 * h5wasm when the file uses a feature the built-in reader does not implement (Hdf5Unsupported) or
 * when `engine` asks for it. Throws Hdf5Error.
 */
export async function openHdf5(source: Hdf5Source, options: Hdf5Options = {}): Promise<Hdf5File> {
  const engine = options.engine ?? 'auto';
  if (engine !== 'h5wasm') {
    try {
      return await openHdf5Native(source);
    } catch (e) {
      if (!(e instanceof Hdf5Unsupported) || engine === 'native') throw e instanceof Hdf5Error ? e : new Hdf5Error((e as Error).message, false, { cause: e });
    }
  }
  return openHdf5Wasm(source, options);
}

/** Opens an HDF5 file in an h5wasm worker and lists its objects. Throws Hdf5Error. */
async function openHdf5Wasm(source: Hdf5Source, options: Hdf5Options): Promise<Hdf5File> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const build: Build = 'path' in source ? 'node' : 'memory';
  const worker = await acquire(build);
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    try {
      if (worker.healthy) await worker.call('close', {}, timeoutMs);
    } catch {
      worker.healthy = false;
    }
    await release(worker);
  };
  try {
    const args = 'path' in source ? { path: source.path } : { bytes: source.bytes, name: source.name.replace(/[^\w.-]/g, '_') };
    const transfer = 'bytes' in source ? [source.bytes.buffer as ArrayBuffer] : [];
    const list = await worker.call<H5Node[]>('open', args, timeoutMs, transfer);
    const nodes = new Map(list.map((n) => [n.path, n]));
    return {
      nodes,
      read: async (path, maxBytes) => {
        if (closed) throw new Hdf5Error('the file is closed');
        return worker.call<Uint8Array>('read', { path, maxBytes }, timeoutMs);
      },
      close,
    };
  } catch (e) {
    await close();
    throw e instanceof Hdf5Error ? e : new Hdf5Error((e as Error).message, false, { cause: e });
  }
}

/** Stops the idle workers (tests; the CLI's idle workers never keep the process alive). */
export async function shutdownHdf5Workers(): Promise<void> {
  const ws = [...idle.values()];
  idle.clear();
  for (const { timer } of ws) clearTimeout(timer);
  await Promise.all(ws.map(({ worker }) => worker.terminate()));
}
