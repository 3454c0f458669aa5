/**
 * A Snappy decompressor for the raw (unframed) format that LevelDB tables use for compressed
 * blocks (google/snappy format_description.txt): a varint of the uncompressed length, then
 * elements whose tag's low two bits say literal (00), copy with 1-byte (01), 2-byte (10) or
 * 4-byte (11) offset. Every length and offset is checked against the input, the output and the
 * declared size before it is used.
 */

/** Snappy expands at most about 21x (a 3-byte tag copies 64 bytes); more than this is corrupt. */
const MAX_EXPANSION = 24;

export class SnappyError extends Error {
  constructor(
    message: string,
    /** Offset in the compressed input. */
    readonly at: number,
  ) {
    super(message);
  }
}

/** The uncompressed length a compressed buffer declares, and where its elements start. */
export function snappyLength(src: Uint8Array): { length: number; start: number } {
  let length = 0;
  let shift = 0;
  let i = 0;
  for (;;) {
    if (i >= src.length) throw new SnappyError('truncated length varint', i);
    if (i >= 5) throw new SnappyError('length varint longer than 5 bytes', i);
    const b = src[i++];
    length += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if (!(b & 0x80)) break;
  }
  if (length > 0xffffffff) throw new SnappyError(`declared length ${length} exceeds 32 bits`, 0);
  return { length, start: i };
}

export function snappyDecompress(src: Uint8Array): Uint8Array {
  const { length, start } = snappyLength(src);
  if (length > src.length * MAX_EXPANSION + 64)
    throw new SnappyError(`declared length ${length} is impossible for ${src.length} compressed bytes`, 0);
  const out = new Uint8Array(length);
  let o = 0;
  let i = start;
  while (i < src.length) {
    const at = i;
    const tag = src[i++];
    let len: number;
    let offset: number;
    switch (tag & 3) {
      case 0: {
        len = (tag >>> 2) + 1;
        if (len > 60) {
          const extra = len - 60; // 1..4 little-endian bytes hold len - 1
          if (i + extra > src.length) throw new SnappyError('truncated literal length', at);
          len = 0;
          for (let k = 0; k < extra; k++) len += src[i + k] * 2 ** (8 * k);
          len += 1;
          i += extra;
        }
        if (i + len > src.length) throw new SnappyError(`literal of ${len} bytes runs past the input`, at);
        if (o + len > length) throw new SnappyError(`literal of ${len} bytes overflows the declared ${length}`, at);
        out.set(src.subarray(i, i + len), o);
        i += len;
        o += len;
        continue;
      }
      case 1:
        if (i + 1 > src.length) throw new SnappyError('truncated copy', at);
        len = 4 + ((tag >>> 2) & 7);
        offset = ((tag >>> 5) << 8) | src[i];
        i += 1;
        break;
      case 2:
        if (i + 2 > src.length) throw new SnappyError('truncated copy', at);
        len = 1 + (tag >>> 2);
        offset = src[i] | (src[i + 1] << 8);
        i += 2;
        break;
      default:
        if (i + 4 > src.length) throw new SnappyError('truncated copy', at);
        len = 1 + (tag >>> 2);
        offset = (src[i] | (src[i + 1] << 8) | (src[i + 2] << 16) | (src[i + 3] << 24)) >>> 0;
        i += 4;
        break;
    }
    if (offset === 0 || offset > o) throw new SnappyError(`copy offset ${offset} outside the ${o} bytes written`, at);
    if (o + len > length) throw new SnappyError(`copy of ${len} bytes overflows the declared ${length}`, at);
    // byte by byte: a copy may overlap its own output (offset < len repeats a pattern)
    for (let k = 0; k < len; k++, o++) out[o] = out[o - offset];
  }
  if (o !== length) throw new SnappyError(`decompressed ${o} bytes, declared ${length}`, src.length);
  return out;
}
