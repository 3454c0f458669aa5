/**
 * Layout changes between the canonical layout (OIHW kernels, [out, in] dense) and the others.
 * Each is one pass that writes straight into a new array.
 */

/** HWIO [kh, kw, in, out] (TF, Keras, tfjs) -> OIHW [out, in, kh, kw]. */
export function hwioToOihw(src: Float32Array, [kh, kw, ci, co]: readonly number[]): Float32Array {
  const dst = new Float32Array(src.length);
  for (let h = 0; h < kh; h++)
    for (let w = 0; w < kw; w++)
      for (let i = 0; i < ci; i++) {
        const s = ((h * kw + w) * ci + i) * co;
        for (let o = 0; o < co; o++) dst[((o * ci + i) * kh + h) * kw + w] = src[s + o];
      }
  return dst;
}

/** OIHW [out, in, kh, kw] -> HWIO [kh, kw, in, out]. */
export function oihwToHwio(src: Float32Array, [co, ci, kh, kw]: readonly number[]): Float32Array {
  const dst = new Float32Array(src.length);
  for (let o = 0; o < co; o++)
    for (let i = 0; i < ci; i++)
      for (let h = 0; h < kh; h++) {
        const s = ((o * ci + i) * kh + h) * kw;
        for (let w = 0; w < kw; w++) dst[((h * kw + w) * ci + i) * co + o] = src[s + w];
      }
  return dst;
}

/** Transposes a row-major [rows, cols] matrix: dense [in, out] <-> [out, in]. */
export function transpose2d(src: Float32Array, [rows, cols]: readonly number[]): Float32Array {
  const dst = new Float32Array(src.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) dst[c * rows + r] = src[r * cols + c];
  return dst;
}
