/** Comparing a written model's outputs with a reference framework's, and checking they mean something. */
/** onnxruntime (float32) against TensorFlow (float64): max |Δ logit| allowed. */
export const FLOAT32_TOLERANCE = 1e-4;

/**
 * float16 weights: max |Δ logit| allowed, as a fraction of the reference logits' standard
 * deviation. Measured on seeded weights: 0.2-0.3 % (thin and full size, both networks, BN kept or
 * folded); README.md documents 1 %.
 */
export const FLOAT16_TOLERANCE = 0.01;

const std = (xs: ArrayLike<number>): number => {
  let s = 0;
  let s2 = 0;
  for (let i = 0; i < xs.length; i++) {
    s += xs[i];
    s2 += xs[i] * xs[i];
  }
  const mean = s / xs.length;
  return Math.sqrt(Math.max(0, s2 / xs.length - mean * mean));
};

/** Indices of the k largest values, largest first. */
export const topK = (xs: ArrayLike<number>, k: number): number[] =>
  Array.from({ length: xs.length }, (_, i) => i)
    .sort((a, b) => xs[b] - xs[a])
    .slice(0, k);

export interface Comparison {
  readonly maxAbs: number;
  /** maxAbs over the reference's standard deviation (the smallest over the rows). */
  readonly relative: number;
  readonly sameTop1: boolean;
  readonly sameTop5: boolean;
}

/** `data` holds the rows of `reference` one after the other (batch-major). */
export function compareLogits(data: Float32Array, reference: readonly Float64Array[]): Comparison {
  const n = reference[0].length;
  if (data.length !== n * reference.length) throw new Error(`${data.length} values for ${reference.length} rows of ${n}`);
  let maxAbs = 0;
  let sameTop1 = true;
  let sameTop5 = true;
  let minStd = Infinity;
  reference.forEach((ref, b) => {
    const row = data.subarray(b * n, (b + 1) * n);
    for (let i = 0; i < n; i++) maxAbs = Math.max(maxAbs, Math.abs(row[i] - ref[i]));
    const [a5, r5] = [topK(row, 5), topK(ref, 5)];
    sameTop1 &&= a5[0] === r5[0];
    sameTop5 &&= a5.join() === r5.join();
    minStd = Math.min(minStd, std(ref));
  });
  return { maxAbs, relative: maxAbs / minStd, sameTop1, sameTop5 };
}

/**
 * Why outputs are degenerate, or [] when they are not: every row needs a spread (std > 0.1) and a
 * top-5 of distinct values.
 */
export function degeneracy(rows: readonly ArrayLike<number>[]): string[] {
  const problems: string[] = [];
  rows.forEach((row, b) => {
    const s = std(row);
    if (!(s > 0.1)) problems.push(`row ${b}: standard deviation ${s}`);
    const top = topK(row, 5).map((i) => row[i]);
    if (new Set(top).size < 5 || !(top[0] - top[4] > 1e-3)) problems.push(`row ${b}: top-5 values ${top.join(', ')}`);
  });
  return problems;
}
