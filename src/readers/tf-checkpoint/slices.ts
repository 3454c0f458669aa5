/**
 * Tensor slices, shared by V1 and V2: the key a slice is stored under, TensorProto values as
 * bytes, and the reassembly of a partitioned variable from its slices.
 */
import { DTYPE_SIZE, type DType } from '../../tensor.js';
import type { Extent, TensorValues } from './protos.js';
import { DecodeError } from './sstable.js';

/**
 * The key of one slice of a tensor: tensorflow/core/util/saved_tensor_slice_util.cc
 * `EncodeTensorNameSlice`, in the OrderedCode encoding of tensorflow/core/lib/strings/
 * ordered_code.cc: NumIncreasing(0), String(name), NumIncreasing(rank), then per dimension
 * SignedNumIncreasing(start) and SignedNumIncreasing(length), where a whole dimension is start 0,
 * length -1.
 */
export function encodeTensorNameSlice(name: string, extents: readonly Extent[]): Uint8Array {
  const out: number[] = [];
  writeNumIncreasing(out, 0);
  for (const b of new TextEncoder().encode(name)) {
    // 0x00 -> 00 ff and 0xff -> ff 00, so that the terminator 00 01 sorts before any content
    if (b === 0x00) out.push(0x00, 0xff);
    else if (b === 0xff) out.push(0xff, 0x00);
    else out.push(b);
  }
  out.push(0x00, 0x01);
  writeNumIncreasing(out, extents.length);
  for (const e of extents) {
    writeSignedNumIncreasing(out, e.length === undefined ? 0 : e.start);
    writeSignedNumIncreasing(out, e.length === undefined ? -1 : e.length);
  }
  return Uint8Array.from(out);
}

/** A length byte, then the value big-endian without leading zero bytes (0 is one byte 0x00). */
function writeNumIncreasing(out: number[], value: number): void {
  const bytes: number[] = [];
  for (let v = BigInt(value); v > 0n; v >>= 8n) bytes.unshift(Number(v & 0xffn));
  out.push(bytes.length, ...bytes);
}

/**
 * OrderedCode's signed encoding: a length-L encoding carries 7L - 1 magnitude bits; its first
 * bits are L - 1 ones (inverted for negatives) marking the length.
 */
function writeSignedNumIncreasing(out: number[], value: number): void {
  const v = BigInt(value);
  const x = v < 0n ? ~v : v;
  if (x < 64n) {
    out.push((0x80 ^ Number(v & 0xffn)) & 0xff);
    return;
  }
  const bits = x.toString(2).length; // Log2Floor(x) + 1
  const len = Math.ceil((bits + 1) / 7);
  const buf = new Array<number>(10);
  const u = BigInt.asUintN(64, v);
  const sign = v < 0n ? 0xff : 0x00;
  buf[0] = sign;
  buf[1] = sign;
  for (let i = 0; i < 8; i++) buf[2 + i] = Number((u >> BigInt(8 * (7 - i))) & 0xffn);
  const begin = buf.slice(10 - len);
  // header bits for lengths 1..10: 0x80, 0xc0, ... 0xff; lengths 9 and 10 spill into byte two
  const header0 = len >= 8 ? 0xff : (0xff00 >> len) & 0xff;
  const header1 = len === 9 ? 0x80 : len === 10 ? 0xc0 : 0;
  begin[0] ^= header0;
  begin[1] ^= header1;
  out.push(...begin);
}

/** The extents of a slice made concrete for `shape` (whole dimensions get their size). */
export function sliceBox(extents: readonly Extent[], shape: readonly number[]): { start: number[]; size: number[] } {
  if (extents.length !== shape.length) throw new DecodeError(`slice of rank ${extents.length} for a tensor of rank ${shape.length}`, 0);
  const start: number[] = [];
  const size: number[] = [];
  extents.forEach((e, d) => {
    const s = e.length === undefined ? 0 : e.start;
    const n = e.length === undefined ? shape[d] : e.length;
    if (s < 0 || n < 0 || s + n > shape[d]) throw new DecodeError(`slice [${s}, ${s + n}) outside dimension ${d} of size ${shape[d]}`, 0);
    start.push(s);
    size.push(n);
  });
  return { start, size };
}

export const isFullSlice = (extents: readonly Extent[], shape: readonly number[]): boolean =>
  extents.every((e, d) => e.length === undefined || (e.start === 0 && e.length === shape[d]));

/** Copies a slice's row-major bytes into the full tensor's row-major bytes. */
export function copySlice(dst: Uint8Array, shape: readonly number[], src: Uint8Array, box: { start: number[]; size: number[] }, elemSize: number): void {
  const rank = shape.length;
  const count = box.size.reduce((a, b) => a * b, 1);
  if (src.length !== count * elemSize) throw new DecodeError(`slice holds ${src.length} bytes, its box needs ${count * elemSize}`, 0);
  if (count === 0) return;
  if (rank === 0) {
    dst.set(src);
    return;
  }
  // strides of the full tensor, in elements
  const stride = new Array<number>(rank).fill(1);
  for (let d = rank - 2; d >= 0; d--) stride[d] = stride[d + 1] * shape[d + 1];
  const run = box.size[rank - 1] * elemSize;
  const idx = new Array<number>(rank - 1).fill(0);
  for (let s = 0; s < src.length; s += run) {
    let off = box.start[rank - 1];
    for (let d = 0; d < rank - 1; d++) off += (box.start[d] + idx[d]) * stride[d];
    dst.set(src.subarray(s, s + run), off * elemSize);
    for (let d = rank - 2; d >= 0; d--) {
      if (++idx[d] < box.size[d]) break;
      idx[d] = 0;
    }
  }
}

/** Reads varints from a packed chunk or single values into a list of bigints. */
function varints(chunks: TensorValues['chunks'], limit: number, at: number): bigint[] {
  const out: bigint[] = [];
  for (const c of chunks) {
    if (c.wire === 0) {
      out.push(BigInt(c.int!));
      continue;
    }
    const b = c.bytes!;
    let pos = 0;
    while (pos < b.length) {
      let v = 0n;
      let shift = 0n;
      for (let i = 0; ; i++) {
        if (pos >= b.length) throw new DecodeError('truncated packed varint', at);
        if (i >= 10) throw new DecodeError('packed varint longer than 10 bytes', at);
        const x = b[pos++];
        v |= BigInt(x & 0x7f) << shift;
        shift += 7n;
        if (!(x & 0x80)) break;
      }
      out.push(BigInt.asIntN(64, v));
      if (out.length > limit) throw new DecodeError(`more than the ${limit} values expected`, at);
    }
  }
  return out;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * The little-endian bytes of `count` elements of `dtype` held by a TensorProto: its
 * tensor_content, or the typed repeated field (float_val and double_val packed are already
 * little-endian bytes; int_val, int64_val and half_val are varints).
 */
export function tensorValueBytes(values: TensorValues, dtype: DType, count: number): Uint8Array {
  const size = DTYPE_SIZE[dtype];
  const want = count * size;
  if (values.content !== undefined && values.content.length > 0) {
    if (values.content.length !== want) throw new DecodeError(`tensor_content has ${values.content.length} bytes, ${count} ${dtype} need ${want}`, values.at);
    return values.content;
  }
  if (count === 0) return new Uint8Array(0);
  const expectField = { float32: 5, float64: 6, int32: 7, int64: 10, float16: 13, bfloat16: 13 }[dtype as 'float32'];
  if (values.field === undefined) throw new DecodeError(`no values for ${count} ${dtype} elements`, values.at);
  if (values.field !== expectField) throw new DecodeError(`values in field ${values.field}, ${dtype} keeps them in field ${expectField}`, values.at);
  let out: Uint8Array;
  if (dtype === 'float32' || dtype === 'float64') {
    out = concat(values.chunks.map((c) => c.bytes!));
  } else {
    const ints = varints(values.chunks, count, values.at);
    if (ints.length !== count) throw new DecodeError(`${ints.length} values, ${count} expected`, values.at);
    const arr =
      dtype === 'int64' ? BigInt64Array.from(ints) : dtype === 'int32' ? Int32Array.from(ints, Number) : Uint16Array.from(ints, (v) => Number(v & 0xffffn));
    out = new Uint8Array(arr.buffer);
  }
  if (out.length !== want) throw new DecodeError(`${out.length / size} values, ${count} expected`, values.at);
  return out;
}
