/**
 * Bytes for the pure-TypeScript HDF5 reader: a file (positional reads on one descriptor, metadata
 * through a small page cache) or bytes in memory (a `.keras` archive's weights), and a bounded
 * little-endian cursor. Every offset and length from the file is checked against the file's size
 * before anything is read or allocated; a fault is an Hdf5Error naming what and where.
 */
import { closeSync, fstatSync, read as readCb, readSync } from 'node:fs';
import { openRegularSync } from '../../../io/files.js';
import { Hdf5Error, Hdf5Unsupported } from './types.js';
import { takeBuffer } from '../../../io/pool.js';

/** HDF5's "undefined address" (all bits set), as `u64` returns it. */
export const UNDEF = -1;
/** Metadata pages read from a file and kept (HDF5 aggregates metadata into 2 KiB blocks). */
const PAGE_BYTES = 4096;
/** Cached pages at most (16 MiB); the cache is dropped when full. */
const MAX_PAGES = 4096;
/** Pages allocated at once. */
const PAGES_PER_CHUNK = 64;
/** One metadata structure (heap, object header block, global heap collection) at most. */
export const MAX_METADATA_BYTES = 64 * 2 ** 20;
/**
 * Datasets up to this size are read at once on the calling thread: a pread of a few KiB from the
 * page cache costs microseconds, the thread pool's round trip several times that (IRv2 has about
 * 750 batchnorm vectors of 1-8 KiB).
 */
const SYNC_READ_BYTES = 64 << 10;
/** One fs.read at most (Node's limit is 2 GiB - 1). */
const MAX_READ_BYTES = 2 ** 30;

export const corrupt = (what: string, offset?: number): Hdf5Error => new Hdf5Error(offset === undefined ? what : `${what} (at byte ${offset})`);
export const unsupported = (what: string): Hdf5Unsupported => new Hdf5Unsupported(`not supported by the built-in HDF5 reader: ${what}`);

export interface Source {
  readonly size: number;
  /** Bytes [offset, offset + length) of the file, a view that must not be modified or kept. */
  bytes(offset: number, length: number, what: string): Uint8Array;
  /** A fresh, unshared copy of [offset, offset + length) (dataset data). */
  copy(offset: number, length: number, what: string): Promise<Uint8Array>;
  close(): void;
}

function checkSpan(size: number, offset: number, length: number, what: string, cap = Infinity): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0)
    throw corrupt(`${what}: bad offset ${offset} or length ${length}`);
  if (length > cap) throw corrupt(`${what}: ${length} bytes, more than the limit of ${cap}`, offset);
  if (offset + length > size) throw corrupt(`${what} (${length} bytes at byte ${offset}) lies beyond the end of the file (${size} bytes): truncated or corrupt`);
}

export function memorySource(data: Uint8Array): Source {
  return {
    size: data.length,
    bytes(offset, length, what) {
      checkSpan(data.length, offset, length, what, MAX_METADATA_BYTES);
      return data.subarray(offset, offset + length);
    },
    async copy(offset, length, what) {
      checkSpan(data.length, offset, length, what);
      return data.slice(offset, offset + length);
    },
    close() {},
  };
}

/** A file read with positional reads on one descriptor; opening is synchronous (sub-millisecond). */
export function fileSource(path: string): Source {
  let fd: number;
  let size: number;
  try {
    fd = openRegularSync(path);
  } catch (e) {
    throw new Hdf5Error(`cannot open ${path}: ${(e as Error).message}`, false, { cause: e });
  }
  try {
    size = fstatSync(fd).size;
  } catch (e) {
    closeSync(fd);
    throw new Hdf5Error(`cannot stat ${path}: ${(e as Error).message}`, false, { cause: e });
  }
  let open = true;
  const pages = new Map<number, Uint8Array>();
  let chunk = new Uint8Array(0);
  let chunkUsed = PAGES_PER_CHUNK;
  const readNowInto = (out: Uint8Array, offset: number, what: string): void => {
    if (!open) throw new Hdf5Error('the file is closed');
    for (let done = 0; done < out.length; ) {
      let n: number;
      try {
        n = readSync(fd, out, done, Math.min(out.length - done, MAX_READ_BYTES), offset + done);
      } catch (e) {
        throw new Hdf5Error(`${what}: read failed: ${(e as Error).message}`, false, { cause: e });
      }
      if (n <= 0) throw corrupt(`${what}: the file ended early (it shrank while open?)`, offset + done);
      done += n;
    }
  };
  const readNow = (offset: number, length: number, what: string): Uint8Array => {
    const out = new Uint8Array(length);
    readNowInto(out, offset, what);
    return out;
  };
  return {
    size,
    bytes(offset, length, what) {
      checkSpan(size, offset, length, what, MAX_METADATA_BYTES);
      const page = Math.floor(offset / PAGE_BYTES);
      if (length === 0 || Math.floor((offset + length - 1) / PAGE_BYTES) !== page) return readNow(offset, length, what);
      let hit = pages.get(page);
      if (!hit) {
        if (pages.size >= MAX_PAGES) pages.clear();
        // pages are views of 256 KiB chunks: one allocation per 64 pages, not one each
        if (chunkUsed === PAGES_PER_CHUNK) {
          chunk = new Uint8Array(PAGES_PER_CHUNK * PAGE_BYTES);
          chunkUsed = 0;
        }
        hit = chunk.subarray(chunkUsed * PAGE_BYTES, chunkUsed * PAGE_BYTES + Math.min(PAGE_BYTES, size - page * PAGE_BYTES));
        chunkUsed++;
        readNowInto(hit, page * PAGE_BYTES, what);
        pages.set(page, hit);
      }
      const at = offset - page * PAGE_BYTES;
      return hit.subarray(at, at + length);
    },
    async copy(offset, length, what) {
      checkSpan(size, offset, length, what);
      if (!open) throw new Hdf5Error('the file is closed');
      // Memory of its own (io/pool: reused once a writer has written it), filled completely below.
      const out = takeBuffer(length);
      if (length <= SYNC_READ_BYTES) {
        readNowInto(out, offset, what);
        return out;
      }
      for (let done = 0; done < length; ) {
        const n = await new Promise<number>((resolve, reject) =>
          readCb(fd, out, done, Math.min(length - done, MAX_READ_BYTES), offset + done, (err, bytesRead) => (err ? reject(err) : resolve(bytesRead))),
        ).catch((e: unknown) => {
          throw new Hdf5Error(`${what}: read failed: ${(e as Error).message}`, false, { cause: e });
        });
        if (n <= 0) throw corrupt(`${what}: the file ended early (it shrank while open?)`, offset + done);
        done += n;
      }
      return out;
    },
    close() {
      if (!open) return;
      open = false;
      pages.clear();
      closeSync(fd);
    },
  };
}

/** A bounded reading position in a structure's bytes; `origin` is the file offset of `bytes[0]`. */
export interface Cursor {
  readonly bytes: Uint8Array;
  readonly origin: number;
  readonly what: string;
  pos: number;
  readonly end: number;
}

// The walk of a file's metadata reads a few hundred thousand of these values, once each, in V8's
// interpreter: each accessor checks its bounds itself (no call to `need`) and assembles its bytes
// (no DataView per cursor to allocate and collect).

export function cursor(bytes: Uint8Array, origin: number, what: string, start = 0, end = bytes.length): Cursor {
  return { bytes, origin, what, pos: start, end };
}

const cutShort = (c: Cursor, n: number): Hdf5Error => corrupt(`${c.what} is cut short: ${c.pos + n - c.end} more bytes needed`, c.origin + c.pos);

export function need(c: Cursor, n: number): void {
  if (!(n >= 0) || c.pos + n > c.end) throw cutShort(c, n);
}

export const left = (c: Cursor): number => c.end - c.pos;

export function u8(c: Cursor): number {
  if (c.pos + 1 > c.end) throw cutShort(c, 1);
  return c.bytes[c.pos++];
}
export function u16(c: Cursor): number {
  const p = c.pos;
  if (p + 2 > c.end) throw cutShort(c, 2);
  const b = c.bytes;
  c.pos = p + 2;
  return b[p] | (b[p + 1] << 8);
}
export function u32(c: Cursor): number {
  const p = c.pos;
  if (p + 4 > c.end) throw cutShort(c, 4);
  const b = c.bytes;
  c.pos = p + 4;
  return (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0;
}
/** An 8-byte unsigned value (offsets and lengths); UNDEF for all bits set; beyond 2^53 is corrupt. */
export function u64(c: Cursor): number {
  const p = c.pos;
  if (p + 8 > c.end) throw cutShort(c, 8);
  const b = c.bytes;
  const lo = (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0;
  const hi = (b[p + 4] | (b[p + 5] << 8) | (b[p + 6] << 16) | (b[p + 7] << 24)) >>> 0;
  c.pos = p + 8;
  if (lo === 0xffffffff && hi === 0xffffffff) return UNDEF;
  if (hi >= 0x200000) throw corrupt(`${c.what}: a 64-bit value beyond 2^53`, c.origin + p);
  return hi * 0x100000000 + lo;
}
/** A little-endian unsigned value of 1, 2, 4 or 8 bytes. */
export function uN(c: Cursor, n: number): number {
  return n === 1 ? u8(c) : n === 2 ? u16(c) : n === 4 ? u32(c) : u64(c);
}
export function skip(c: Cursor, n: number): void {
  if (!(n >= 0) || c.pos + n > c.end) throw cutShort(c, n);
  c.pos += n;
}
/** The next `n` bytes as their own cursor (advancing this one). */
export function sub(c: Cursor, n: number, what: string): Cursor {
  if (!(n >= 0) || c.pos + n > c.end) throw cutShort(c, n);
  const s: Cursor = { bytes: c.bytes, origin: c.origin, what, pos: c.pos, end: c.pos + n };
  c.pos += n;
  return s;
}
/** The next `n` bytes (a view). */
export function take(c: Cursor, n: number): Uint8Array {
  if (!(n >= 0) || c.pos + n > c.end) throw cutShort(c, n);
  c.pos += n;
  return c.bytes.subarray(c.pos - n, c.pos);
}
export function signature(c: Cursor, sig: string): boolean {
  if (left(c) < sig.length) return false;
  for (let i = 0; i < sig.length; i++) if (c.bytes[c.pos + i] !== sig.charCodeAt(i)) return false;
  c.pos += sig.length;
  return true;
}
export const align8 = (n: number): number => Math.ceil(n / 8) * 8;

const utf8 = new TextDecoder('utf-8');
/** A name's bytes as HDF5 hands them out (UTF-8, up to the first NUL). */
export function cString(bytes: Uint8Array): string {
  const z = bytes.indexOf(0);
  return utf8.decode(z < 0 ? bytes : bytes.subarray(0, z));
}

const rot = (x: number, k: number): number => (x << k) | (x >>> (32 - k));

/**
 * Bob Jenkins' lookup3 `hashlittle` with initial value 0, the checksum of HDF5's version 2
 * metadata (H5_checksum_lookup3 in H5checksum.c; spec II.A "Superblock Checksum" and III.H).
 */
export function lookup3(k: Uint8Array): number {
  let a = (0xdeadbeef + k.length) | 0;
  let b = a;
  let c = a;
  let i = 0;
  let n = k.length;
  const word = (at: number) => k[at] | (k[at + 1] << 8) | (k[at + 2] << 16) | (k[at + 3] << 24);
  while (n > 12) {
    a = (a + word(i)) | 0;
    b = (b + word(i + 4)) | 0;
    c = (c + word(i + 8)) | 0;
    a = (a - c) | 0; a ^= rot(c, 4); c = (c + b) | 0;
    b = (b - a) | 0; b ^= rot(a, 6); a = (a + c) | 0;
    c = (c - b) | 0; c ^= rot(b, 8); b = (b + a) | 0;
    a = (a - c) | 0; a ^= rot(c, 16); c = (c + b) | 0;
    b = (b - a) | 0; b ^= rot(a, 19); a = (a + c) | 0;
    c = (c - b) | 0; c ^= rot(b, 4); b = (b + a) | 0;
    n -= 12;
    i += 12;
  }
  if (n === 0) return c >>> 0;
  // the last 1 to 12 bytes, zero-padded
  const tail = new Uint8Array(12);
  tail.set(k.subarray(i, i + n));
  const t = (at: number) => tail[at] | (tail[at + 1] << 8) | (tail[at + 2] << 16) | (tail[at + 3] << 24);
  a = (a + t(0)) | 0;
  b = (b + t(4)) | 0;
  c = (c + t(8)) | 0;
  c ^= b; c = (c - rot(b, 14)) | 0;
  a ^= c; a = (a - rot(c, 11)) | 0;
  b ^= a; b = (b - rot(a, 25)) | 0;
  c ^= b; c = (c - rot(b, 16)) | 0;
  a ^= c; a = (a - rot(c, 4)) | 0;
  b ^= a; b = (b - rot(a, 14)) | 0;
  c ^= b; c = (c - rot(b, 24)) | 0;
  return c >>> 0;
}

/** Checks the 4-byte lookup3 checksum that ends `bytes` (version 2 metadata). */
export function checkChecksum(bytes: Uint8Array, origin: number, what: string): void {
  const n = bytes.length - 4;
  if (n < 0) throw corrupt(`${what} is too short for its checksum`, origin);
  const stored = (bytes[n] | (bytes[n + 1] << 8) | (bytes[n + 2] << 16) | (bytes[n + 3] << 24)) >>> 0;
  if (lookup3(bytes.subarray(0, n)) !== stored) throw corrupt(`${what}: wrong checksum (corrupt metadata)`, origin);
}
