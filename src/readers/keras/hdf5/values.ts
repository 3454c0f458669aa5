/**
 * Datatypes, dataspaces and attribute values (HDF5 File Format Specification 3.0, IV.A.2.b
 * dataspace, IV.A.2.d datatype, IV.A.2.m attribute; III.E global heap for variable-length
 * strings). Values are decoded the way h5wasm's `process_data` decodes them (so both engines give
 * the Keras layout code the same thing): strings for fixed-length and variable-length strings (cut
 * at the first NUL; fixed-length ASCII through TextDecoder('ascii'), variable-length ASCII byte by
 * byte), typed arrays for numbers (BigInt64Array for 64-bit integers), the first element alone
 * for a scalar dataspace, null for a null dataspace. Anything else (compounds, enums such as h5py's
 * booleans, arrays, references, big-endian or odd-sized numbers) is Hdf5Unsupported: h5wasm
 * decodes it.
 */
import { align8, corrupt, cursor, type Cursor, left, MAX_METADATA_BYTES, need, signature, skip, type Source, sub, take, u16, u32, u64, u8, UNDEF, unsupported } from './bytes.js';

/** HDF5 datatype classes (spec IV.A.2.d). */
export const CLASS = { fixed: 0, float: 1, string: 3, vlen: 9 } as const;

export interface Datatype {
  readonly cls: number;
  /** Bytes per element (in the file). */
  readonly size: number;
  readonly littleEndian: boolean;
  readonly signed: boolean;
  /** Strings: 0 NUL-terminated, 1 NUL-padded, 2 space-padded. */
  readonly pad: number;
  /** Strings: 0 ASCII, 1 UTF-8. */
  readonly cset: number;
  /** A variable-length string (class 9, type 1). */
  readonly vlenString: boolean;
}

/** Reads a datatype message (also embedded in attribute messages and vlen types). */
export function parseDatatype(c: Cursor, nested = 0): Datatype {
  const head = u8(c);
  const cls = head & 0x0f;
  const version = head >> 4;
  const bits = u8(c) | (u8(c) << 8) | (u8(c) << 16);
  const size = u32(c);
  if (version < 1 || version > 5) throw corrupt(`${c.what}: datatype version ${version}`, c.origin + c.pos - 8);
  if (size === 0) throw unsupported(`a datatype of 0 bytes in ${c.what}`);
  const base = { cls, size, littleEndian: true, signed: false, pad: 0, cset: 0, vlenString: false };
  switch (cls) {
    case CLASS.fixed:
      skip(c, 4); // bit offset, bit precision
      return { ...base, littleEndian: (bits & 1) === 0, signed: (bits & 8) !== 0 };
    case CLASS.float: {
      const order = (bits & 1) | ((bits >> 5) & 2);
      if (order > 1) throw unsupported(`a VAX-order float datatype in ${c.what}`);
      skip(c, 12); // bit offset, precision, exponent and mantissa fields, exponent bias
      return { ...base, littleEndian: order === 0 };
    }
    case CLASS.string:
      return { ...base, pad: bits & 0x0f, cset: (bits >> 4) & 0x0f };
    case CLASS.vlen: {
      if (nested > 0) throw unsupported(`a nested variable-length datatype in ${c.what}`);
      if ((bits & 0x0f) !== 1) throw unsupported(`a variable-length sequence datatype in ${c.what}`);
      parseDatatype(c, nested + 1); // the base type (a 1-byte string or integer)
      return { ...base, pad: (bits >> 4) & 0x0f, cset: (bits >> 8) & 0x0f, vlenString: true };
    }
    default:
      throw unsupported(`datatype class ${cls} in ${c.what}`);
  }
}

/** Null for a null dataspace, [] for a scalar. */
export type Shape = readonly number[] | null;

/** Maximum rank (H5S_MAX_RANK). */
const MAX_RANK = 32;

/** Reads a dataspace message (versions 1 and 2). */
export function parseDataspace(c: Cursor): Shape {
  const version = u8(c);
  const rank = u8(c);
  const flags = u8(c);
  if (version !== 1 && version !== 2) throw corrupt(`${c.what}: dataspace version ${version}`, c.origin + c.pos - 3);
  if (rank > MAX_RANK) throw corrupt(`${c.what}: a dataspace of rank ${rank}`, c.origin + c.pos - 2);
  let type = rank === 0 ? 0 : 1;
  if (version === 1) skip(c, 5);
  else {
    type = u8(c);
    if (type > 2) throw corrupt(`${c.what}: dataspace type ${type}`, c.origin + c.pos - 1);
  }
  const dims: number[] = [];
  for (let i = 0; i < rank; i++) {
    const d = u64(c);
    if (d === UNDEF) throw corrupt(`${c.what}: an undefined dimension`, c.origin + c.pos - 8);
    dims.push(d);
  }
  if (flags & 1) skip(c, 8 * rank); // maximum dimensions
  if (version === 1 && flags & 2) skip(c, 8 * rank); // permutation indices
  if (type === 2) return null;
  if (type === 0) return [];
  return dims;
}

/** Elements of a shape (1 for a scalar, 0 for null); Infinity when not a safe integer. */
export function elements(shape: Shape): number {
  if (shape === null) return 0;
  let n = 1;
  for (const d of shape) n *= d;
  return Number.isSafeInteger(n) ? n : Infinity;
}

/** The global heap collections of one file (spec III.E), parsed on first use. */
export type GlobalHeap = Map<number, Map<number, Uint8Array>>;

function collection(src: Source, heap: GlobalHeap, addr: number): Map<number, Uint8Array> {
  const hit = heap.get(addr);
  if (hit) return hit;
  const head = cursor(src.bytes(addr, 16, 'global heap collection'), addr, 'global heap collection');
  if (!signature(head, 'GCOL')) throw corrupt('global heap collection without its GCOL signature', addr);
  const version = u8(head);
  if (version !== 1) throw corrupt(`global heap collection version ${version}`, addr);
  skip(head, 3);
  const size = u64(head);
  if (size === UNDEF || size < 16 || size > MAX_METADATA_BYTES) throw corrupt(`global heap collection of ${size} bytes`, addr);
  const c = cursor(src.bytes(addr, size, 'global heap collection'), addr, 'global heap collection', 16);
  const objects = new Map<number, Uint8Array>();
  // Each object takes 16 bytes or more: the loop ends within size / 16 steps.
  while (left(c) >= 16) {
    const index = u16(c);
    skip(c, 6); // reference count, reserved
    const n = u64(c);
    if (index === 0) break; // the free space, always last
    if (n === UNDEF || n > left(c)) throw corrupt(`global heap object ${index} of ${n} bytes overruns its collection`, addr + c.pos);
    objects.set(index, c.bytes.slice(c.pos, c.pos + n));
    skip(c, Math.min(align8(n), left(c)));
  }
  heap.set(addr, objects);
  return objects;
}

const fixedDecoders = [new TextDecoder('ascii'), new TextDecoder('utf-8')];

/** Emscripten's AsciiToString (what h5wasm uses for ASCII variable-length strings): bytes to NUL. */
function asciiToString(bytes: Uint8Array): string {
  const z = bytes.indexOf(0);
  // Node's latin1 maps each byte to the code point of the same value, as String.fromCharCode does.
  return Buffer.from(bytes.buffer, bytes.byteOffset, z < 0 ? bytes.length : z).toString('latin1');
}

/** Decodes `count` elements of `t` from `data` into h5wasm's shape of value (see the module doc). */
export function decodeValue(t: Datatype, shape: Shape, data: Uint8Array, ctx: { src: Source; base: number; heap: GlobalHeap }, what: string): unknown {
  if (shape === null) return null;
  const count = elements(shape);
  const c = cursor(data, 0, what);
  if (!(count * t.size <= data.length)) throw corrupt(`${what}: ${count} elements of ${t.size} bytes in ${data.length} bytes`);
  let out: unknown[] | ArrayLike<unknown>;
  if (t.cls === CLASS.fixed || t.cls === CLASS.float) {
    if (!t.littleEndian) throw unsupported(`a big-endian attribute (${what})`);
    const bytes = data.slice(0, count * t.size).buffer;
    if (t.cls === CLASS.fixed) {
      const types = { 1: [Int8Array, Uint8Array], 2: [Int16Array, Uint16Array], 4: [Int32Array, Uint32Array], 8: [BigInt64Array, BigUint64Array] } as const;
      const pair = types[t.size as 1 | 2 | 4 | 8];
      if (!pair) throw unsupported(`a ${t.size}-byte integer attribute (${what})`);
      out = new pair[t.signed ? 0 : 1](bytes);
    } else if (t.size === 4) out = new Float32Array(bytes);
    else if (t.size === 8) out = new Float64Array(bytes);
    else throw unsupported(`a ${t.size}-byte float attribute (${what})`);
  } else if (t.cls === CLASS.string) {
    if (t.pad > 1 || t.cset > 1) throw unsupported(`a string attribute with padding ${t.pad}, character set ${t.cset} (${what})`);
    const decoder = fixedDecoders[t.cset];
    const strings: string[] = [];
    for (let i = 0; i < count; i++) {
      const b = take(c, t.size);
      const z = b.indexOf(0);
      strings.push(decoder.decode(z < 0 ? b : b.subarray(0, z)));
    }
    out = strings;
  } else if (t.vlenString) {
    if (t.cset > 1) throw unsupported(`a string attribute with character set ${t.cset} (${what})`);
    if (t.size !== 16) throw corrupt(`${what}: a variable-length string reference of ${t.size} bytes`);
    const strings: string[] = [];
    for (let i = 0; i < count; i++) {
      need(c, 16);
      const length = u32(c);
      const addr = u64(c);
      const index = u32(c);
      if (length === 0) {
        strings.push('');
        continue;
      }
      if (addr === UNDEF) throw corrupt(`${what}: string ${i} has no global heap collection`);
      const obj = collection(ctx.src, ctx.heap, ctx.base + addr).get(index);
      if (!obj) throw corrupt(`${what}: string ${i} refers to a missing global heap object ${index}`);
      if (length > obj.length) throw corrupt(`${what}: string ${i} of ${length} bytes in a heap object of ${obj.length}`);
      const b = obj.subarray(0, length);
      strings.push(t.cset === 1 ? fixedDecoders[1].decode(b.subarray(0, b.indexOf(0) < 0 ? length : b.indexOf(0))) : asciiToString(b));
    }
    out = strings;
  } else throw unsupported(`an attribute of datatype class ${t.cls} (${what})`);
  return shape.length === 0 ? out[0] : out;
}

/** One attribute message, parsed (versions 1 to 3); its value is decoded separately. */
export interface RawAttribute {
  readonly name: string;
  readonly type: Datatype;
  readonly shape: Shape;
  readonly data: Uint8Array;
}

const utf8 = new TextDecoder('utf-8');

export function parseAttribute(c: Cursor): RawAttribute {
  const version = u8(c);
  if (version < 1 || version > 3) throw corrupt(`${c.what}: attribute message version ${version}`, c.origin + c.pos - 1);
  const flags = u8(c);
  if (version > 1 && flags & 3) throw unsupported(`a shared datatype or dataspace in an attribute (${c.what})`);
  const nameSize = u16(c);
  const typeSize = u16(c);
  const spaceSize = u16(c);
  if (version === 3) skip(c, 1); // the name's character set
  const pad = (n: number) => (version === 1 ? align8(n) : n);
  const nameBytes = take(c, pad(nameSize)).subarray(0, nameSize);
  const z = nameBytes.indexOf(0);
  const name = utf8.decode(z < 0 ? nameBytes : nameBytes.subarray(0, z));
  const typeAt = c.pos;
  const type = parseDatatype(sub(c, typeSize, `the datatype of attribute '${name}'`));
  c.pos = typeAt + pad(typeSize);
  need(c, 0);
  const spaceAt = c.pos;
  const shape = parseDataspace(sub(c, spaceSize, `the dataspace of attribute '${name}'`));
  c.pos = spaceAt + pad(spaceSize);
  need(c, 0);
  const n = elements(shape) * type.size;
  if (!(n <= left(c))) throw corrupt(`attribute '${name}': ${elements(shape)} elements of ${type.size} bytes, ${left(c)} bytes in the message`, c.origin + c.pos);
  return { name, type, shape, data: take(c, n) };
}
