/**
 * The two halves of every writer's loop over the tensors: read ahead (the next tensors are read and
 * converted while this one is written) and a sink that gathers pieces and writes them behind
 * (one batch in flight, its 1 MiB writev calls at once, while the next batch is gathered). The writers stream through these, so
 * that memory stays about one batch and the disk, the reads and the conversions overlap.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { giveBack, takeFloats } from './pool.js';

/**
 * Bytes gathered per batch: the many small BN tensors cost one writev, not one write each. This
 * and READ_AHEAD_BYTES bound the memory a conversion keeps touching, and memory touched for the
 * first time costs 0.58 ms of page faults per MiB on the development VM: 4 and 8 MiB instead of 8
 * and 16 took the full IRv2 Keras -> ONNX from 456 to 435 ms, CPU 745 -> 716 ms (median of 25
 * interleaved runs; -23 ms and CPU -50 ms in another 21), TF checkpoints unchanged within noise;
 * a read-ahead of 64 MiB made it 120 ms slower.
 */
const WRITE_CHUNK_BYTES = 4 << 20;
/** writev takes at most IOV_MAX (1024 on Linux) buffers per call. */
const IOV_MAX = 1024;

export interface Sink {
  /** Bytes put so far (the offset of the next byte). */
  readonly position: number;
  /**
   * Queues `bytes` (not copied: the caller must not change them afterwards); `written` runs once
   * they are on disk (a writer gives the buffer back to io/pool then).
   */
  put(bytes: Uint8Array, written?: () => void): Promise<void>;
  /** Puts zeros up to `offset` (alignment padding). */
  padTo(offset: number): Promise<void>;
  /** Writes everything queued and waits; returns the bytes written. */
  flush(): Promise<number>;
  /** After `flush`: writes `bytes` over earlier ones at `offset` (a header finished last). */
  overwrite(bytes: Uint8Array, offset: number): Promise<void>;
  /** Flushes and closes (closes even when the flush fails); safe to call twice. */
  close(): Promise<void>;
}

export async function openSink(path: string): Promise<Sink> {
  const fh = await open(path, 'w');
  let batch: Uint8Array[] = [];
  let batchBytes = 0;
  let whenWritten: (() => void)[] = [];
  let written = 0; // bytes handed to writev
  let writing: Promise<void> = Promise.resolve();
  let closed = false;

  const startBatch = async (): Promise<void> => {
    await writing; // at most one write in flight (and its error surfaces here)
    if (batchBytes === 0) return;
    const callbacks = whenWritten;
    writing = writeAll(fh, batch, written, batchBytes).then(() => {
      for (const f of callbacks) f();
    });
    writing.catch(() => {}); // surfaced by the next await of `writing`
    written += batchBytes;
    batch = [];
    batchBytes = 0;
    whenWritten = [];
  };
  const put = async (bytes: Uint8Array, done?: () => void): Promise<void> => {
    batch.push(bytes);
    batchBytes += bytes.byteLength;
    if (done) whenWritten.push(done);
    if (batchBytes >= WRITE_CHUNK_BYTES || batch.length >= IOV_MAX) await startBatch();
  };
  const flush = async (): Promise<number> => {
    await startBatch();
    await writing;
    return written;
  };

  return {
    get position() {
      return written + batchBytes;
    },
    put,
    async padTo(offset) {
      const at = written + batchBytes;
      if (offset < at) throw new RangeError(`cannot pad back from ${at} to ${offset}`);
      if (offset > at) await put(new Uint8Array(offset - at));
    },
    flush,
    async overwrite(bytes, offset) {
      await flush();
      if (offset + bytes.byteLength > written) throw new RangeError(`cannot overwrite past the end (${offset} + ${bytes.byteLength} > ${written})`);
      await writeAll(fh, [bytes], offset, bytes.byteLength);
    },
    async close() {
      if (closed) return;
      closed = true;
      try {
        await flush();
      } finally {
        await fh.close();
      }
    },
  };
}

/**
 * Bytes per write system call. On the development VM a write call of 2 MiB or more now and then
 * took 5-10x its usual time in the kernel's copy into the page cache (214 MB from a 32 MiB
 * buffer: in 4 MiB calls 62-403 ms over ten runs, in 1 MiB calls 69-92 ms; docs/performance.md), and a
 * gathered batch is up to WRITE_CHUNK_BYTES. Smaller calls cost more calls (512 KiB: 73-114 ms).
 */
const SYSCALL_BYTES = 1 << 20;

/** The first `max` bytes of `buffers` (at most IOV_MAX of them), as views. */
function firstBytes(buffers: readonly Uint8Array[], max: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const b of buffers) {
    if (max === 0 || out.length === IOV_MAX) break;
    const take = Math.min(b.byteLength, max);
    out.push(take === b.byteLength ? b : b.subarray(0, take));
    max -= take;
  }
  return out;
}

/**
 * Writes `bytes` of `buffers` at `at` in SYSCALL_BYTES writev calls, all started at once (each
 * positional, so their order does not matter): one after another, each call waited for its
 * round trip through this thread, busy with the next tensors' layout changes, and the disk
 * idled meanwhile (Keras -> ONNX 555 -> 490 ms, V2 -> safetensors 484 -> 457; 9 interleaved runs).
 */
async function writeAll(fh: FileHandle, buffers: Uint8Array[], at: number, bytes: number): Promise<void> {
  const calls: Promise<void>[] = [];
  while (bytes > 0) {
    const part = firstBytes(buffers, SYSCALL_BYTES);
    const n = part.reduce((sum, b) => sum + b.byteLength, 0);
    calls.push(writeCall(fh, part, at, n));
    at += n;
    bytes -= n;
    if (bytes > 0) buffers = dropBytes(buffers, n);
  }
  await Promise.all(calls);
}

/** writev until every byte is written (a write to a regular file may be short). */
async function writeCall(fh: FileHandle, buffers: Uint8Array[], at: number, bytes: number): Promise<void> {
  while (bytes > 0) {
    const { bytesWritten } = await fh.writev(buffers, at);
    at += bytesWritten;
    bytes -= bytesWritten;
    if (bytes > 0) buffers = dropBytes(buffers, bytesWritten);
  }
}

function dropBytes(buffers: Uint8Array[], n: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const b of buffers) {
    if (n >= b.byteLength) n -= b.byteLength;
    else {
      out.push(n ? b.subarray(n) : b);
      n = 0;
    }
  }
  return out;
}

/** One tensor's bytes to write, and what to do once they are on disk (give a buffer back). */
export interface Piece {
  readonly bytes: Uint8Array;
  readonly written?: () => void;
}

/**
 * The piece of `stored` (a parameter's array after any layout change, or the float16 copy of it):
 * an array the writer owns (`owned`) goes back to io/pool once written, or at once when only its
 * float16 copy is written.
 */
export function pieceOf(stored: Float32Array, owned: boolean, half: boolean, toHalf: (a: Float32Array) => Uint16Array): Piece {
  if (!half) return { bytes: new Uint8Array(stored.buffer, stored.byteOffset, stored.byteLength), written: owned ? () => giveBack(stored) : undefined };
  const h = toHalf(stored);
  if (owned) giveBack(stored);
  return { bytes: new Uint8Array(h.buffer, h.byteOffset, h.byteLength) };
}

/**
 * One parameter's values as stored, as a piece to write. `store` changes the layout (undefined:
 * stored as they are) into an array from io/pool, which goes back to the pool once written; so
 * does `data` at once when the writer owns it (CanonicalParam.freshReads). Both are pool memory
 * used again and again (no new array faulted in), and in the pool's arena the layout change runs
 * where they are.
 */
export function storedPiece(
  data: Float32Array,
  owned: boolean,
  store: ((data: Float32Array, into?: Float32Array) => Float32Array) | undefined,
  half: boolean,
  toHalf: (a: Float32Array) => Uint16Array,
): Piece {
  if (!store) return pieceOf(data, owned, half, toHalf);
  const into = takeFloats(data.length);
  const stored = store(data, into);
  if (stored !== into) giveBack(into); // (a transform that made its own array)
  if (owned && stored !== data) giveBack(data);
  return pieceOf(stored, stored === into || (owned && stored === data), half, toHalf);
}

/** Bytes of tensors read ahead of the one being written, by default. */
const READ_AHEAD_BYTES = 8 << 20;

/**
 * Yields `tasks[i]()` in order, starting the next ones while the caller works on the current one,
 * within `maxBytes` in flight (`bytes[i]` is task i's size; at least one task always runs). A
 * failed task throws when its turn comes, never as an unhandled rejection before.
 */
export async function* readAhead<T>(tasks: readonly (() => Promise<T>)[], bytes: readonly number[], maxBytes = READ_AHEAD_BYTES): AsyncGenerator<T> {
  const pending: Promise<T>[] = [];
  let next = 0;
  let inFlight = 0;
  for (let i = 0; i < tasks.length; i++) {
    while (next < tasks.length && (pending.length === 0 || inFlight + bytes[next] <= maxBytes)) {
      const p = tasks[next]();
      p.catch(() => {});
      pending.push(p);
      inFlight += bytes[next++];
    }
    const value = await pending.shift()!;
    inFlight -= bytes[i];
    yield value;
  }
}
