/**
 * TensorFlow V2 checkpoints ("tensor bundles", tensorflow/core/util/tensor_bundle/
 * tensor_bundle.cc): `prefix.index`, a LevelDB table whose empty key holds the BundleHeaderProto
 * and whose other keys map tensor names to BundleEntryProtos, and the data shards
 * `prefix.data-0000k-of-0000n` holding each tensor's raw little-endian bytes at `offset`, `size`
 * bytes long, with a masked CRC32C. A partitioned variable's entry lists its slices; each slice
 * is an entry of its own under its encoded slice key.
 */
import { giveBack } from '../../io/pool.js';
import { FormatError } from '../../errors.js';
import { DTYPE_SIZE, type DType } from '../../tensor.js';
import type { ReadOptions, StoredTensor } from '../types.js';
import { checkCrc32c } from '../../io/background.js';
import { unmaskCrc } from '../../io/crc32c.js';
import { FORMAT, memoryFile, openRangeFile, type RangeFile } from './file.js';
import { decodeBundleEntry, decodeBundleHeader, dtypeName, dtypeOf, type BundleEntry, type BundleHeader } from './protos.js';
import { copySlice, encodeTensorNameSlice, sliceBox } from './slices.js';
import { DecodeError, openTable, readVarint } from './sstable.js';

/** Index files are small (a few hundred bytes per tensor); a larger one is not an index. */
const MAX_INDEX_BYTES = 1 << 30;
/** Shard counts beyond this are corrupt headers (real bundles have a handful). */
const MAX_SHARDS = 100_000;

export const shardName = (prefix: string, k: number, n: number): string =>
  `${prefix}.data-${String(k).padStart(5, '0')}-of-${String(n).padStart(5, '0')}`;

export interface Bundle {
  readonly prefix: string;
  readonly indexPath: string;
  readonly header: BundleHeader;
  /** Full tensors by name, in key order (slice entries are not listed). */
  readonly entries: ReadonlyMap<string, BundleEntry>;
  /** Where each entry lies in the index file (for error offsets). */
  readonly entryOffsets: ReadonlyMap<string, number>;
  readonly shards: readonly RangeFile[];
  /** Reads one entry's bytes (one tensor, or one slice), checking range and CRC. */
  readEntry(name: string, entry: BundleEntry, tensor?: string): Promise<Uint8Array>;
  /** The entry stored under a slice key, for partitioned tensors. */
  sliceEntry(name: string, extents: BundleEntry['slices'][number]): BundleEntry | undefined;
  close(): Promise<void>;
}

const elements = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

/** Opens `prefix.index` and every data shard it names. Reads no tensor data. */
export async function openBundle(prefix: string, options: ReadOptions = {}): Promise<Bundle> {
  const verify = options.verify ?? true;
  const indexPath = `${prefix}.index`;
  const raw = await openRangeFile(indexPath);
  let bytes: Uint8Array;
  try {
    if (raw.size > MAX_INDEX_BYTES) throw new FormatError(FORMAT, { file: indexPath }, `${raw.size} bytes is too large for a checkpoint index`);
    bytes = await raw.read(0, raw.size, undefined, false); // kept while the bundle is open: not io/pool's
  } finally {
    await raw.close();
  }
  const table = await openTable(memoryFile(indexPath, bytes), { verify, what: 'TensorFlow checkpoint index' });
  let header: BundleHeader | undefined;
  const entries = new Map<string, BundleEntry>();
  const entryOffsets = new Map<string, number>();
  const sliceEntries = new Map<string, BundleEntry>();
  const hex = (k: Uint8Array) => Buffer.from(k).toString('latin1');
  const utf8 = new TextDecoder();
  for await (const e of table.entries()) {
    const at = e.block.offset + e.at;
    const name = utf8.decode(e.key);
    try {
      if (e.key.length === 0) header = decodeBundleHeader(e.value);
      else if (e.key[0] === 0) sliceEntries.set(hex(e.key), decodeBundleEntry(e.value)); // an encoded slice key
      else {
        entries.set(name, decodeBundleEntry(e.value));
        entryOffsets.set(name, at);
      }
    } catch (err) {
      if (err instanceof DecodeError)
        throw new FormatError(FORMAT, { file: indexPath, tensor: e.key.length ? name : undefined, offset: at }, `bad ${e.key.length ? 'BundleEntryProto' : 'BundleHeaderProto'}: ${err.message}`);
      throw err;
    }
  }
  if (!header) throw new FormatError(FORMAT, { file: indexPath }, 'no BundleHeaderProto (the empty key): not a V2 checkpoint index');
  if (header.endianness !== 0) throw new FormatError(FORMAT, { file: indexPath }, 'big-endian bundles are not supported');
  if (header.numShards < 1 || header.numShards > MAX_SHARDS)
    throw new FormatError(FORMAT, { file: indexPath }, `header names ${header.numShards} data shards`);

  // every shard must be there; name the first tensor that lives in a missing one
  const shards: RangeFile[] = [];
  const all = [...entries.entries(), ...[...sliceEntries.values()].map((e) => ['(slice)', e] as const)];
  try {
    for (let k = 0; k < header.numShards; k++) {
      const path = shardName(prefix, k, header.numShards);
      try {
        shards.push(await openRangeFile(path));
      } catch (e) {
        const first = all.find(([, en]) => en.shardId === k);
        throw new FormatError(
          FORMAT,
          { file: path, tensor: first?.[0], offset: first?.[1].offset },
          `data shard ${k + 1} of ${header.numShards} is missing or unreadable${first ? '' : ' (no tensor lives there)'}`,
          { cause: e },
        );
      }
    }
    // ranges and sizes, checked before anything is read
    for (const [name, entry] of all) {
      if (entry.slices.length > 0) continue;
      if (entry.shardId < 0 || entry.shardId >= header.numShards)
        throw new FormatError(FORMAT, { file: indexPath, tensor: name, offset: entryOffsets.get(name) }, `shard_id ${entry.shardId} of ${header.numShards} shards`);
      const shard = shards[entry.shardId];
      if (entry.offset < 0 || entry.size < 0 || entry.offset + entry.size > shard.size)
        throw new FormatError(FORMAT, { file: shard.path, tensor: name, offset: entry.offset }, `${entry.size} bytes at ${entry.offset} run past the end of the ${shard.size}-byte shard`);
    }
  } catch (e) {
    await Promise.all(shards.map((s) => s.close()));
    throw e;
  }

  return {
    prefix,
    indexPath,
    header,
    entries,
    entryOffsets,
    shards,
    async readEntry(name, entry, tensor = name) {
      const shard = shards[entry.shardId];
      const data = await shard.read(entry.offset, entry.size, tensor);
      if (verify && entry.crc32c !== undefined) {
        const stored = unmaskCrc(entry.crc32c);
        checkCrc32c(options.checks, { path: shard.path, offset: entry.offset, bytes: data }, stored, (found) =>
          typeof found === 'number'
            ? new FormatError(FORMAT, { file: shard.path, tensor, offset: entry.offset }, `CRC32C mismatch (stored 0x${stored.toString(16)}, computed 0x${found.toString(16)}): the data is corrupt`)
            : new FormatError(FORMAT, { file: shard.path, tensor, offset: entry.offset }, `cannot read it again to check its CRC32C: ${found.message}`, { cause: found }),
        );
      }
      return data;
    },
    sliceEntry(name, extents) {
      return sliceEntries.get(hex(encodeTensorNameSlice(name, extents)));
    },
    async close() {
      await Promise.all(shards.map((s) => s.close()));
    },
  };
}

/** The element type of an entry, or a FormatError naming the tensor. */
export function entryDType(bundle: Bundle, name: string, entry: BundleEntry): DType {
  const dtype = dtypeOf(entry.dtype);
  if (!dtype)
    throw new FormatError(
      FORMAT,
      { file: bundle.indexPath, tensor: name, offset: bundle.entryOffsets.get(name) },
      `unsupported dtype ${dtypeName(entry.dtype)} (supported: float32, float16, bfloat16, float64, int32, int64)`,
    );
  return dtype;
}

/** A lazily read tensor for each entry (renamed by `rename` when given). */
export function bundleTensor(bundle: Bundle, key: string, entry: BundleEntry, name = key): StoredTensor {
  const dtype = entryDType(bundle, key, entry);
  const shape = entry.shape.dims;
  if (entry.shape.unknownRank || shape.some((d) => d < 0))
    throw new FormatError(FORMAT, { file: bundle.indexPath, tensor: key, offset: bundle.entryOffsets.get(key) }, `shape [${shape}] is not fully known`);
  const byteLength = elements(shape) * DTYPE_SIZE[dtype];
  if (!Number.isSafeInteger(byteLength))
    throw new FormatError(FORMAT, { file: bundle.indexPath, tensor: key, offset: bundle.entryOffsets.get(key) }, `shape [${shape}] is too large`);
  if (entry.slices.length === 0) {
    if (entry.size !== byteLength)
      throw new FormatError(FORMAT, { file: bundle.shards[entry.shardId].path, tensor: key, offset: entry.offset }, `${entry.size} bytes stored, shape [${shape}] of ${dtype} needs ${byteLength}`);
    return {
      name,
      dtype,
      shape,
      byteLength,
      file: bundle.shards[entry.shardId].path,
      offset: entry.offset,
      freshReads: true, // file.ts reads each range into a new array
      read: () => bundle.readEntry(key, entry, name),
    };
  }
  // a partitioned variable: each slice under its own key, reassembled on read
  const parts = entry.slices.map((extents) => {
    const sub = bundle.sliceEntry(key, extents);
    if (!sub) throw new FormatError(FORMAT, { file: bundle.indexPath, tensor: key, offset: bundle.entryOffsets.get(key) }, `slice ${JSON.stringify(extents)} is listed but not stored`);
    let box;
    try {
      box = sliceBox(extents, shape);
    } catch (e) {
      throw new FormatError(FORMAT, { file: bundle.indexPath, tensor: key, offset: bundle.entryOffsets.get(key) }, (e as Error).message);
    }
    const want = elements(box.size) * DTYPE_SIZE[dtype];
    if (sub.size !== want)
      throw new FormatError(FORMAT, { file: bundle.shards[sub.shardId]?.path ?? bundle.indexPath, tensor: key, offset: sub.offset }, `slice holds ${sub.size} bytes, its box needs ${want}`);
    return { sub, box };
  });
  // the slices must tile the tensor: their stored bytes add up to it (so that a corrupt shape
  // cannot make the reader allocate more than the files hold)
  const stored = parts.reduce((n, p) => n + p.sub.size, 0);
  if (stored !== byteLength)
    throw new FormatError(FORMAT, { file: bundle.indexPath, tensor: key, offset: bundle.entryOffsets.get(key) }, `its slices hold ${stored} bytes, shape [${shape}] of ${dtype} needs ${byteLength}`);
  return {
    name,
    dtype,
    shape,
    byteLength,
    async read() {
      const out = new Uint8Array(byteLength);
      for (const { sub, box } of parts) {
        const piece = await bundle.readEntry(key, sub, name);
        copySlice(out, shape, piece, box, DTYPE_SIZE[dtype]);
        giveBack(piece); // copied out: its memory goes back to io/pool (a CRC still due is checked from the file)
      }
      return out;
    },
  };
}

/**
 * A string tensor's elements (tensor_bundle.cc WriteStringTensor): varint64 lengths of every
 * element, a 4-byte checksum of the lengths, then the bytes of every element.
 */
export function decodeStringTensor(data: Uint8Array, count: number): Uint8Array[] {
  const lengths: number[] = [];
  let pos = 0;
  for (let i = 0; i < count; i++) {
    const [len, next] = readVarint(data, pos, data.length, 10);
    lengths.push(len);
    pos = next;
  }
  pos += 4;
  const out: Uint8Array[] = [];
  for (const len of lengths) {
    if (pos + len > data.length) throw new DecodeError(`string of ${len} bytes runs past the ${data.length}-byte tensor`, pos);
    out.push(data.subarray(pos, pos + len));
    pos += len;
  }
  return out;
}
