/**
 * The LevelDB table ("SSTable") format that TensorFlow checkpoints use: the V2 `.index` file and
 * the whole V1 checkpoint. Layout (leveldb doc/table_format.md; TensorFlow's copy is
 * tensorflow/tsl/lib/io/table.cc, block.cc, format.cc):
 *
 *   [data block 0] ... [data block n] [metaindex block] [index block] [footer: 48 bytes]
 *
 * - Footer: metaindex handle and index handle (each: varint64 offset, varint64 size), zero
 *   padding to 40 bytes, then the 8-byte little-endian magic 0xdb4775248b80fb57.
 * - Every block is followed by a 5-byte trailer: compression type (0 none, 1 Snappy) and the
 *   masked CRC32C of the block contents and the type byte.
 * - A block holds entries (varint32 shared key bytes, varint32 unshared, varint32 value length,
 *   the unshared key bytes, the value) followed by restart offsets (u32 each) and their count
 *   (u32). Keys are prefix-compressed against the previous key; at a restart point shared = 0.
 * - The index block maps a separator key (>= every key of a block, < every key of the next) to
 *   the block's handle.
 */
import { FormatError } from '../../errors.js';
import type { BackgroundChecks } from '../../io/background.js';
import { crc32cExtend, unmaskCrc } from '../../io/crc32c.js';
import { giveBack } from '../../io/pool.js';
import { FORMAT, type RangeFile } from './file.js';
import { SnappyError, snappyDecompress } from './snappy.js';

export const FOOTER_BYTES = 48;
/** kTableMagicNumber, stored little-endian in the last 8 bytes. */
export const TABLE_MAGIC = 0xdb4775248b80fb57n;
export const BLOCK_TRAILER_BYTES = 5;
const NO_COMPRESSION = 0;
const SNAPPY_COMPRESSION = 1;
/** Decoded blocks kept per table (blocks are about 256 KiB; one tensor may fill several). */
const CACHED_BLOCKS = 4;

export interface BlockHandle {
  readonly offset: number;
  readonly size: number;
}

/** A fault at a byte offset; the table turns it into a FormatError naming the file. */
export class DecodeError extends Error {
  constructor(
    message: string,
    readonly at: number,
  ) {
    super(message);
  }
}

/**
 * Reads a varint of at most `maxBytes` bytes (5 for varint32, 10 for varint64) at `pos`, below
 * `end`. Values above 2^53 are refused (no offset or size in a real file gets near).
 */
export function readVarint(bytes: Uint8Array, pos: number, end: number, maxBytes = 10): [value: number, next: number] {
  let value = 0;
  let scale = 1;
  for (let i = 0; ; i++) {
    if (pos + i >= end) throw new DecodeError('truncated varint', pos);
    if (i >= maxBytes) throw new DecodeError(`varint longer than ${maxBytes} bytes`, pos);
    const b = bytes[pos + i];
    value += (b & 0x7f) * scale;
    scale *= 128;
    if (!(b & 0x80)) {
      if (value > Number.MAX_SAFE_INTEGER) throw new DecodeError('varint value beyond 2^53', pos);
      return [value, pos + i + 1];
    }
  }
}

function readHandle(bytes: Uint8Array, pos: number, end: number): [BlockHandle, number] {
  const [offset, p1] = readVarint(bytes, pos, end);
  const [size, p2] = readVarint(bytes, p1, end);
  return [{ offset, size }, p2];
}

export function decodeHandle(bytes: Uint8Array): BlockHandle {
  return readHandle(bytes, 0, bytes.length)[0];
}

export interface Entry {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
  /** Offset of the entry within the block contents. */
  readonly at: number;
}

/** Decodes every entry of a block's contents (after decompression), checking every length. */
export function blockEntries(contents: Uint8Array): Entry[] {
  const n = contents.length;
  if (n < 4) throw new DecodeError(`block of ${n} bytes has no restart count`, 0);
  const dv = new DataView(contents.buffer, contents.byteOffset, n);
  const numRestarts = dv.getUint32(n - 4, true);
  const maxRestarts = Math.floor((n - 4) / 4);
  if (numRestarts > maxRestarts) throw new DecodeError(`block claims ${numRestarts} restart points, room for ${maxRestarts}`, n - 4);
  const limit = n - 4 - 4 * numRestarts;
  const entries: Entry[] = [];
  let prev = new Uint8Array(0);
  let pos = 0;
  while (pos < limit) {
    const at = pos;
    const [shared, p1] = readVarint(contents, pos, limit, 5);
    const [unshared, p2] = readVarint(contents, p1, limit, 5);
    const [valueLength, p3] = readVarint(contents, p2, limit, 5);
    if (shared > prev.length) throw new DecodeError(`entry shares ${shared} key bytes, previous key has ${prev.length}`, at);
    if (p3 + unshared + valueLength > limit) throw new DecodeError(`entry of ${unshared + valueLength} bytes runs past the block`, at);
    const key = new Uint8Array(shared + unshared);
    key.set(prev.subarray(0, shared), 0);
    key.set(contents.subarray(p3, p3 + unshared), shared);
    const value = contents.subarray(p3 + unshared, p3 + unshared + valueLength);
    entries.push({ key, value, at });
    prev = key;
    pos = p3 + unshared + valueLength;
  }
  return entries;
}

/** Bytewise key order, as LevelDB's default comparator. */
export function compareKeys(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

export interface TableOptions {
  /** Check block CRCs. Default true. */
  readonly verify?: boolean;
  /** Check the data blocks' CRCs on this worker, all in one pass (ReadOptions.checks); the index block's here. */
  readonly checks?: BackgroundChecks;
  /** What the table is, for messages (`index file`, `V1 checkpoint`). */
  readonly what?: string;
}

export interface IndexEntry {
  readonly separator: Uint8Array;
  readonly handle: BlockHandle;
}

export interface Table {
  readonly file: RangeFile;
  readonly index: readonly IndexEntry[];
  /** Reads, checks and decompresses one block, and decodes its entries. */
  readBlock(handle: BlockHandle, tensor?: string): Promise<Entry[]>;
  /**
   * Checks a block's CRC now, whatever `checks` says: for a value that fails to decode, so that
   * corruption is reported as such, not as the decoding error it caused.
   */
  checkBlockNow(handle: BlockHandle, tensor?: string): Promise<void>;
  /** The value of `key`, or undefined; reads one data block. */
  get(key: Uint8Array, tensor?: string): Promise<{ value: Uint8Array; block: BlockHandle } | undefined>;
  /**
   * `use(value)` for the value of `key` while its block is held, or undefined when there is no
   * such key (`use` must not return undefined). The value is a view of memory that is reused
   * afterwards: `use` copies what it keeps, or calls `take`.
   */
  withValue<T>(key: Uint8Array, tensor: string | undefined, use: (value: Uint8Array, block: BlockHandle, take: () => Uint8Array | undefined) => T): Promise<T | undefined>;
  /** Every entry in key order (reads every block). */
  entries(): AsyncGenerator<Entry & { block: BlockHandle }>;
  /** Gives the memory of the blocks still cached back to io/pool (when the table is closed). */
  release(): void;
}

/** Opens a table: checks the footer and reads the index block. */
export async function openTable(file: RangeFile, options: TableOptions = {}): Promise<Table> {
  const verify = options.verify ?? true;
  const what = options.what ?? 'table';
  const fail = (at: number | undefined, msg: string, tensor?: string, cause?: unknown) =>
    new FormatError(FORMAT, { file: file.path, tensor, offset: at }, msg, cause ? { cause } : undefined);
  if (file.size < FOOTER_BYTES) throw fail(0, `${file.size} bytes is too short for a ${what} (a LevelDB table ends in a ${FOOTER_BYTES}-byte footer)`);
  const footerAt = file.size - FOOTER_BYTES;
  const footer = await file.read(footerAt, FOOTER_BYTES, undefined, false); // parsed and dropped: not io/pool's
  const magic = new DataView(footer.buffer, footer.byteOffset + 40, 8).getBigUint64(0, true);
  if (magic !== TABLE_MAGIC)
    throw fail(footerAt + 40, `bad footer magic 0x${magic.toString(16).padStart(16, '0')} (a LevelDB table ends in 0x${TABLE_MAGIC.toString(16)}): not a ${what}, or truncated`);
  let indexHandle: BlockHandle;
  try {
    const [, p] = readHandle(footer, 0, 40); // metaindex: TensorFlow writes an empty one, unused here
    [indexHandle] = readHandle(footer, p, 40);
  } catch (e) {
    if (e instanceof DecodeError) throw fail(footerAt + e.at, `footer: ${e.message}`);
    throw e;
  }

  /** Block offset -> a tensor read from it (names a block whose CRC, checked later, fails). */
  const readFor = new Map<number, string>();
  /**
   * The last few blocks decoded (small tensors share blocks, and are read one after another). A
   * block's raw bytes come from io/pool and go back once it has left the cache and no `withValue`
   * caller is still copying out of it: a checkpoint's 232 MB then pass through the same few tens
   * of MB of the pool instead of new memory. A block handed out by `readBlock` (views that may
   * live on) is pinned, in memory of its own, never the pool's. A block taken by a `withValue`
   * caller (`takeBlock`) is that caller's.
   */
  interface CachedBlock {
    entries: Promise<Entry[]>;
    raw?: Uint8Array;
    leases: number;
    settled: boolean;
    evicted: boolean;
    pinned: boolean;
  }
  const cache = new Map<number, CachedBlock>();
  const recycle = (c: CachedBlock) => {
    if (c.raw && c.settled && c.evicted && c.leases === 0 && !c.pinned) {
      giveBack(c.raw);
      c.raw = undefined;
    }
  };
  function cachedBlock(handle: BlockHandle, tensor: string | undefined, deferCheck: boolean, pooled = true): CachedBlock {
    if (tensor !== undefined && !readFor.has(handle.offset)) readFor.set(handle.offset, tensor);
    const hit = cache.get(handle.offset);
    if (hit) return hit;
    const c: CachedBlock = { entries: Promise.resolve([]), leases: 0, settled: false, evicted: false, pinned: false };
    c.entries = readBlockUncached(handle, tensor, deferCheck ? options.checks : undefined, pooled, (raw) => (c.raw = pooled ? raw : undefined));
    c.entries.then(
      () => {
        c.settled = true;
        recycle(c);
      },
      () => {
        c.settled = true; // (its memory is left to the collector)
        if (cache.get(handle.offset) === c) cache.delete(handle.offset);
      },
    );
    cache.set(handle.offset, c);
    if (cache.size > CACHED_BLOCKS) {
      const [offset, old] = cache.entries().next().value!;
      cache.delete(offset);
      old.evicted = true;
      recycle(old);
    }
    return c;
  }
  function readBlock(handle: BlockHandle, tensor?: string, deferCheck = true): Promise<Entry[]> {
    // pinned for good: memory of its own, not io/pool's (a pool place would stay lent)
    const c = cachedBlock(handle, tensor, deferCheck, false);
    c.pinned = true;
    return c.entries;
  }
  /**
   * The memory of a block read raw (from io/pool, the block's bytes from its start) for the
   * caller to keep, when its one entry is uncompressed and the caller alone holds it: it leaves the
   * cache, and its entries' views are the caller's to change. Undefined otherwise. (Most of a
   * checkpoint's bytes lie in blocks of one large tensor: kept this way, they are not copied into
   * new memory.)
   */
  function takeBlock(handle: BlockHandle, c: CachedBlock, entries: Entry[]): Uint8Array | undefined {
    const raw = c.raw;
    if (!raw || entries.length !== 1 || c.leases !== 1 || c.pinned || raw[handle.size] !== NO_COMPRESSION) return undefined;
    c.raw = undefined;
    if (cache.get(handle.offset) === c) cache.delete(handle.offset);
    c.evicted = true;
    return raw;
  }
  /** `use(entries)` while the block is held (a lease taken before anything is awaited). */
  async function withBlock<T>(handle: BlockHandle, tensor: string | undefined, use: (entries: Entry[], take: () => Uint8Array | undefined) => T): Promise<T> {
    const c = cachedBlock(handle, tensor, true);
    c.leases++;
    try {
      const entries = await c.entries;
      return use(entries, () => takeBlock(handle, c, entries));
    } finally {
      c.leases--;
      recycle(c);
    }
  }

  async function readRaw(handle: BlockHandle, tensor?: string, pooled = false): Promise<Uint8Array> {
    if (handle.offset + handle.size + BLOCK_TRAILER_BYTES > footerAt)
      throw fail(handle.offset, `block of ${handle.size} bytes at ${handle.offset} runs past the data (ends at ${footerAt})`, tensor);
    return file.read(handle.offset, handle.size + BLOCK_TRAILER_BYTES, tensor, pooled);
  }

  const mismatch = (offset: number, stored: number, computed: number, tensor: string | undefined) =>
    fail(offset, `block CRC32C mismatch (stored 0x${stored.toString(16)}, computed 0x${computed.toString(16)}): the file is corrupt`, tensor);

  /** Checks the CRC of a block read raw (contents, type byte, masked CRC), now. */
  function checkBlock(handle: BlockHandle, raw: Uint8Array, tensor: string | undefined): void {
    const stored = unmaskCrc(new DataView(raw.buffer, raw.byteOffset + handle.size + 1, 4).getUint32(0, true));
    const actual = crc32cExtend(0, raw.subarray(0, handle.size + 1));
    if (actual !== stored) throw mismatch(handle.offset, stored, actual, tensor);
  }

  async function readBlockUncached(handle: BlockHandle, tensor: string | undefined, checks: BackgroundChecks | undefined, pooled: boolean, onRaw: (raw: Uint8Array) => void): Promise<Entry[]> {
    const raw = await readRaw(handle, tensor, pooled);
    onRaw(raw);
    const type = raw[handle.size];
    if (verify && !checks) checkBlock(handle, raw, tensor);
    // a block whose check was deferred and that does not decode: corrupt, if its CRC says so
    const failNow = (e: FormatError): FormatError => {
      if (verify && checks) checkBlock(handle, raw, tensor);
      return e;
    };
    let contents = raw.subarray(0, handle.size);
    if (type === SNAPPY_COMPRESSION) {
      try {
        contents = snappyDecompress(contents);
      } catch (e) {
        if (e instanceof SnappyError) throw failNow(fail(handle.offset + e.at, `Snappy block: ${e.message}`, tensor));
        throw e;
      }
    } else if (type !== NO_COMPRESSION) throw failNow(fail(handle.offset + handle.size, `unknown block compression type ${type}`, tensor));
    try {
      return blockEntries(contents);
    } catch (e) {
      // offsets inside a compressed block are offsets in its decompressed contents; name the block
      if (e instanceof DecodeError)
        throw failNow(fail(type === NO_COMPRESSION ? handle.offset + e.at : handle.offset, `block at ${handle.offset}: ${e.message}`, tensor));
      throw e;
    }
  }

  const index: IndexEntry[] = [];
  for (const e of await readBlock(indexHandle, undefined, false)) {
    let handle: BlockHandle;
    try {
      handle = readHandle(e.value, 0, e.value.length)[0];
    } catch (err) {
      if (err instanceof DecodeError) throw fail(indexHandle.offset, `index entry: ${err.message}`);
      throw err;
    }
    index.push({ separator: e.key, handle });
  }

  // With `checks`, every data block's CRC is checked in one pass beside the reading (with the
  // file's hash, when one is asked for); a block that fails is named by a tensor read from it.
  if (verify && options.checks) {
    const blocks = index.filter((e) => e.handle.offset + e.handle.size + BLOCK_TRAILER_BYTES <= footerAt).map((e) => ({ offset: e.handle.offset, length: e.handle.size + 1 }));
    const scan = options.checks.blockCrcs(file.path, blocks);
    scan.catch(() => undefined); // reported below, when settled
    // The pass starts now, with the file's hash, which a conversion asks for once the source is
    // open (the same pass): the metadata is read and decoded meanwhile (V1: 40-80 ms).
    options.checks.sha256(file.path).catch(() => undefined);
    options.checks.track(() =>
      scan.then(
        (bad) => {
          if (bad) throw mismatch(bad.offset, bad.stored, bad.computed, readFor.get(bad.offset));
        },
        (e: Error) => {
          throw fail(undefined, `cannot read the file again to check its block CRCs: ${e.message}`, undefined, e);
        },
      ),
    );
  }


  /** The first block whose separator is >= key: the only one that can hold it. */
  function blockFor(key: Uint8Array): BlockHandle | undefined {
    let lo = 0;
    let hi = index.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareKeys(index[mid].separator, key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo === index.length ? undefined : index[lo].handle;
  }

  return {
    file,
    index,
    readBlock,
    async withValue(key, tensor, use) {
      const block = blockFor(key);
      if (!block) return undefined;
      return withBlock(block, tensor, (entries, take) => {
        for (const e of entries) if (compareKeys(e.key, key) === 0) return use(e.value, block, take);
        return undefined;
      });
    },
    async checkBlockNow(handle, tensor) {
      if (verify) checkBlock(handle, await readRaw(handle, tensor), tensor);
    },
    async get(key, tensor) {
      const block = blockFor(key);
      if (!block) return undefined;
      for (const e of await readBlock(block, tensor)) if (compareKeys(e.key, key) === 0) return { value: e.value, block };
      return undefined;
    },
    async *entries() {
      for (const { handle } of index) for (const e of await readBlock(handle)) yield { ...e, block: handle };
    },
    release() {
      for (const c of cache.values()) {
        c.evicted = true;
        recycle(c);
      }
      cache.clear();
    },
  };
}
