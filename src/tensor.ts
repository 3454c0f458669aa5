/** Element types that stored tensors come in, and conversions to the canonical float32. */

/** Bytes per element. */
export const DTYPE_SIZE = {
  float32: 4,
  float16: 2,
  bfloat16: 2,
  float64: 8,
  int8: 1,
  uint8: 1,
  int16: 2,
  uint16: 2,
  int32: 4,
  int64: 8,
  bool: 1,
} as const;
export type DType = keyof typeof DTYPE_SIZE;

export const isDType = (s: string): s is DType => Object.hasOwn(DTYPE_SIZE, s);

/** IEEE 754 half -> single, bit-exact for every half value (subnormals, infinities, NaN). */
export function float16BitsToFloat32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Single -> half with round-to-nearest-even; overflow gives infinity. */
export function float32ToFloat16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return sign | half; // a carry into the exponent is the correct rounding (up to infinity)
}

export function toFloat16(data: Float32Array): Uint16Array {
  const out = new Uint16Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = float32ToFloat16Bits(data[i]);
  return out;
}

/** A view of little-endian bytes as a typed array, copying only when unaligned. */
function view<T>(bytes: Uint8Array, size: number, make: (buf: ArrayBufferLike, off: number, len: number) => T): T {
  const len = bytes.byteLength / size;
  if (bytes.byteOffset % size === 0) return make(bytes.buffer, bytes.byteOffset, len);
  return make(bytes.slice().buffer, 0, len);
}

/**
 * Converts raw little-endian bytes of `dtype` to float32. Returns a view (no copy) for aligned
 * float32 input. Throws RangeError when the byte count is not a multiple of the element size.
 */
export function bytesToFloat32(dtype: DType, bytes: Uint8Array): Float32Array {
  const size = DTYPE_SIZE[dtype];
  if (bytes.byteLength % size !== 0) throw new RangeError(`${bytes.byteLength} bytes is not a whole number of ${dtype}`);
  const n = bytes.byteLength / size;
  switch (dtype) {
    case 'float32':
      return view(bytes, 4, (b, o, l) => new Float32Array(b, o, l));
    case 'float64':
      return Float32Array.from(view(bytes, 8, (b, o, l) => new Float64Array(b, o, l)));
    case 'float16': {
      const h = view(bytes, 2, (b, o, l) => new Uint16Array(b, o, l));
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = float16BitsToFloat32(h[i]);
      return out;
    }
    case 'bfloat16': {
      const h = view(bytes, 2, (b, o, l) => new Uint16Array(b, o, l));
      const out = new Float32Array(n);
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) bits[i] = h[i] << 16;
      return out;
    }
    case 'int8':
      return Float32Array.from(new Int8Array(bytes.buffer, bytes.byteOffset, n));
    case 'uint8':
    case 'bool':
      return Float32Array.from(bytes);
    case 'int16':
      return Float32Array.from(view(bytes, 2, (b, o, l) => new Int16Array(b, o, l)));
    case 'uint16':
      return Float32Array.from(view(bytes, 2, (b, o, l) => new Uint16Array(b, o, l)));
    case 'int32':
      return Float32Array.from(view(bytes, 4, (b, o, l) => new Int32Array(b, o, l)));
    case 'int64': {
      const v = view(bytes, 8, (b, o, l) => new BigInt64Array(b, o, l));
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = Number(v[i]);
      return out;
    }
  }
}

/** The bytes of a typed array, without copying. */
export const bytesOf = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
