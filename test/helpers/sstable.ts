/**
 * Writes LevelDB tables and the protobuf messages of TensorFlow checkpoints, for crafted-byte
 * tests of the reader (bad dtypes, offsets past the end, Snappy blocks). Written from the format
 * description in src/readers/tf-checkpoint/sstable.ts; the real producer's files are the fixtures.
 */
import { crc32c, maskCrc } from '../../src/io/crc32c.js';

export function varint(n: number | bigint): number[] {
  let v = BigInt.asUintN(64, BigInt(n));
  const out: number[] = [];
  do {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v ? b | 0x80 : b);
  } while (v);
  return out;
}

const enc = (s: string | Uint8Array) => (typeof s === 'string' ? [...new TextEncoder().encode(s)] : [...s]);

/** Protobuf fields: [field, value]; numbers are varints, arrays/strings length-delimited, {fixed32}. */
export type PbValue = number | bigint | string | Uint8Array | number[] | { fixed32: number };
export function pb(fields: readonly (readonly [number, PbValue])[]): number[] {
  const out: number[] = [];
  for (const [no, v] of fields) {
    if (typeof v === 'number' || typeof v === 'bigint') out.push(...varint(no * 8), ...varint(v));
    else if (typeof v === 'object' && 'fixed32' in v) {
      out.push(...varint(no * 8 + 5));
      const b = new Uint8Array(4);
      new DataView(b.buffer).setUint32(0, v.fixed32 >>> 0, true);
      out.push(...b);
    } else {
      const bytes = Array.isArray(v) ? v : enc(v);
      out.push(...varint(no * 8 + 2), ...varint(bytes.length), ...bytes);
    }
  }
  return out;
}

export const shapeProto = (dims: readonly number[]): number[] => pb(dims.map((d) => [2, pb([[1, d]])] as const));

/** One block of entries (sorted keys, restart every 16), with its 5-byte trailer. */
export function block(entries: readonly (readonly [Uint8Array, Uint8Array])[], compression: 0 | 1 = 0, compress?: (b: Uint8Array) => Uint8Array): Uint8Array {
  const out: number[] = [];
  const restarts: number[] = [];
  let prev: Uint8Array = new Uint8Array(0);
  entries.forEach(([k, v], i) => {
    let shared = 0;
    if (i % 16 === 0) restarts.push(out.length);
    else while (shared < Math.min(prev.length, k.length) && prev[shared] === k[shared]) shared++;
    out.push(...varint(shared), ...varint(k.length - shared), ...varint(v.length), ...k.subarray(shared), ...v);
    prev = k;
  });
  if (restarts.length === 0) restarts.push(0);
  const tail = new Uint8Array(4 * restarts.length + 4);
  const dv = new DataView(tail.buffer);
  restarts.forEach((r, i) => dv.setUint32(4 * i, r, true));
  dv.setUint32(4 * restarts.length, restarts.length, true);
  let contents: Uint8Array = Uint8Array.from([...out, ...tail]);
  if (compress) contents = compress(contents);
  const withType = Uint8Array.from([...contents, compression]);
  const trailer = new Uint8Array(4);
  new DataView(trailer.buffer).setUint32(0, maskCrc(crc32c(withType)), true);
  return Uint8Array.from([...withType, ...trailer]);
}

/** A whole table: one data block, an empty metaindex, the index, the footer. */
export function table(entries: readonly (readonly [Uint8Array | string, Uint8Array | number[]])[], options: { compression?: 0 | 1; compress?: (b: Uint8Array) => Uint8Array } = {}): Uint8Array {
  const es = entries.map(([k, v]) => [typeof k === 'string' ? new TextEncoder().encode(k) : k, v instanceof Uint8Array ? v : Uint8Array.from(v)] as const);
  const data = block(es, options.compression ?? 0, options.compress);
  const dataSize = data.length - 5;
  const meta = block([]);
  const metaOffset = data.length;
  const lastKey = es.length ? es[es.length - 1][0] : new Uint8Array(0);
  const index = block([[lastKey, Uint8Array.from([...varint(0), ...varint(dataSize)])]]);
  const indexOffset = metaOffset + meta.length;
  const footer = new Uint8Array(48);
  footer.set([...varint(metaOffset), ...varint(meta.length - 5), ...varint(indexOffset), ...varint(index.length - 5)], 0);
  new DataView(footer.buffer).setBigUint64(40, 0xdb4775248b80fb57n, true);
  return Uint8Array.from([...data, ...meta, ...index, ...footer]);
}

/** A V2 index entry (BundleEntryProto). */
export function bundleEntry(e: { dtype: number; shape: number[]; shard?: number; offset: number; size: number; crc?: number }): number[] {
  const fields: [number, PbValue][] = [[1, e.dtype], [2, shapeProto(e.shape)]];
  if (e.shard) fields.push([3, e.shard]);
  if (e.offset) fields.push([4, e.offset]);
  if (e.size) fields.push([5, e.size]);
  if (e.crc !== undefined) fields.push([6, { fixed32: e.crc }]);
  return pb(fields);
}

export const bundleHeader = (numShards: number): number[] => pb([[1, numShards], [3, pb([[1, 1]])]]);
