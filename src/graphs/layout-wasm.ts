/**
 * The layout transposes of ./layout.ts in a small WebAssembly SIMD module (1.4 KB), written here
 * as opcodes by a few helpers: no toolchain, no build step, no dependency. On the full-size IRv2
 * kernels (bench/suites/layout.mjs) the transpose alone costs 0.26 ns per float (memcpy: 0.1),
 * all-in (copy in, transpose, copy out into the new array) 0.9, against 3 for the JS loops of
 * ./layout.ts. A fresh process pays more for both: page faults on the new output arrays (the
 * same for any function returning a new array), about 1.5 ns per float on a busy 2-core VM.
 *
 * Arrays that are both views of io/pool's arena (a conversion's reads and the arrays it lays them
 * out into) are transposed where they are, by a second instance of the module over that memory:
 * no copy in or out, nor the new array's page faults.
 *
 * One function, `transpose(src, dst, rows, cols, kr, kc)`, writes the row-major f32 matrix
 * [rows, cols] at byte `src` transposed, [cols, rows], at byte `dst`: 64 x 64 tiles of 4 x 4
 * blocks (four v128.load, eight i8x16.shuffle, four v128.store), then scalar code for the last
 * `rows % 4` rows and `cols % 4` columns. A side (rows of the source, or of the destination) may be
 * stored permuted, which makes each kernel layout change one pass: with factor k, row x of that
 * side's n rows sits at position (x % k) * (n / k) + floor(x / k), i.e. [n / k][k] is stored as
 * [k][n / k]. No second pass permuting rows: measured, the permuted variants cost the same as
 * the plain transpose.
 * - OIHW -> HWIO: [co, ci*k] -> [ci*k, co] with kc = k: column i*k + j lands in row j*ci + i,
 *   which is HWIO [k][ci][co].
 * - HWIO -> OIHW: [ci*k, co] -> [co, ci*k] with kr = k: logical row i*k + j is read from stored
 *   row j*ci + i of HWIO [k][ci][co].
 * At most one of kr, kc is not 1. The permuted side's four row addresses are computed once per
 * 4-wide strip of a tile; the inner loop runs along the other side with running addresses.
 *
 * The module in WAT, instruction for instruction what `moduleBytes` below holds (the helpers
 * `forLoop`, `minInto`, `block4` and `element` stand for the repeated patterns marked here):
 *
 * (module
 *   (memory (export "memory") 1)
 *
 *   ;; byte address of row x of a side of n rows `stride` bytes apart, stored as [k][n / k]
 *   (func $row (param $base i32) (param $x i32) (param $n i32) (param $k i32) (param $stride i32) (result i32)
 *     (i32.add (local.get $base)
 *       (i32.mul (local.get $stride)
 *         (i32.add
 *           (i32.mul (i32.rem_u (local.get $x) (local.get $k)) (i32.div_u (local.get $n) (local.get $k)))
 *           (i32.div_u (local.get $x) (local.get $k))))))
 *
 *   (func (export "transpose")
 *     (param $src i32) (param $dst i32) (param $rows i32) (param $cols i32) (param $kr i32) (param $kc i32)
 *     (local $sb i32) (local $sb2 i32) (local $sb3 i32) (local $sb4 i32)   ;; bytes per source row (cols * 4), x2, x3, x4
 *     (local $db i32) (local $db2 i32) (local $db3 i32) (local $db4 i32)   ;; bytes per destination row (rows * 4), ...
 *     (local $r4 i32) (local $c4 i32)                                      ;; rows, cols rounded down to 4
 *     (local $r0 i32) (local $r1 i32) (local $c0 i32) (local $c1 i32)      ;; the tile
 *     (local $r i32) (local $c i32) (local $o i32) (local $oe i32)         ;; $o: byte offset along a row, up to $oe
 *     (local $p0 i32) (local $p1 i32) (local $p2 i32) (local $p3 i32)      ;; the permuted side's 4 row addresses
 *     (local $q i32)                                                       ;; running address on the other side
 *     (local $a v128) (local $b v128) (local $e v128) (local $f v128)      ;; 4 source rows of a block
 *     (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
 *     (local.set $sb (i32.shl (local.get $cols) (i32.const 2)))
 *     (local.set $sb2 (i32.shl (local.get $sb) (i32.const 1)))
 *     (local.set $sb3 (i32.add (local.get $sb2) (local.get $sb)))
 *     (local.set $sb4 (i32.shl (local.get $sb) (i32.const 2)))
 *     (local.set $db (i32.shl (local.get $rows) (i32.const 2)))
 *     (local.set $db2 (i32.shl (local.get $db) (i32.const 1)))
 *     (local.set $db3 (i32.add (local.get $db2) (local.get $db)))
 *     (local.set $db4 (i32.shl (local.get $db) (i32.const 2)))
 *     (local.set $r4 (i32.and (local.get $rows) (i32.const -4)))
 *     (local.set $c4 (i32.and (local.get $cols) (i32.const -4)))
 *     ;; forLoop(i, from, to, step, body):
 *     ;;   (local.set $i from) (block (loop (br_if 1 (i32.ge_u (local.get $i) to)) body
 *     ;;     (local.set $i (i32.add (local.get $i) (i32.const step))) (br 0)))
 *     ;; minInto(m, x, y): (local.set $m x) (local.set $m (select (local.get $m) (local.get $y) (i32.lt_u (local.get $m) (local.get $y))))
 *     forLoop($r0, (i32.const 0), (local.get $r4), 64,
 *       minInto($r1, (i32.add (local.get $r0) (i32.const 64)), $r4)
 *       forLoop($c0, (i32.const 0), (local.get $c4), 64,
 *         minInto($c1, (i32.add (local.get $c0) (i32.const 64)), $c4)
 *         (if (i32.eq (local.get $kr) (i32.const 1))
 *           (then
 *             ;; destination rows c .. c+3 (permuted by $kc) fixed; $q runs down the source rows
 *             (local.set $oe (i32.shl (local.get $r1) (i32.const 2)))
 *             forLoop($c, (local.get $c0), (local.get $c1), 4,
 *               (local.set $p0 (call $row (local.get $dst) (i32.add (local.get $c) (i32.const 0)) (local.get $cols) (local.get $kc) (local.get $db)))
 *               ... $p1, $p2, $p3 likewise with (i32.const 1), (i32.const 2), (i32.const 3)
 *               (local.set $q (i32.add (i32.add (local.get $src) (i32.mul (local.get $r0) (local.get $sb)))
 *                                      (i32.shl (local.get $c) (i32.const 2))))
 *               forLoop($o, (i32.shl (local.get $r0) (i32.const 2)), (local.get $oe), 16,
 *                 (local.set $a (v128.load align=4 (local.get $q)))
 *                 (local.set $b (v128.load align=4 (i32.add (local.get $q) (local.get $sb))))
 *                 (local.set $e (v128.load align=4 (i32.add (local.get $q) (local.get $sb2))))
 *                 (local.set $f (v128.load align=4 (i32.add (local.get $q) (local.get $sb3))))
 *                 block4(k, value: (v128.store align=4 (i32.add (local.get $pk) (local.get $o)) value))
 *                 (local.set $q (i32.add (local.get $q) (local.get $sb4))))))
 *           (else
 *             ;; source rows r .. r+3 (permuted by $kr) fixed; $q runs along the destination rows
 *             (local.set $oe (i32.shl (local.get $c1) (i32.const 2)))
 *             forLoop($r, (local.get $r0), (local.get $r1), 4,
 *               (local.set $p0 (call $row (local.get $src) (i32.add (local.get $r) (i32.const 0)) (local.get $rows) (local.get $kr) (local.get $sb)))
 *               ... $p1, $p2, $p3 likewise with (i32.const 1), (i32.const 2), (i32.const 3)
 *               (local.set $q (i32.add (i32.add (local.get $dst) (i32.mul (local.get $c0) (local.get $db)))
 *                                      (i32.shl (local.get $r) (i32.const 2))))
 *               forLoop($o, (i32.shl (local.get $c0) (i32.const 2)), (local.get $oe), 16,
 *                 (local.set $a (v128.load align=4 (i32.add (local.get $p0) (local.get $o))))
 *                 ... $b, $e, $f likewise from $p1, $p2, $p3
 *                 block4(k, value: (v128.store align=4 (local.get $q) value), then with (i32.add (local.get $q) (local.get $db)),
 *                                  (local.get $db2), (local.get $db3) for k = 1, 2, 3)
 *                 (local.set $q (i32.add (local.get $q) (local.get $db4)))))))))
 *     ;; the edges, one float at a time
 *     forLoop($r, (local.get $r4), (local.get $rows), 1, forLoop($c, (i32.const 0), (local.get $cols), 1, element))
 *     forLoop($c, (local.get $c4), (local.get $cols), 1, forLoop($r, (i32.const 0), (local.get $r4), 1, element)))
 *
 *   ;; block4(k, store): the 4 x 4 transpose of rows a, b, e, f (i32 lanes in the comments)
 *   (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a) (local.get $b)))      ;; a0 b0 a1 b1
 *   (local.set $t1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a) (local.get $b))) ;; a2 b2 a3 b3
 *   (local.set $t2 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $e) (local.get $f)))      ;; e0 f0 e1 f1
 *   (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $e) (local.get $f))) ;; e2 f2 e3 f3
 *   store(0, (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t2)))          ;; a0 b0 e0 f0
 *   store(1, (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t2)))    ;; a1 b1 e1 f1
 *   store(2, (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t1) (local.get $t3)))          ;; a2 b2 e2 f2
 *   store(3, (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t1) (local.get $t3)))    ;; a3 b3 e3 f3
 *
 *   ;; element: one float, both sides through $row
 *   (f32.store (i32.add (call $row (local.get $dst) (local.get $c) (local.get $cols) (local.get $kc) (local.get $db))
 *                       (i32.shl (local.get $r) (i32.const 2)))
 *              (f32.load (i32.add (call $row (local.get $src) (local.get $r) (local.get $rows) (local.get $kr) (local.get $sb))
 *                                 (i32.shl (local.get $c) (i32.const 2)))))
 *
 *   ;; multiplies (or, with $divide, divides) the $n floats at byte $p by $f
 *   (func (export "scale") (param $p i32) (param $n i32) (param $f f32) (param $divide i32)
 *     (local $end4 i32) (local $end i32) (local $v v128)
 *     (local.set $end4 (i32.add (local.get $p) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
 *     (local.set $end (i32.add (local.get $p) (i32.shl (local.get $n) (i32.const 2))))
 *     (local.set $v (f32x4.splat (local.get $f)))
 *     (if (local.get $divide)
 *       (then
 *         forLoop($p, (local.get $p), (local.get $end4), 16,
 *           (v128.store align=4 (local.get $p) (f32x4.div (v128.load align=4 (local.get $p)) (local.get $v))))
 *         forLoop($p, (local.get $p), (local.get $end), 4,
 *           (f32.store (local.get $p) (f32.div (f32.load (local.get $p)) (local.get $f)))))
 *       (else ... the same with f32x4.mul and f32.mul)))
 * )
 *
 * (An i8x16.shuffle byte index of 16 or more takes the second operand; V8 turns these four
 * patterns into unpcklps / unpckhps / movlhps / movhlps. Loads and stores are unaligned-safe:
 * align=4 is only a hint.)
 */

import {
  add, and, call, divU, eq, f32Div, f32Load, f32Mul, f32Store, f32x4Div, f32x4Mul, f32x4Splat, forLoop, geU, get, i32, ifElse, I32, F32, ltU, mul,
  remU, select, set, shl, shuffle32, v128Load, v128Store, V128, wasmModule, type Code, type WasmFunc,
} from '../wasm.js';
import { arenaMemory } from '../io/pool.js';

/**
 * Tile edge in floats: a 64 x 64 source tile and its destination tile (32 KiB) stay in L1/L2.
 * On the full-size IRv2 kernels 64 measured 0.25-0.3 ns per float, 32 0.35-0.5, 16 0.5-0.7,
 * 128 and 256 no better than 64.
 */
const TILE = 64;

// $row: params base 0, x 1, n 2, k 3, stride 4
const ROW = 0;
const rowBody: Code = [
  get(0),
  get(4),
  get(1), get(3), remU, get(2), get(3), divU, mul,
  get(1), get(3), divU, add,
  mul, add,
];

// transpose: params 0-5, then the locals in the order of the WAT comment.
const [SRC, DST, ROWS, COLS, KR, KC] = [0, 1, 2, 3, 4, 5];
const I32_LOCALS = 23;
const [SB, SB2, SB3, SB4, DB, DB2, DB3, DB4, R4, C4, R0, R1, C0, C1, R, C, O, OE, P0, P1, P2, P3, Q] = Array.from({ length: I32_LOCALS }, (_, i) => 6 + i);
const [A, B, E, F, T0, T1, T2, T3] = Array.from({ length: 8 }, (_, i) => 6 + I32_LOCALS + i);
const P = [P0, P1, P2, P3];

const minInto = (dst: number, x: Code, y: number): Code => [x, set(dst), get(dst), get(y), get(dst), get(y), ltU, select, set(dst)];

/** Leaves the four transposed rows of the block (a, b, e, f) for `store(k)` to consume, in order. */
const block4 = (store: (k: number, value: Code) => Code): Code => [
  get(A), get(B), shuffle32([0, 4, 1, 5]), set(T0),
  get(A), get(B), shuffle32([2, 6, 3, 7]), set(T1),
  get(E), get(F), shuffle32([0, 4, 1, 5]), set(T2),
  get(E), get(F), shuffle32([2, 6, 3, 7]), set(T3),
  store(0, [get(T0), get(T2), shuffle32([0, 1, 4, 5])]),
  store(1, [get(T0), get(T2), shuffle32([2, 3, 6, 7])]),
  store(2, [get(T1), get(T3), shuffle32([0, 1, 4, 5])]),
  store(3, [get(T1), get(T3), shuffle32([2, 3, 6, 7])]),
];

// kr == 1: destination rows c..c+3 (permuted by kc) fixed, q runs down the source rows; o = r * 4.
const alongRows: Code = forLoop(C, get(C0), get(C1), 4, [
  P.map((p, k) => [get(DST), get(C), i32(k), add, get(COLS), get(KC), get(DB), call(ROW), set(p)]),
  get(SRC), get(R0), get(SB), mul, add, get(C), i32(2), shl, add, set(Q),
  forLoop(O, [get(R0), i32(2), shl], get(OE), 16, [
    [A, B, E, F].map((v, k) => [get(Q), k ? [get([0, SB, SB2, SB3][k]), add] : [], v128Load, set(v)]),
    block4((k, value) => [get(P[k]), get(O), add, value, v128Store]),
    get(Q), get(SB4), add, set(Q),
  ]),
]);

// kc == 1: source rows r..r+3 (permuted by kr) fixed, q runs along the destination rows; o = c * 4.
const alongCols: Code = forLoop(R, get(R0), get(R1), 4, [
  P.map((p, k) => [get(SRC), get(R), i32(k), add, get(ROWS), get(KR), get(SB), call(ROW), set(p)]),
  get(DST), get(C0), get(DB), mul, add, get(R), i32(2), shl, add, set(Q),
  forLoop(O, [get(C0), i32(2), shl], get(OE), 16, [
    [A, B, E, F].map((v, k) => [get(P[k]), get(O), add, v128Load, set(v)]),
    block4((k, value) => [get(Q), k ? [get([0, DB, DB2, DB3][k]), add] : [], value, v128Store]),
    get(Q), get(DB4), add, set(Q),
  ]),
]);

const element: Code = [
  get(DST), get(C), get(COLS), get(KC), get(DB), call(ROW), get(R), i32(2), shl, add,
  get(SRC), get(R), get(ROWS), get(KR), get(SB), call(ROW), get(C), i32(2), shl, add,
  f32Load, f32Store,
];

const multiples = (x: number, [x2, x3, x4]: number[]): Code => [
  get(x), i32(1), shl, set(x2),
  get(x2), get(x), add, set(x3),
  get(x), i32(2), shl, set(x4),
];

const transposeBody: Code = [
  get(COLS), i32(2), shl, set(SB), multiples(SB, [SB2, SB3, SB4]),
  get(ROWS), i32(2), shl, set(DB), multiples(DB, [DB2, DB3, DB4]),
  get(ROWS), i32(-4), and, set(R4),
  get(COLS), i32(-4), and, set(C4),
  forLoop(R0, i32(0), get(R4), TILE, [
    minInto(R1, [get(R0), i32(TILE), add], R4),
    forLoop(C0, i32(0), get(C4), TILE, [
      minInto(C1, [get(C0), i32(TILE), add], C4),
      ifElse([get(KR), i32(1), eq], [get(R1), i32(2), shl, set(OE), alongRows], [get(C1), i32(2), shl, set(OE), alongCols]),
    ]),
  ]),
  forLoop(R, get(R4), get(ROWS), 1, forLoop(C, i32(0), get(COLS), 1, element)),
  forLoop(C, get(C4), get(COLS), 1, forLoop(R, i32(0), get(R4), 1, element)),
];

// scale: params p 0, n 1, f 2, divide 3; locals end4 4, end 5 (i32), v 6 (v128). Four floats per
// step up to end4, then one at a time up to end.
const [SP, SN, SF, SDIV, SEND4, SEND, SV] = [0, 1, 2, 3, 4, 5, 6];
const scaleLoops = (vectorOp: Code, scalarOp: number): Code => [
  forLoop(SP, get(SP), get(SEND4), 16, [get(SP), get(SP), v128Load, get(SV), vectorOp, v128Store]),
  forLoop(SP, get(SP), get(SEND), 4, [get(SP), get(SP), f32Load, get(SF), scalarOp, f32Store]),
];
const scaleBody: Code = [
  get(SP), get(SN), i32(-4), and, i32(2), shl, add, set(SEND4),
  get(SP), get(SN), i32(2), shl, add, set(SEND),
  get(SF), f32x4Splat, set(SV),
  ifElse([get(SDIV)], scaleLoops(f32x4Div, f32Div), scaleLoops(f32x4Mul, f32Mul)),
];

const FUNCS: readonly WasmFunc[] = [
  { params: [I32, I32, I32, I32, I32], results: [I32], locals: [], body: rowBody }, // $row
  { export: 'transpose', params: [I32, I32, I32, I32, I32, I32], locals: [[I32_LOCALS, I32], [8, V128]], body: transposeBody },
  { export: 'scale', params: [I32, I32, F32, I32], locals: [[2, I32], [1, V128]], body: scaleBody },
];

/** The module's bytes (built once, at import: 1.3 KB), with a memory of its own. */
export const moduleBytes: Uint8Array<ArrayBuffer> = wasmModule({ memoryPages: 1, funcs: FUNCS });
/** The same code over an imported memory, io/pool's arena (its bodies encoded once, for both). */
const arenaModuleBytes = (): Uint8Array<ArrayBuffer> => wasmModule({ memoryPages: 1, importMemory: true, funcs: FUNCS });

// --- instantiation and memory --------------------------------------------------------------------

interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports?: object) => { exports: Record<string, unknown> };
}

interface Engine {
  memory: WasmMemory;
  transpose: (src: number, dst: number, rows: number, cols: number, kr: number, kc: number) => void;
  /** Multiplies (divide = 0) or divides the n f32 at byte p by f, in f32 arithmetic. */
  scale: (p: number, n: number, f: number, divide: number) => void;
}

/**
 * A factor every value is multiplied (or divided) by on its way through a transpose, in float32
 * arithmetic (the factor rounded to float32 first, as TensorFlow multiplies by a float32
 * constant): the tfjs writer folds Inception-ResNet's residual scale into the up-projection
 * kernels this way, at no extra pass over them.
 */
export interface Scaling {
  readonly by: number;
  readonly divide?: boolean;
}

const PAGE = 65536;
/**
 * The memory never shrinks, so matrices needing more than this (source + destination: 32M floats
 * each) take the JS loops instead of pinning the memory for the process's life. The largest IRv2
 * kernel (1536 x 2080) needs 24.4 MiB.
 */
const MAX_MEMORY = 256 * 2 ** 20;
let engine: Engine | null | undefined;
let arenaEngine: Engine | null | undefined;

const wasmApi = (): WasmApi | undefined => (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

function instantiate(bytes: Uint8Array, memory?: WasmMemory): Engine | null {
  const wasm = wasmApi();
  try {
    if (!wasm || !wasm.validate(bytes)) return null;
    const { exports } = new wasm.Instance(new wasm.Module(bytes), memory ? { env: { memory } } : undefined);
    return { memory: exports.memory as WasmMemory, transpose: exports.transpose as Engine['transpose'], scale: exports.scale as Engine['scale'] };
  } catch {
    return null;
  }
}

/** The instantiated module, or null where WebAssembly or its SIMD is missing (then JS does it). */
function getEngine(): Engine | null {
  if (engine === undefined) engine = instantiate(moduleBytes);
  return engine;
}

/** The module over io/pool's arena, or null where there is none. */
function getArenaEngine(): Engine | null {
  if (arenaEngine === undefined) {
    const memory = arenaMemory();
    arenaEngine = memory ? instantiate(arenaModuleBytes(), memory) : null;
  }
  return arenaEngine;
}

/** Whether the WebAssembly path can run here (WebAssembly with SIMD). */
export function wasmAvailable(): boolean {
  return getEngine() !== null;
}

/**
 * Transposes the row-major [rows, cols] `src` into a new [cols, rows] array (or into `into`, which
 * may be `src` itself), scaled by `scaling` when given, rows permuted as described at the top (kr, kc: at most one of them is not 1, and it divides rows resp. cols).
 * Returns undefined where WebAssembly is unavailable or its memory cannot (or should not, past
 * MAX_MEMORY) hold both matrices.
 */
export function wasmTranspose(src: Float32Array, rows: number, cols: number, kr = 1, kc = 1, into?: Float32Array, scaling?: Scaling): Float32Array | undefined {
  const n = rows * cols;
  if (src.length !== n) throw new RangeError(`transpose: ${src.length} floats for [${rows}, ${cols}]`);
  if (into && into.length !== n) throw new RangeError(`transpose: ${into.length} floats to write [${cols}, ${rows}] into`);
  if (n === 0) return into ?? new Float32Array(0);
  if ((kr !== 1 && kc !== 1) || rows % kr || cols % kc) throw new RangeError(`transpose: bad row factors ${kr}, ${kc}`);
  // Both in io/pool's arena, apart: transposed where they are.
  const a = into && into !== src && getArenaEngine();
  if (a && into && src.buffer === a.memory.buffer && into.buffer === src.buffer && (into.byteOffset >= src.byteOffset + n * 4 || src.byteOffset >= into.byteOffset + n * 4)) {
    a.transpose(src.byteOffset, into.byteOffset, rows, cols, kr, kc);
    if (scaling) a.scale(into.byteOffset, n, scaling.by, scaling.divide ? 1 : 0);
    return into;
  }
  const e = getEngine();
  if (!e) return undefined;
  const bytes = n * 4;
  const dstOff = Math.ceil(bytes / 64) * 64; // source at 0, destination after it, 64-byte aligned
  const need = dstOff + bytes;
  if (need > MAX_MEMORY) return undefined;
  if (e.memory.buffer.byteLength < need) {
    try {
      e.memory.grow(Math.ceil((need - e.memory.buffer.byteLength) / PAGE));
    } catch {
      return undefined;
    }
  }
  const buffer = e.memory.buffer;
  new Float32Array(buffer, 0, n).set(src);
  e.transpose(0, dstOff, rows, cols, kr, kc);
  if (scaling) e.scale(dstOff, n, scaling.by, scaling.divide ? 1 : 0);
  const result = new Float32Array(buffer, dstOff, n);
  if (!into) return result.slice();
  into.set(result); // `into` may be `src`: it was copied into wasm memory above
  return into;
}
