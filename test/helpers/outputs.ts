/** Comparing model outputs in tests: the default input in both layouts, differences, top-k, spread. */
import { expect } from 'vitest';
import { defaultInput, nchwToNhwc } from '../../src/parity/input.js';

/** The deterministic default input, NCHW for onnxruntime and NHWC for tfjs. */
export const input = (size = 299) => {
  const x = defaultInput(size);
  return { nchw: x, nhwc: nchwToNhwc(x.data, x.dims), shape: [1, size, size, 3] as const };
};

/** Largest absolute difference (the lengths must agree). */
export const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

/** Indices of the k largest values, largest first. */
export const topK = (a: ArrayLike<number>, k = 5): number[] =>
  Array.from(a, (v, i) => [v, i] as const)
    .sort((x, y) => y[0] - x[0])
    .slice(0, k)
    .map(([, i]) => i);

/** Logits with a spread and five distinct leaders: not a constant or collapsed output. */
export function expectNotDegenerate(logits: ArrayLike<number>): void {
  const v = Array.from(logits);
  const mean = v.reduce((s, x) => s + x, 0) / v.length;
  const std = Math.sqrt(v.reduce((s, x) => s + (x - mean) ** 2, 0) / v.length);
  expect(std).toBeGreaterThan(0.5);
  const top = topK(v).map((i) => v[i]);
  expect(new Set(top).size).toBe(5);
  expect(v.every(Number.isFinite)).toBe(true);
}
