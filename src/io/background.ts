/**
 * Checks that run on a worker thread beside a conversion and must pass before its output is
 * committed: the source's SHA-256 (recorded in the output's provenance) and the checksums a reader
 * defers (TensorFlow checkpoints' CRC32C of every tensor or block read). Moving them off the
 * thread that reads, converts and writes took 0.2-0.3 s off converting a 232 MB checkpoint on the
 * 2-core machine: the CRCs now overlap the conversion instead of preceding each tensor's use, in
 * WebAssembly (io/crc32c.ts, 0.36 ns per byte against 1.1-1.7 for the JS loop). The worker reads
 * the bytes again itself (from the page cache: the conversion has just read them), which costs
 * far less than sending them over; a file both hashed and checked block by block is read once.
 *
 * Tasks run one after another, in the order given. `settle()` waits for every check added with
 * `track` (a task and what is made of its result: the comparison, the typed error) and rejects
 * with the first failure: call it once everything has been read, before renaming the output into
 * place (WriteOptions.beforeCommit).
 */
import { closeSync, openSync } from 'node:fs';
import { giveWork, startBlankWorker, STARTED, type BlankWorker } from './worker-start.js';
import { crc32cExtend, crc32cInWasm, crc32cModuleBytes, crc32cTables, crc32cWith, LITTLE_ENDIAN } from './crc32c.js';

// CommonJS, run by a worker of ./worker-start.ts with `workerData` in scope, with the CRC code of ./crc32c.ts as text
// (both functions are self-contained). Blocking reads: nothing else runs on that thread. The files
// are opened and closed by the main thread (descriptors are the process's), so that stopping the
// worker mid-task leaves none open.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { readSync } = require('node:fs');
const crc32cWith = ${crc32cWith.toString()};
const TABLES = (${crc32cTables.toString()})();
const LITTLE_ENDIAN = ${LITTLE_ENDIAN};
const CHUNK = 1 << 22;
// With the WebAssembly CRC, chunks are read straight into its memory: tables at 0, data at 64 KiB
// (the memory never grows again, so this view stays valid).
let wasmCrc = null;
let buf;
if (workerData.crcModule) {
  const { exports } = new WebAssembly.Instance(new WebAssembly.Module(workerData.crcModule));
  exports.memory.grow(1 + CHUNK / 65536);
  new Uint32Array(exports.memory.buffer, 0, TABLES.length).set(TABLES);
  buf = Buffer.from(exports.memory.buffer, 65536, CHUNK);
  const crcAt = (${crc32cInWasm.toString()})(exports);
  wasmCrc = (crc, at, n) => crcAt(crc, 65536 + at, n);
} else buf = Buffer.allocUnsafeSlow(CHUNK);
/** CRC of buf[at, at + n), continuing crc. */
const crcOf = (crc, at, n) => (wasmCrc ? wasmCrc(crc, at, n) : crc32cWith(TABLES, LITTLE_ENDIAN, crc, buf.subarray(at, at + n)));
const unmask = (m) => {
  const rot = (m - 0xa282ead8) >>> 0;
  return ((rot >>> 17) | (rot << 15)) >>> 0;
};
const ended = (at) => new Error('the file ends at byte ' + at + ' (changed while converting?)');
function crc32c(fd, offset, length) {
  let crc = 0;
  for (let done = 0; done < length; ) {
    const n = readSync(fd, buf, 0, Math.min(CHUNK, length - done), offset + done);
    if (n === 0) throw ended(offset + done);
    crc = crcOf(crc, 0, n);
    done += n;
  }
  return crc;
}
// One pass over a file: its SHA-256 when asked, and the CRC of each block [offset, offset + length)
// (sorted, apart) against the masked CRC stored in the 4 bytes after it. Returns the digest and the
// first block that does not match, as [offset, stored, computed].
function scan(fd, hash, blocks) {
  const h = hash ? createHash('sha256') : null;
  const last = blocks.length - 2;
  let pos = hash ? 0 : blocks.length ? blocks[0] : 0;
  const end = hash ? Infinity : blocks.length ? blocks[last] + blocks[last + 1] + 4 : 0;
  let j = 0, crc = 0, trailer = 0, got = 0, bad = null;
  while (pos < end) {
    const n = readSync(fd, buf, 0, Math.min(CHUNK, end - pos), pos);
    if (n === 0) {
      if (end === Infinity) break;
      throw ended(pos);
    }
    if (h) h.update(buf.subarray(0, n));
    const stop = pos + n;
    for (let at = pos; j < blocks.length && at < stop; ) {
      const off = blocks[j], len = blocks[j + 1];
      if (at < off) at = Math.min(off, stop);
      else if (at < off + len) {
        const e = Math.min(off + len, stop);
        crc = crcOf(crc, at - pos, e - at);
        at = e;
      } else {
        for (const e = Math.min(off + len + 4, stop); at < e; at++, got++) trailer = (trailer | (buf[at - pos] << (8 * got))) >>> 0;
        if (got === 4) {
          if (!bad && unmask(trailer) !== crc) bad = [off, unmask(trailer), crc];
          j += 2;
          crc = trailer = got = 0;
        }
      }
    }
    pos = stop;
  }
  if (j < blocks.length) throw ended(pos);
  return { digest: h ? h.digest('hex') : undefined, bad };
}
parentPort.on('message', (task) => {
  try {
    const value = task.kind === 'scan' ? scan(task.fd, task.hash, task.blocks) : crc32c(task.fd, task.offset, task.length);
    parentPort.postMessage({ id: task.id, value });
  } catch (e) {
    parentPort.postMessage({ id: task.id, error: String((e && e.message) || e) });
  }
});
`;

type Task = { kind: 'scan'; hash: boolean; blocks: number[] } | { kind: 'crc32c'; offset: number; length: number };

/** A block whose stored CRC does not match its bytes. */
export interface BadBlock {
  readonly offset: number;
  readonly stored: number;
  readonly computed: number;
}

export interface BackgroundChecks {
  /**
   * SHA-256 of the whole file, hex; asked again for the same path, the same promise (one pass). The
   * pass also checks the blocks registered for the file by then (`blockCrcs`).
   */
  sha256(path: string): Promise<string>;
  /** CRC-32C (unmasked) of `length` bytes at `offset`. */
  crc32c(path: string, offset: number, length: number): Promise<number>;
  /**
   * Checks LevelDB-style blocks (`length` bytes at `offset`, then their masked CRC-32C in the next
   * 4 bytes), all in one pass over the file; resolves with the first that does not match. The pass
   * waits for a `sha256` of the same file, or for `settle`, and then does both at once (a TF V1
   * checkpoint is read once for its hash and its CRCs, not twice).
   */
  blockCrcs(path: string, blocks: readonly { offset: number; length: number }[]): Promise<BadBlock | undefined>;
  /**
   * Adds a check (typically a crc32c task and its comparison): `settle` rejects if it does. A
   * function is called by `settle`, once everything has been read (for an error that names what
   * was read from a bad block).
   */
  track(check: Promise<unknown> | (() => Promise<unknown>)): void;
  /** Resolves once every tracked check has; rejects with the first that fails. */
  settle(): Promise<void>;
  /** Ends the worker (what is still running rejects); idempotent. */
  stop(): Promise<void>;
}

let spare: BlankWorker | undefined;

/**
 * A worker started ahead (by the launcher, dist/port.cjs) for the next startBackgroundChecks to
 * use instead of starting one; left unreferenced, it ends with the process if none comes.
 */
export function offerChecksWorker(blank: BlankWorker): void {
  spare = blank;
}

/** `wasm: false` checks CRCs with the JS loop (tests; it is used anyway where WebAssembly is missing). */
export function startBackgroundChecks(options: { wasm?: boolean } = {}): BackgroundChecks {
  const wasm = (options.wasm ?? true) && LITTLE_ENDIAN && typeof WebAssembly === 'object' && WebAssembly.validate(crc32cModuleBytes);
  const blank = spare?.alive ? spare : startBlankWorker();
  spare = undefined;
  const worker = blank.worker;
  giveWork(worker, WORKER_SOURCE, { crcModule: wasm ? crc32cModuleBytes : null });
  const waiting = new Map<number, { resolve: (v: never) => void; reject: (e: Error) => void }>();
  const tracked: (Promise<unknown> | (() => Promise<unknown>))[] = [];
  const fds = new Map<string, number>();
  let nextId = 0;
  let ended: Error | undefined;
  const endAll = (e: Error) => {
    ended ??= e;
    for (const w of waiting.values()) w.reject(e);
    waiting.clear();
  };
  worker.on('message', (m: { id: number; value?: never; error?: string } | typeof STARTED) => {
    if (m === STARTED) return;
    const w = waiting.get(m.id);
    waiting.delete(m.id);
    if (m.error !== undefined) w?.reject(new Error(m.error));
    else w?.resolve(m.value as never);
  });
  worker.on('error', endAll);
  worker.on('exit', (code) => endAll(new Error(`the background checks stopped (exit code ${code})`)));

  function run<T>(path: string, task: Task): Promise<T> {
    const id = nextId++;
    const p = new Promise<T>((resolve, reject) => {
      if (ended) return reject(ended);
      let fd = fds.get(path);
      if (fd === undefined) fds.set(path, (fd = openSync(path, 'r'))); // throws: rejects
      waiting.set(id, { resolve: resolve as (v: never) => void, reject });
      worker.postMessage({ ...task, fd, id });
    });
    return p;
  }
  function track(check: Promise<unknown> | (() => Promise<unknown>)): void {
    if (check instanceof Promise) check.catch(() => undefined); // observed by settle(); never an unhandled rejection
    tracked.push(check);
  }

  // block checks waiting for a hash of their file, or for settle()
  type Scan = { digest?: string; bad: [number, number, number] | null };
  const gathered = new Map<string, { blocks: number[]; results: ((r: Scan | Error) => void)[] }>();
  const flush = (path: string, hash: boolean): Promise<Scan> => {
    const g = gathered.get(path);
    gathered.delete(path);
    const scan = run<Scan>(path, { kind: 'scan', hash, blocks: g?.blocks ?? [] });
    scan.then((r) => g?.results.forEach((f) => f(r)), (e: Error) => g?.results.forEach((f) => f(e)));
    return scan;
  };
  const blockCrcs = (path: string, blocks: readonly { offset: number; length: number }[]): Promise<BadBlock | undefined> =>
    new Promise((resolve, reject) => {
      // sorted and apart (a corrupt index's overlapping blocks fail when read, not here)
      const flat: number[] = [];
      let end = 0;
      for (const b of [...blocks].sort((x, y) => x.offset - y.offset))
        if (b.offset >= end && b.length >= 0) {
          flat.push(b.offset, b.length);
          end = b.offset + b.length + 4;
        }
      const g = gathered.get(path) ?? { blocks: [], results: [] };
      if (g.blocks.length > 0) return reject(new Error(`${path}: its blocks are being checked already`));
      g.blocks.push(...flat);
      g.results.push((r) => (r instanceof Error ? reject(r) : resolve(r.bad ? { offset: r.bad[0], stored: r.bad[1], computed: r.bad[2] } : undefined)));
      gathered.set(path, g);
    });
  const digests = new Map<string, Promise<string>>();
  return {
    sha256(path) {
      let digest = digests.get(path);
      if (!digest) digests.set(path, (digest = flush(path, true).then((r) => r.digest!)));
      return digest;
    },
    crc32c: (path, offset, length) => run(path, { kind: 'crc32c', offset, length }),
    blockCrcs,
    track,
    async settle() {
      for (const path of [...gathered.keys()]) flush(path, false).catch(() => undefined); // reported through their checks
      // checks added while waiting are waited for too
      for (let done = 0; done < tracked.length; ) {
        const batch = tracked.slice(done).map((c) => (typeof c === 'function' ? c() : c));
        done = tracked.length;
        await Promise.all(batch);
      }
    },
    async stop() {
      for (const g of gathered.values()) g.results.forEach((f) => f(new Error('the background checks stopped')));
      gathered.clear();
      if (!ended) await worker.terminate();
      for (const fd of fds.values()) closeSync(fd);
      fds.clear();
    },
  };
}

/**
 * Checks that bytes read from `path` at `offset` have CRC-32C `expected`: on `checks`' thread when
 * given (the bytes are read there again), else here, now. `fail` makes the error for a mismatch
 * (the computed CRC) or for bytes that could not be read again (the cause).
 */
export function checkCrc32c(
  checks: BackgroundChecks | undefined,
  at: { path: string; offset: number; bytes: Uint8Array },
  expected: number,
  fail: (found: number | Error) => Error,
): void {
  if (!checks) {
    const actual = crc32cExtend(0, at.bytes);
    if (actual !== expected) throw fail(actual);
    return;
  }
  checks.track(
    checks.crc32c(at.path, at.offset, at.bytes.length).then(
      (actual) => {
        if (actual !== expected) throw fail(actual);
      },
      (e: Error) => {
        throw fail(e);
      },
    ),
  );
}
