/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82f63b78), table-driven, and the "masked" form that
 * LevelDB block trailers and TensorFlow bundle entries store (leveldb util/crc32c.h `Mask`,
 * tensorflow/tsl/lib/hash/crc32c.h): rotate right by 15 bits and add a constant, so that the CRC
 * of data that itself holds CRCs is not degenerate.
 */

import { add, and, forLoop, get, i32, I32, i32Load, i32Load8U, i32Store, set, shl, shrU, wasmModule, xor, type Code } from '../wasm.js';

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

/**
 * Continues a CRC-32C over `bytes` (start with 0). Returns an unsigned 32-bit value. Runs of 64 KiB
 * and more go through the WebAssembly module below, 1 MiB at a time copied into its memory: CRCs
 * checked on the calling thread (a TF checkpoint read without the checks worker: the library's
 * readModel, `port inspect`) cost 0.4 ns per byte that way instead of 1.1.
 */
export function crc32cExtend(crc: number, bytes: Uint8Array): number {
  const wasm = bytes.length >= WASM_MIN_BYTES ? wasmHere() : null;
  return wasm ? wasm(crc, bytes) : crc32cWith(TABLES, LITTLE_ENDIAN, crc, bytes);
}

export const crc32c = (bytes: Uint8Array): number => crc32cExtend(0, bytes);

/** ((crc >> 15) | (crc << 17)) + 0xa282ead8, as LevelDB and TensorFlow store it. */
export function maskCrc(crc: number): number {
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + MASK_DELTA) >>> 0;
}

export function unmaskCrc(masked: number): number {
  const rot = (masked - MASK_DELTA) >>> 0;
  return ((rot >>> 17) | (rot << 15)) >>> 0;
}

/**
 * Slicing-by-8 in WebAssembly, for the checks worker (io/background.ts): the file's bytes are read
 * straight into the module's memory and checked there. The tables go at bytes 0..8 KiB (the k-th
 * 256-entry table at k KiB, as `crc32cTables` lays them out), two words of scratch at 8 KiB, the
 * data from 64 KiB. A table index is one shift and one mask ((x >> (s - 2)) & 1020: the byte
 * times 4), not three.
 *
 * `crc` is the plain loop: each step waits for the last (one CRC register), 0.55 ns per byte.
 * `crc3` runs three registers over three equal runs at once, which the CPU overlaps: 0.36 ns per
 * byte with the join in `crc32cInWasm` (4 MiB chunks, this machine's Zen 4).
 *
 * (func (export "crc") (param $p i32) (param $n i32) (param $crc i32) (result i32)
 *   (local $c i32) (local $end8 i32) (local $end i32) (local $a i32) (local $b i32)
 *   (local.set $c (i32.xor (local.get $crc) (i32.const -1)))
 *   (local.set $end8 (i32.add (local.get $p) (i32.and (local.get $n) (i32.const -8))))
 *   (local.set $end (i32.add (local.get $p) (local.get $n)))
 *   forLoop($p, (local.get $p), (local.get $end8), 8,
 *     (local.set $a (i32.xor (i32.load (local.get $p)) (local.get $c)))
 *     (local.set $b (i32.load offset=4 (local.get $p)))
 *     ;; look(x, s, k) = (i32.load offset=k*1024 (i32.and (s ? (i32.shr_u x s-2) : (i32.shl x 2)) 1020))
 *     (local.set $c (xor of look($a, 0, 7), look($a, 8, 6), look($a, 16, 5), look($a, 24, 4),
 *                          look($b, 0, 3), look($b, 8, 2), look($b, 16, 1), look($b, 24, 0))))
 *   forLoop($p, (local.get $p), (local.get $end), 1,
 *     (local.set $c (i32.xor (i32.load (i32.shl (i32.and (i32.xor (local.get $c) (i32.load8_u (local.get $p))) 255) 2))
 *                            (i32.shr_u (local.get $c) (i32.const 8)))))
 *   (i32.xor (local.get $c) (i32.const -1)))
 *
 * (func (export "crc3") (param $p i32) (param $len i32) (param $ra i32) (result i32)
 *   ;; CRC registers (no inversions): $ra continued over [p, p+len), $rb and $rc from 0 over the
 *   ;; next two runs; len a multiple of 8. Stores $rb, $rc at 8192, 8196 and returns $ra.
 *   (local $end i32) (local $rb i32) (local $rc i32) (local $a0 i32) ... (local $b2 i32) (local $q i32)
 *   forLoop($p, (local.get $p), (local.get $p) + (local.get $len), 8,
 *     $a0, $b0 from $p (xor $ra); $a1, $b1 from $p + len (xor $rb); $a2, $b2 from $p + 2 len (xor $rc)
 *     $ra = eight($a0, $b0); $rb = eight($a1, $b1); $rc = eight($a2, $b2))   ;; eight: the 8 looks above
 *   (i32.store (i32.const 8192) $rb) (i32.store (i32.const 8196) $rc) $ra)
 */
const [P, N, CRC, C, END8, END, A, B] = [0, 1, 2, 3, 4, 5, 6, 7];
const look = (x: number, shift: number, table: number): Code => [
  get(x), shift === 0 ? [i32(2), shl] : [i32(shift - 2), shrU], i32(1020), and, i32Load(table * 1024),
];
const eight = (a: number, b: number): Code => [
  look(a, 0, 7), look(a, 8, 6), xor, look(a, 16, 5), xor, look(a, 24, 4), xor,
  look(b, 0, 3), xor, look(b, 8, 2), xor, look(b, 16, 1), xor, look(b, 24, 0), xor,
];
/** crc3's locals, after its params $p, $len, $ra (0-2). */
const [LEN, RA, END3, RB, RC, A0, B0, A1, B1, A2, B2, Q] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
/** The two words of the next run at `at` (a local holding its address), the first xor `reg`. */
const words = (at: number, reg: number, a: number, b: number): Code => [get(at), i32Load(0), get(reg), xor, set(a), get(at), i32Load(4), set(b)];
export const crc32cModuleBytes: Uint8Array<ArrayBuffer> = wasmModule({
  memoryPages: 1,
  funcs: [
    {
      export: 'crc',
      params: [I32, I32, I32],
      results: [I32],
      locals: [[5, I32]],
      body: [
        get(CRC), i32(-1), xor, set(C),
        get(P), get(N), i32(-8), and, add, set(END8),
        get(P), get(N), add, set(END),
        forLoop(P, get(P), get(END8), 8, [words(P, C, A, B), eight(A, B), set(C)]),
        forLoop(P, get(P), get(END), 1, [
          get(C), get(P), i32Load8U(0), xor, i32(255), and, i32(2), shl, i32Load(0),
          get(C), i32(8), shrU, xor, set(C),
        ]),
        get(C), i32(-1), xor,
      ],
    },
    {
      export: 'crc3',
      params: [I32, I32, I32],
      results: [I32],
      locals: [[10, I32]],
      body: [
        get(P), get(LEN), add, set(END3),
        forLoop(P, get(P), get(END3), 8, [
          words(P, RA, A0, B0),
          get(P), get(LEN), add, set(Q), words(Q, RB, A1, B1),
          get(Q), get(LEN), add, set(Q), words(Q, RC, A2, B2),
          eight(A0, B0), set(RA), eight(A1, B1), set(RB), eight(A2, B2), set(RC),
        ]),
        i32(8192), get(RB), i32Store(0), i32(8196), get(RC), i32Store(0),
        get(RA),
      ],
    },
  ],
});

/** The module's exports, as `crc32cInWasm` uses them. */
export interface Crc32cWasmExports {
  readonly memory: { readonly buffer: ArrayBuffer };
  crc(p: number, n: number, crc: number): number;
  crc3(p: number, len: number, register: number): number;
}

/**
 * CRC-32C over the module's memory (`crc32cTables` written at 0): `(crc, p, n)` continues `crc` over
 * the n bytes at p. Runs of 16 KiB or more go through `crc3` and its three registers are joined:
 * the CRC register of bytes X then Y is (register of X, moved past |Y| zero bytes) xor (register
 * of Y from 0), and moving past n zero bytes is a multiplication by x^(8n) modulo the polynomial
 * (as zlib's crc32_combine does it). Self-contained, like `crc32cWith`: the checks worker runs it
 * from its source text.
 */
export function crc32cInWasm(wasm: Crc32cWasmExports): (crc: number, p: number, n: number) => number {
  const POLY = 0x82f63b78;
  // a * b modulo POLY, both reflected (bit 31 is x^0)
  const mul = (a: number, b: number): number => {
    let p = 0;
    for (let m = 0x80000000; m !== 0 && a !== 0; m >>>= 1) {
      if (a & m) {
        p ^= b;
        a = (a ^ m) >>> 0;
      }
      b = b & 1 ? (b >>> 1) ^ POLY : b >>> 1;
    }
    return p >>> 0;
  };
  const shifts = new Map<number, number>(); // run length -> x^(8 len) mod POLY
  const shiftPast = (len: number): number => {
    let k = shifts.get(len);
    if (k === undefined) {
      k = 0x80000000; // x^0
      for (let n = len, sq = 0x00800000 /* x^8 */; n > 0; n = Math.floor(n / 2), sq = mul(sq, sq)) if (n & 1) k = mul(k, sq);
      if (shifts.size >= 64) shifts.clear();
      shifts.set(len, k);
    }
    return k;
  };
  return (crc, p, n) => {
    if (n < 16384) return wasm.crc(p, n, crc) >>> 0;
    const len = Math.floor(n / 24) * 8;
    const ra = wasm.crc3(p, len, ~crc) >>> 0;
    const [rb, rc] = new Uint32Array(wasm.memory.buffer, 8192, 2);
    const k = shiftPast(len);
    const r = (mul(k, (mul(k, ra) ^ rb) >>> 0) ^ rc) >>> 0;
    return wasm.crc(p + 3 * len, n - 3 * len, ~r >>> 0) >>> 0;
  };
}

const WASM_MIN_BYTES = 64 << 10;
const WASM_CHUNK_BYTES = 1 << 20;
let onThisThread: ((crc: number, bytes: Uint8Array) => number) | null | undefined;

/** crc32cExtend through this thread's instance of the module (made on first use); null without WebAssembly. */
function wasmHere(): ((crc: number, bytes: Uint8Array) => number) | null {
  if (onThisThread !== undefined) return onThisThread;
  onThisThread = null;
  try {
    if (!LITTLE_ENDIAN || typeof WebAssembly !== 'object' || !WebAssembly.validate(crc32cModuleBytes)) return null;
    const wasm = new WebAssembly.Instance(new WebAssembly.Module(crc32cModuleBytes)).exports as unknown as Crc32cWasmExports & { memory: WebAssembly.Memory };
    wasm.memory.grow(WASM_CHUNK_BYTES / 65536); // tables and scratch in the first 64 KiB, a chunk after
    new Uint32Array(wasm.memory.buffer, 0, TABLES.length).set(TABLES);
    const chunk = new Uint8Array(wasm.memory.buffer, 65536, WASM_CHUNK_BYTES);
    const crcAt = crc32cInWasm(wasm);
    onThisThread = (crc, bytes) => {
      for (let i = 0; i < bytes.length; i += WASM_CHUNK_BYTES) {
        const piece = bytes.subarray(i, i + WASM_CHUNK_BYTES);
        chunk.set(piece);
        crc = crcAt(crc, 65536, piece.length);
      }
      return crc;
    };
  } catch {
    onThisThread = null;
  }
  return onThisThread;
}
