/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82f63b78), table-driven, and the "masked" form that
 * LevelDB block trailers and TensorFlow bundle entries store (leveldb util/crc32c.h `Mask`,
 * tensorflow/tsl/lib/hash/crc32c.h): rotate right by 15 bits and add a constant, so that the CRC
 * of data that itself holds CRCs is not degenerate.
 */

/** Added after the rotation by `mask` (LevelDB's kMaskDelta). */
const MASK_DELTA = 0xa282ead8;

/**
 * Slicing-by-8 tables: 8 x 256 entries. Self-contained (no outside name), like `crc32cWith`, so
 * that io/background.ts can run both on its worker from their source text.
 */
export function crc32cTables(): Uint32Array {
  const poly = 0x82f63b78; // Castagnoli, reflected
  const t = new Uint32Array(8 * 256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ poly : c >>> 1;
    t[i] = c >>> 0;
  }
  for (let i = 0; i < 256; i++) for (let s = 1; s < 8; s++) t[s * 256 + i] = (t[(s - 1) * 256 + i] >>> 8) ^ t[t[(s - 1) * 256 + i] & 0xff];
  return t;
}

const TABLES = crc32cTables();

/** Whether this machine stores a Uint32 little-endian (every platform Node ships for but s390x). */
export const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * Continues a CRC-32C over `bytes` (start with 0) with the tables of `crc32cTables`; `littleEndian`
 * says whether words may be read as little-endian Uint32s. Returns an unsigned 32-bit value.
 */
export function crc32cWith(t: Uint32Array, littleEndian: boolean, crc: number, bytes: Uint8Array): number {
  let c = ~crc >>> 0;
  let i = 0;
  const n = bytes.length;
  if (littleEndian) {
    // Eight bytes per step (slicing-by-8), read as two aligned words: 1.7x the byte-wise loads.
    for (const head = Math.min(n, (4 - (bytes.byteOffset & 3)) & 3); i < head; i++) c = t[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
    const count = ((n - i) >>> 3) << 1; // 0 when the piece ends before an aligned 8 bytes
    const words = count > 0 ? new Uint32Array(bytes.buffer, bytes.byteOffset + i, count) : new Uint32Array(0);
    for (let w = 0; w < words.length; w += 2) {
      const a = c ^ words[w];
      const b = words[w + 1];
      c =
        t[7 * 256 + (a & 0xff)] ^
        t[6 * 256 + ((a >>> 8) & 0xff)] ^
        t[5 * 256 + ((a >>> 16) & 0xff)] ^
        t[4 * 256 + (a >>> 24)] ^
        t[3 * 256 + (b & 0xff)] ^
        t[2 * 256 + ((b >>> 8) & 0xff)] ^
        t[256 + ((b >>> 16) & 0xff)] ^
        t[b >>> 24];
    }
    i += words.length * 4;
  } else
    for (; i + 8 <= n; i += 8) {
      const a = (c ^ (bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24))) >>> 0;
      c =
        t[7 * 256 + (a & 0xff)] ^
        t[6 * 256 + ((a >>> 8) & 0xff)] ^
        t[5 * 256 + ((a >>> 16) & 0xff)] ^
        t[4 * 256 + (a >>> 24)] ^
        t[3 * 256 + bytes[i + 4]] ^
        t[2 * 256 + bytes[i + 5]] ^
        t[256 + bytes[i + 6]] ^
        t[bytes[i + 7]];
    }
  for (; i < n; i++) c = t[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

/** Continues a CRC-32C over `bytes` (start with 0). Returns an unsigned 32-bit value. */
export const crc32cExtend = (crc: number, bytes: Uint8Array): number => crc32cWith(TABLES, LITTLE_ENDIAN, crc, bytes);

export const crc32c = (bytes: Uint8Array): number => crc32cExtend(0, bytes);

/** ((crc >> 15) | (crc << 17)) + 0xa282ead8, as LevelDB and TensorFlow store it. */
export function maskCrc(crc: number): number {
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + MASK_DELTA) >>> 0;
}

export function unmaskCrc(masked: number): number {
  const rot = (masked - MASK_DELTA) >>> 0;
  return ((rot >>> 17) | (rot << 15)) >>> 0;
}
