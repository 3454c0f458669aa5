/**
 * Layout changes between the canonical layout (OIHW kernels, [out, in] dense) and the others.
 * Each is one pass that writes straight into a new array: in WebAssembly SIMD where it runs
 * (./layout-wasm.ts: 0.9 ns per float all-in on the IRv2 kernels), else in the tiled JS loops
 * below (about 3 ns).
 */
import { wasmTranspose, type Scaling } from './layout-wasm.js';

export type { Scaling } from './layout-wasm.js';

let wasmEnabled = true;

/**
 * Whether the transposes may use WebAssembly (the default; it falls back to JS by itself where
 * WebAssembly SIMD is missing). Returns the previous setting: for tests and benchmarks.
 */
export function setLayoutWasm(enabled: boolean): boolean {
  const was = wasmEnabled;
  wasmEnabled = enabled;
  return was;
}

/** The WebAssembly result, or undefined when disabled, unavailable, or the shape does not match. */
function viaWasm(src: Float32Array, rows: number, cols: number, kr: number, kc: number, into?: Float32Array, scaling?: Scaling): Float32Array | undefined {
  return wasmEnabled && rows * cols === src.length ? wasmTranspose(src, rows, cols, kr, kc, into, scaling) : undefined;
}

/** `data` scaled in place as the WebAssembly path does: float32 arithmetic, the factor rounded first. */
export function scaleInPlace(data: Float32Array, scaling: Scaling | undefined): Float32Array {
  if (!scaling) return data;
  // float32 operands: their exact product (48 bits) or correctly rounded quotient in double,
  // rounded once more to float32 on store, is the float32 result
  const f = Math.fround(scaling.by);
  const n = data.length;
  if (scaling.divide) for (let i = 0; i < n; i++) data[i] = data[i] / f;
  else for (let i = 0; i < n; i++) data[i] = data[i] * f;
  return data;
}

/**
 * `result`, or a copy of it in `into` when one is given (the JS loops always make a new array; the
 * layout that changes nothing is this alone).
 */
export function placed(result: Float32Array, into: Float32Array | undefined): Float32Array {
  if (!into || into === result) return result;
  if (into.length !== result.length) throw new RangeError(`${into.length} floats to write ${result.length} into`);
  into.set(result);
  return into;
}

/** Tile edge of the blocked transposes: 32 x 32 floats of source and destination stay in L1. */
const TILE = 32;

/**
 * OIHW [o, i, kh, kw] <-> HWIO [kh, kw, i, o]. For each kernel position j this is the transpose
 * of an [o, i] matrix (rows `ci * k` floats apart in OIHW) into [i, o]: done in 32 x 32 tiles so
 * that reads and writes both stay within a few cache lines (an untiled loop writes with a stride
 * of `o` floats: 2-3x slower on full-size kernels), with running offsets instead of products.
 */
function tiledOihwHwio(src: Float32Array, [co, ci, kh, kw]: readonly number[], toHwio: boolean): Float32Array {
  const dst = new Float32Array(src.length);
  const k = kh * kw;
  const oStride = ci * k; // OIHW: floats between consecutive o
  for (let j = 0; j < k; j++) {
    const plane = j * ci * co; // HWIO: where kernel position j starts
    for (let i0 = 0; i0 < ci; i0 += TILE) {
      const i1 = Math.min(i0 + TILE, ci);
      for (let o0 = 0; o0 < co; o0 += TILE) {
        const o1 = Math.min(o0 + TILE, co);
        if (toHwio)
          for (let i = i0; i < i1; i++) {
            const row = plane + i * co;
            for (let o = o0, s = o0 * oStride + i * k + j; o < o1; o++, s += oStride) dst[row + o] = src[s];
          }
        else
          for (let o = o0; o < o1; o++)
            for (let i = i0, d = o * oStride + i0 * k + j, s = plane + i0 * co + o; i < i1; i++, d += k, s += co) dst[d] = src[s];
      }
    }
  }
  return dst;
}

/*
 * Each takes an optional `into` (of the same length, possibly `src` itself) to write the result
 * into instead of a new array: a conversion passes an array of io/pool's arena for the array it
 * read there, and the transpose then runs in that memory with no copy and no new page.
 */

/** HWIO [kh, kw, in, out] (TF, Keras, tfjs) -> OIHW [out, in, kh, kw], each value scaled by `scaling` if given. */
export function hwioToOihw(src: Float32Array, [kh, kw, ci, co]: readonly number[], into?: Float32Array, scaling?: Scaling): Float32Array {
  return viaWasm(src, ci * kh * kw, co, kh * kw, 1, into, scaling) ?? scaleInPlace(placed(tiledOihwHwio(src, [co, ci, kh, kw], false), into), scaling);
}

/** OIHW [out, in, kh, kw] -> HWIO [kh, kw, in, out], each value scaled by `scaling` if given. */
export function oihwToHwio(src: Float32Array, shape: readonly number[], into?: Float32Array, scaling?: Scaling): Float32Array {
  const [co, ci, kh, kw] = shape;
  return viaWasm(src, co, ci * kh * kw, 1, kh * kw, into, scaling) ?? scaleInPlace(placed(tiledOihwHwio(src, shape, true), into), scaling);
}

/** Transposes a row-major [rows, cols] matrix: dense [in, out] <-> [out, in]. */
export function transpose2d(src: Float32Array, [rows, cols]: readonly number[], into?: Float32Array): Float32Array {
  const fast = viaWasm(src, rows, cols, 1, 1, into);
  if (fast) return fast;
  const dst = new Float32Array(src.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) dst[c * rows + r] = src[r * cols + c];
  return placed(dst, into);
}
