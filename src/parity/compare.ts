/**
 * Comparison metrics of parity checks: pure functions over float32 arrays, no engine involved.
 *
 * Layouts: engines return feature maps NCHW (onnxruntime) or NHWC (tfjs). Every comparison
 * happens in NCHW: `toNchw` transposes a channels-last map first.
 */

/** A tensor as an engine returned it. */
export interface Output {
  readonly data: Float32Array;
  readonly dims: readonly number[];
}

export type Layout = 'NCHW' | 'NHWC';

/** NHWC -> NCHW for a rank-4 map; other ranks (vectors: logits, pooled features) are returned as they are. */
export function toNchw(out: Output, layout: Layout): Output {
  if (layout === 'NCHW' || out.dims.length !== 4) return out;
  const [n, h, w, c] = out.dims;
  const src = out.data;
  const dst = new Float32Array(src.length);
  for (let b = 0; b < n; b++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        const s = ((b * h + y) * w + x) * c;
        for (let ch = 0; ch < c; ch++) dst[((b * c + ch) * h + y) * w + x] = src[s + ch];
      }
  return { data: dst, dims: [n, c, h, w] };
}

/** Drops size-1 trailing spatial dims ([1, C, 1, 1] -> [1, C]), so that a pooled map compares with a vector. */
export function squeezeSpatial(out: Output): Output {
  const d = out.dims;
  if (d.length === 4 && d[2] === 1 && d[3] === 1) return { data: out.data, dims: [d[0], d[1]] };
  return out;
}

export interface Difference {
  /** Largest |a - b|; NaN when either side has a NaN. */
  readonly maxAbs: number;
  readonly meanAbs: number;
  /** Flat index of the largest difference. */
  readonly maxAt: number;
  /** Largest |reference| (the scale that the difference is relative to). */
  readonly refMaxAbs: number;
}

/** Element-wise absolute differences; the arrays must have the same length. */
export function difference(a: Float32Array, ref: Float32Array): Difference {
  if (a.length !== ref.length) throw new RangeError(`cannot compare ${a.length} values with ${ref.length}`);
  let max = 0;
  let at = 0;
  let sum = 0;
  let refMax = 0;
  let nan = false;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - ref[i]);
    if (Number.isNaN(d)) nan = true;
    else {
      sum += d;
      if (d > max) {
        max = d;
        at = i;
      }
    }
    const r = Math.abs(ref[i]);
    if (r > refMax) refMax = r;
  }
  return { maxAbs: nan ? NaN : max, meanAbs: nan ? NaN : a.length ? sum / a.length : 0, maxAt: at, refMaxAbs: refMax };
}

/** Cosine similarity of two vectors (1 = same direction); 1 when both are zero, 0 when one is. */
export function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  if (na === 0 && nb === 0) return 1;
  if (na === 0 || nb === 0) return 0;
  return dot / Math.sqrt(na * nb);
}

/** Indices of the k largest values, largest first (ties: lower index first). */
export function topK(values: Float32Array, k: number): number[] {
  const idx: number[] = [];
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (Number.isNaN(v)) continue;
    let pos = idx.length;
    while (pos > 0 && values[idx[pos - 1]] < v) pos--;
    if (pos < k) {
      idx.splice(pos, 0, i);
      if (idx.length > k) idx.pop();
    }
  }
  return idx;
}

/** Numerically stable softmax. */
export function softmax(logits: Float32Array): Float32Array {
  let max = -Infinity;
  for (const v of logits) if (v > max) max = v;
  const out = new Float32Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    out[i] = Math.exp(logits[i] - max);
    sum += out[i];
  }
  for (let i = 0; i < out.length; i++) out[i] /= sum;
  return out;
}

/** True when the values look like a probability vector (non-negative, sum 1). */
export function looksLikeProbabilities(values: Float32Array): boolean {
  let sum = 0;
  for (const v of values) {
    if (!(v >= 0 && v <= 1)) return false;
    sum += v;
  }
  return Math.abs(sum - 1) < 1e-3;
}

export interface OutputComparison extends Difference {
  readonly cosine: number;
  /** Top-1 class of the checked output and of the reference. */
  readonly top1: number;
  readonly refTop1: number;
  readonly top1Agrees: boolean;
  readonly top5: readonly number[];
  readonly refTop5: readonly number[];
  /** How many of the reference's top-5 classes are in the checked output's top-5. */
  readonly top5Overlap: number;
  /** Same five classes (in any order). */
  readonly top5Agrees: boolean;
  /** Whether the outputs are probabilities (the model ends in a softmax) or logits. */
  readonly kind: 'logits' | 'probabilities';
  /**
   * Probabilities: for a softmax output, the outputs themselves; for logits, their softmax. The
   * largest difference and the probability of the reference's top-1 class on both sides.
   */
  readonly probabilities: { readonly maxAbs: number; readonly top1: number; readonly refTop1: number };
}

/** The comparison of a classifier's output with a reference output (one sample). */
export function compareOutputs(out: Float32Array, ref: Float32Array, kind?: 'logits' | 'probabilities'): OutputComparison {
  const diff = difference(out, ref);
  const k = kind ?? (looksLikeProbabilities(ref) && looksLikeProbabilities(out) ? 'probabilities' : 'logits');
  const top5 = topK(out, 5);
  const refTop5 = topK(ref, 5);
  const overlap = refTop5.filter((c) => top5.includes(c)).length;
  const p = k === 'probabilities' ? out : softmax(out);
  const pRef = k === 'probabilities' ? ref : softmax(ref);
  return {
    ...diff,
    cosine: cosine(out, ref),
    top1: top5[0] ?? -1,
    refTop1: refTop5[0] ?? -1,
    top1Agrees: top5.length > 0 && top5[0] === refTop5[0],
    top5,
    refTop5,
    top5Overlap: overlap,
    top5Agrees: overlap === refTop5.length && top5.length === refTop5.length,
    kind: k,
    probabilities: {
      maxAbs: difference(p, pRef).maxAbs,
      top1: refTop5.length ? p[refTop5[0]] : NaN,
      refTop1: refTop5.length ? pRef[refTop5[0]] : NaN,
    },
  };
}

/**
 * Whether an output is degenerate (constant, NaN, or without 5 distinct top classes): a parity
 * check on such an output proves little, and reports say so.
 */
export function degenerate(values: Float32Array): string | undefined {
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) return 'has NaN or infinite values';
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (values.length === 0) return 'is empty';
  if (max - min < 1e-6) return `is constant (${min})`;
  if (values.length >= 5 && new Set(topK(values, 5).map((i) => values[i])).size < 5) return 'has no 5 distinct top values';
  return undefined;
}

/**
 * Shifts by which two class vectors of different length may be aligned: 1001 classes with
 * TF-slim's background at index 0 against 1000 classes. Returns the 1000-class view of the
 * longer one (dropping index 0), or undefined when the lengths do not differ by exactly one.
 */
export function dropBackground(longer: Float32Array, shorterLength: number): Float32Array | undefined {
  if (longer.length !== shorterLength + 1) return undefined;
  return longer.subarray(1);
}

/**
 * The tolerance of one block: `atol` scaled by the block's own magnitude (max |reference|) when
 * that is above 1, since float32 rounding grows with the values (a block whose activations reach
 * 40 carries about 40x the rounding of one that stays under 1).
 */
export function blockTolerance(atol: number, refMaxAbs: number): number {
  return atol * Math.max(1, refMaxAbs);
}
