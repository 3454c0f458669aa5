/**
 * The few TensorFlow protobuf messages that checkpoints hold, decoded by hand: only the fields
 * used, from their field numbers (written here from the upstream definitions, not copied):
 *
 * - tensorflow/core/protobuf/tensor_bundle.proto: BundleHeaderProto {num_shards = 1,
 *   endianness = 2}; BundleEntryProto {dtype = 1, shape = 2, shard_id = 3, offset = 4, size = 5,
 *   crc32c = 6 (fixed32), slices = 7}.
 * - tensorflow/core/framework/tensor_shape.proto: TensorShapeProto {dim = 2 {size = 1},
 *   unknown_rank = 3}.
 * - tensorflow/core/framework/tensor_slice.proto: TensorSliceProto {extent = 1 {start = 1,
 *   length = 2 (absent: the whole dimension)}}.
 * - tensorflow/core/util/saved_tensor_slice.proto: SavedTensorSlices {meta = 1, data = 2};
 *   SavedTensorSliceMeta {tensor = 1}; SavedSliceMeta {name = 1, shape = 2, type = 3,
 *   slice = 4}; SavedSlice {name = 1, slice = 2, data = 3}.
 * - tensorflow/core/framework/tensor.proto: TensorProto {dtype = 1, tensor_shape = 2,
 *   tensor_content = 4, float_val = 5, double_val = 6, int_val = 7, int64_val = 10,
 *   half_val = 13 (also bfloat16)}.
 * - tensorflow/core/framework/types.proto: DataType numbers (DTYPES below); `_REF` types add 100.
 * - tensorflow/core/protobuf/trackable_object_graph.proto: TrackableObjectGraph {nodes = 1
 *   {children = 1 {node_id = 1, local_name = 2}, attributes = 2 {name = 1, full_name = 2,
 *   checkpoint_key = 3}}}.
 *
 * Hand-written instead of protobufjs because a V1 checkpoint keeps its weights in packed
 * `float_val` fields: their bytes are already little-endian float32, and a decoder that returns
 * views keeps the reader a copy, not a parse, of the weights. Every length is checked against its
 * message before use (DecodeError with the offset).
 */
import type { DType } from '../../tensor.js';
import { DecodeError, readVarint } from './sstable.js';

/** types.proto DataType numbers, names as TensorFlow spells them (for messages). */
export const DT_NAMES: Readonly<Record<number, string>> = {
  0: 'DT_INVALID', 1: 'DT_FLOAT', 2: 'DT_DOUBLE', 3: 'DT_INT32', 4: 'DT_UINT8', 5: 'DT_INT16', 6: 'DT_INT8',
  7: 'DT_STRING', 8: 'DT_COMPLEX64', 9: 'DT_INT64', 10: 'DT_BOOL', 11: 'DT_QINT8', 12: 'DT_QUINT8',
  13: 'DT_QINT32', 14: 'DT_BFLOAT16', 15: 'DT_QINT16', 16: 'DT_QUINT16', 17: 'DT_UINT16', 18: 'DT_COMPLEX128',
  19: 'DT_HALF', 20: 'DT_RESOURCE', 21: 'DT_VARIANT', 22: 'DT_UINT32', 23: 'DT_UINT64',
};
export const DT_STRING = 7;

/** The DataTypes this reader supports, and the element type each becomes. */
export const DTYPES: Readonly<Record<number, DType>> = { 1: 'float32', 2: 'float64', 3: 'int32', 9: 'int64', 14: 'bfloat16', 19: 'float16' };

/** The DType of a DataType number (reference types as their base), or undefined. */
export const dtypeOf = (dt: number): DType | undefined => DTYPES[dt > 100 ? dt - 100 : dt];
export const dtypeName = (dt: number): string => DT_NAMES[dt > 100 ? dt - 100 : dt] ?? `DataType ${dt}`;

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

/** One field of a message: its number, wire type and payload. */
interface Field {
  readonly no: number;
  readonly wire: number;
  /** varint value (WIRE_VARINT), or undefined. */
  readonly int?: number;
  /** payload bytes (WIRE_LEN, I32, I64). */
  readonly bytes?: Uint8Array;
  /** Offset of the payload from the start of the outermost buffer decoded. */
  readonly at: number;
}

/**
 * Walks the fields of one message. `base` is the message's offset in the outermost buffer (for
 * error offsets). Negative int32/int64 varints (10 bytes) are returned as negative numbers.
 */
function* fields(buf: Uint8Array, base = 0): Generator<Field> {
  let pos = 0;
  const end = buf.length;
  while (pos < end) {
    const [tag, p] = wrap(() => readVarint(buf, pos, end, 5), base);
    const no = Math.floor(tag / 8);
    const wire = tag & 7;
    if (no === 0) throw new DecodeError('field number 0', base + pos);
    switch (wire) {
      case WIRE_VARINT: {
        const [v, q] = readSignedVarint(buf, p, end, base);
        yield { no, wire, int: v, at: base + p };
        pos = q;
        break;
      }
      case WIRE_I64:
        if (p + 8 > end) throw new DecodeError('truncated fixed64', base + p);
        yield { no, wire, bytes: buf.subarray(p, p + 8), at: base + p };
        pos = p + 8;
        break;
      case WIRE_I32:
        if (p + 4 > end) throw new DecodeError('truncated fixed32', base + p);
        yield { no, wire, bytes: buf.subarray(p, p + 4), at: base + p };
        pos = p + 4;
        break;
      case WIRE_LEN: {
        const [len, q] = wrap(() => readVarint(buf, p, end, 10), base);
        if (q + len > end) throw new DecodeError(`field ${no}: ${len} bytes run past the ${end - q} left in the message`, base + p);
        yield { no, wire, bytes: buf.subarray(q, q + len), at: base + q };
        pos = q + len;
        break;
      }
      default:
        throw new DecodeError(`field ${no}: unsupported wire type ${wire}`, base + pos);
    }
  }
}

function wrap<T>(f: () => T, base: number): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof DecodeError) throw new DecodeError(e.message, base + e.at);
    throw e;
  }
}

/** A varint read as two's-complement int64 when it has the sign bit (10 bytes). */
function readSignedVarint(buf: Uint8Array, pos: number, end: number, base: number): [number, number] {
  let v = 0n;
  let shift = 0n;
  for (let i = 0; ; i++) {
    if (pos + i >= end) throw new DecodeError('truncated varint', base + pos);
    if (i >= 10) throw new DecodeError('varint longer than 10 bytes', base + pos);
    const b = buf[pos + i];
    v |= BigInt(b & 0x7f) << shift;
    shift += 7n;
    if (!(b & 0x80)) {
      const s = BigInt.asIntN(64, v);
      if (s > BigInt(Number.MAX_SAFE_INTEGER) || s < BigInt(Number.MIN_SAFE_INTEGER)) throw new DecodeError('integer beyond 2^53', base + pos);
      return [Number(s), pos + i + 1];
    }
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: false });
const need = (f: Field, wire: number, what: string): void => {
  if (f.wire !== wire) throw new DecodeError(`${what}: wire type ${f.wire}, expected ${wire}`, f.at);
};

/** TensorShapeProto: dimension sizes (-1 for unknown); `unknownRank` when the rank is unknown. */
export interface ShapeProto {
  readonly dims: number[];
  readonly unknownRank: boolean;
}

export function decodeShape(buf: Uint8Array, base = 0): ShapeProto {
  const dims: number[] = [];
  let unknownRank = false;
  for (const f of fields(buf, base)) {
    if (f.no === 2) {
      need(f, WIRE_LEN, 'TensorShapeProto.dim');
      let size = 0;
      for (const g of fields(f.bytes!, f.at)) if (g.no === 1 && g.wire === WIRE_VARINT) size = g.int!;
      dims.push(size);
    } else if (f.no === 3 && f.wire === WIRE_VARINT) unknownRank = f.int !== 0;
  }
  return { dims, unknownRank };
}

/** One dimension of a TensorSliceProto; `length` undefined means the whole dimension. */
export interface Extent {
  readonly start: number;
  readonly length?: number;
}

export function decodeSlice(buf: Uint8Array, base = 0): Extent[] {
  const extents: Extent[] = [];
  for (const f of fields(buf, base)) {
    if (f.no !== 1) continue;
    need(f, WIRE_LEN, 'TensorSliceProto.extent');
    let start = 0;
    let length: number | undefined;
    for (const g of fields(f.bytes!, f.at)) {
      if (g.no === 1 && g.wire === WIRE_VARINT) start = g.int!;
      else if (g.no === 2 && g.wire === WIRE_VARINT) length = g.int!;
    }
    extents.push(length === undefined ? { start } : { start, length });
  }
  return extents;
}

export interface BundleHeader {
  readonly numShards: number;
  /** 0 little-endian, 1 big-endian. */
  readonly endianness: number;
}

export function decodeBundleHeader(buf: Uint8Array, base = 0): BundleHeader {
  let numShards = 0;
  let endianness = 0;
  for (const f of fields(buf, base)) {
    if (f.no === 1 && f.wire === WIRE_VARINT) numShards = f.int!;
    else if (f.no === 2 && f.wire === WIRE_VARINT) endianness = f.int!;
  }
  return { numShards, endianness };
}

export interface BundleEntry {
  readonly dtype: number;
  readonly shape: ShapeProto;
  readonly shardId: number;
  readonly offset: number;
  readonly size: number;
  /** Masked CRC32C of the bytes, when stored. */
  readonly crc32c?: number;
  /** A partitioned tensor: the slices stored under their own keys. */
  readonly slices: Extent[][];
}

export function decodeBundleEntry(buf: Uint8Array, base = 0): BundleEntry {
  let dtype = 0;
  let shape: ShapeProto = { dims: [], unknownRank: false };
  let shardId = 0;
  let offset = 0;
  let size = 0;
  let crc32c: number | undefined;
  const slices: Extent[][] = [];
  for (const f of fields(buf, base)) {
    switch (f.no) {
      case 1: need(f, WIRE_VARINT, 'BundleEntryProto.dtype'); dtype = f.int!; break;
      case 2: need(f, WIRE_LEN, 'BundleEntryProto.shape'); shape = decodeShape(f.bytes!, f.at); break;
      case 3: need(f, WIRE_VARINT, 'BundleEntryProto.shard_id'); shardId = f.int!; break;
      case 4: need(f, WIRE_VARINT, 'BundleEntryProto.offset'); offset = f.int!; break;
      case 5: need(f, WIRE_VARINT, 'BundleEntryProto.size'); size = f.int!; break;
      case 6: need(f, WIRE_I32, 'BundleEntryProto.crc32c'); crc32c = new DataView(f.bytes!.buffer, f.bytes!.byteOffset, 4).getUint32(0, true); break;
      case 7: need(f, WIRE_LEN, 'BundleEntryProto.slices'); slices.push(decodeSlice(f.bytes!, f.at)); break;
      default: break;
    }
  }
  return { dtype, shape, shardId, offset, size, crc32c, slices };
}

export interface SliceMeta {
  readonly name: string;
  readonly shape: ShapeProto;
  readonly dtype: number;
  readonly slices: Extent[][];
}

/**
 * The values of a TensorProto, as byte ranges not yet converted: `content` (tensor_content) or
 * the chunks of one typed repeated field (packed or not).
 */
export interface TensorValues {
  readonly dtype: number;
  readonly shape?: ShapeProto;
  readonly content?: Uint8Array;
  /** Field number of the typed values (5 float, 6 double, 7 int, 10 int64, 13 half) and their chunks. */
  readonly field?: number;
  readonly chunks: { readonly wire: number; readonly bytes?: Uint8Array; readonly int?: number }[];
  /** Offset of the TensorProto in the outermost buffer. */
  readonly at: number;
}

const VALUE_FIELDS = new Set([5, 6, 7, 10, 13]);

export function decodeTensorProto(buf: Uint8Array, base = 0): TensorValues {
  let dtype = 0;
  let shape: ShapeProto | undefined;
  let content: Uint8Array | undefined;
  let field: number | undefined;
  const chunks: TensorValues['chunks'][number][] = [];
  for (const f of fields(buf, base)) {
    if (f.no === 1 && f.wire === WIRE_VARINT) dtype = f.int!;
    else if (f.no === 2 && f.wire === WIRE_LEN) shape = decodeShape(f.bytes!, f.at);
    else if (f.no === 4 && f.wire === WIRE_LEN) content = f.bytes;
    else if (VALUE_FIELDS.has(f.no)) {
      if (field !== undefined && field !== f.no) throw new DecodeError(`TensorProto holds values in fields ${field} and ${f.no}`, f.at);
      field = f.no;
      chunks.push({ wire: f.wire, bytes: f.bytes, int: f.int });
    }
  }
  return { dtype, shape, content, field, chunks, at: base };
}

/** SavedTensorSlices: either the metadata (the entry under the empty key) or one data slice. */
export interface SavedTensorSlices {
  readonly meta?: SliceMeta[];
  readonly data?: { readonly name: string; readonly slice: Extent[]; readonly values?: TensorValues };
}

export function decodeSavedTensorSlices(buf: Uint8Array, base = 0): SavedTensorSlices {
  let meta: SliceMeta[] | undefined;
  let data: SavedTensorSlices['data'];
  for (const f of fields(buf, base)) {
    if (f.no === 1) {
      need(f, WIRE_LEN, 'SavedTensorSlices.meta');
      meta = [];
      for (const g of fields(f.bytes!, f.at)) {
        if (g.no !== 1) continue;
        need(g, WIRE_LEN, 'SavedTensorSliceMeta.tensor');
        let name = '';
        let shape: ShapeProto = { dims: [], unknownRank: false };
        let dtype = 0;
        const slices: Extent[][] = [];
        for (const h of fields(g.bytes!, g.at)) {
          if (h.no === 1 && h.wire === WIRE_LEN) name = utf8.decode(h.bytes!);
          else if (h.no === 2 && h.wire === WIRE_LEN) shape = decodeShape(h.bytes!, h.at);
          else if (h.no === 3 && h.wire === WIRE_VARINT) dtype = h.int!;
          else if (h.no === 4 && h.wire === WIRE_LEN) slices.push(decodeSlice(h.bytes!, h.at));
        }
        meta.push({ name, shape, dtype, slices });
      }
    } else if (f.no === 2) {
      need(f, WIRE_LEN, 'SavedTensorSlices.data');
      let name = '';
      let slice: Extent[] = [];
      let values: TensorValues | undefined;
      for (const g of fields(f.bytes!, f.at)) {
        if (g.no === 1 && g.wire === WIRE_LEN) name = utf8.decode(g.bytes!);
        else if (g.no === 2 && g.wire === WIRE_LEN) slice = decodeSlice(g.bytes!, g.at);
        else if (g.no === 3 && g.wire === WIRE_LEN) values = decodeTensorProto(g.bytes!, g.at);
      }
      data = { name, slice, values };
    }
  }
  return { meta, data };
}

/** TrackableObjectGraph: for each checkpoint key, the variable's name and its object path. */
export interface ObjectGraphKey {
  readonly checkpointKey: string;
  /** The variable's name when it was saved (SerializedTensor.full_name); may be empty. */
  readonly fullName: string;
  /** Object path from the root (`vars/InceptionV4.SConv2d_1a_3x3.Sweights`), from the children edges. */
  readonly path: string;
}

export function decodeObjectGraph(buf: Uint8Array, base = 0): ObjectGraphKey[] {
  const nodes: { children: { id: number; name: string }[]; attributes: { name: string; fullName: string; key: string }[] }[] = [];
  for (const f of fields(buf, base)) {
    if (f.no !== 1 || f.wire !== WIRE_LEN) continue;
    const node = { children: [] as { id: number; name: string }[], attributes: [] as { name: string; fullName: string; key: string }[] };
    for (const g of fields(f.bytes!, f.at)) {
      if (g.no === 1 && g.wire === WIRE_LEN) {
        let id = 0;
        let name = '';
        for (const h of fields(g.bytes!, g.at)) {
          if (h.no === 1 && h.wire === WIRE_VARINT) id = h.int!;
          else if (h.no === 2 && h.wire === WIRE_LEN) name = utf8.decode(h.bytes!);
        }
        node.children.push({ id, name });
      } else if (g.no === 2 && g.wire === WIRE_LEN) {
        let name = '';
        let fullName = '';
        let key = '';
        for (const h of fields(g.bytes!, g.at)) {
          if (h.wire !== WIRE_LEN) continue;
          if (h.no === 1) name = utf8.decode(h.bytes!);
          else if (h.no === 2) fullName = utf8.decode(h.bytes!);
          else if (h.no === 3) key = utf8.decode(h.bytes!);
        }
        node.attributes.push({ name, fullName, key });
      }
    }
    nodes.push(node);
  }
  // object paths: breadth-first from node 0 (the root)
  const paths = new Map<number, string>([[0, '']]);
  const queue = [0];
  while (queue.length) {
    const id = queue.shift()!;
    for (const c of nodes[id]?.children ?? []) {
      if (paths.has(c.id) || c.id < 0 || c.id >= nodes.length) continue;
      const p = paths.get(id)!;
      paths.set(c.id, p ? `${p}/${c.name}` : c.name);
      queue.push(c.id);
    }
  }
  const out: ObjectGraphKey[] = [];
  nodes.forEach((n, id) => {
    for (const a of n.attributes) out.push({ checkpointKey: a.key, fullName: a.fullName, path: paths.get(id) ?? '' });
  });
  return out;
}
