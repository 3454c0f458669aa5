import { describe, expect, it } from 'vitest';
import {
  blockTolerance,
  compareOutputs,
  cosine,
  degenerate,
  difference,
  softmax,
  squeezeSpatial,
  toNchw,
  topK,
} from '../../src/parity/compare.js';
import { nchwToNhwc } from '../../src/parity/input.js';

const f = (xs: number[]) => Float32Array.from(xs);

describe('difference', () => {
  it('max and mean of |a - b|, where the max is, and the reference scale', () => {
    const d = difference(f([1, 2, 3, -4]), f([1, 2.5, 3, -3]));
    expect(d.maxAbs).toBe(1);
    expect(d.maxAt).toBe(3);
    expect(d.meanAbs).toBeCloseTo(0.375);
    expect(d.refMaxAbs).toBe(3);
  });
  it('a NaN on either side makes the difference NaN (never a pass)', () => {
    expect(difference(f([1, NaN]), f([1, 2])).maxAbs).toBeNaN();
    expect(difference(f([1, 2]), f([NaN, 2])).maxAbs).toBeNaN();
  });
  it('refuses arrays of different lengths', () => {
    expect(() => difference(f([1]), f([1, 2]))).toThrow(RangeError);
  });
});

describe('cosine, topK, softmax', () => {
  it.each([
    [[1, 0], [1, 0], 1],
    [[1, 0], [0, 1], 0],
    [[1, 2], [-1, -2], -1],
    [[0, 0], [0, 0], 1],
    [[0, 0], [1, 0], 0],
  ])('cosine(%j, %j) = %d', (a, b, c) => expect(cosine(f(a), f(b))).toBeCloseTo(c, 12));
  it('topK: largest first, ties by index, NaN skipped', () => {
    expect(topK(f([0.1, 5, 3, 5, NaN, 4]), 3)).toEqual([1, 3, 5]);
    expect(topK(f([1, 2]), 5)).toEqual([1, 0]);
  });
  it('softmax sums to 1 and is stable for large logits', () => {
    const p = softmax(f([1000, 1001, 1002]));
    expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
    expect(p[2]).toBeCloseTo(Math.exp(2) / (1 + Math.exp(1) + Math.exp(2)), 6);
  });
});

describe('compareOutputs', () => {
  const ref = f([0.5, 3, -1, 2, 7, 0, 1, 4]);
  it('identical logits: zero difference, same top-1 and top-5', () => {
    const c = compareOutputs(ref, ref);
    expect(c).toMatchObject({ maxAbs: 0, top1Agrees: true, top5Agrees: true, top5Overlap: 5, kind: 'logits', top1: 4 });
    expect(c.cosine).toBeCloseTo(1, 12);
    expect(c.probabilities.maxAbs).toBe(0);
  });
  it('a swapped pair of top classes: top-1 differs, top-5 still agrees as a set', () => {
    const out = f([0.5, 3, -1, 2, 4, 0, 1, 7]);
    const c = compareOutputs(out, ref);
    expect(c.top1Agrees).toBe(false);
    expect(c.top1).toBe(7);
    expect(c.refTop1).toBe(4);
    expect(c.top5Agrees).toBe(true);
    expect(c.maxAbs).toBe(3);
  });
  it('probability outputs are recognised and compared as probabilities', () => {
    const p = softmax(ref);
    const c = compareOutputs(p, p);
    expect(c.kind).toBe('probabilities');
    expect(c.probabilities.top1).toBeCloseTo(p[4], 7);
  });
});

describe('layouts', () => {
  it('toNchw inverts nchwToNhwc', () => {
    const dims = [1, 3, 2, 4];
    const nchw = Float32Array.from({ length: 24 }, (_, i) => i);
    const nhwc = nchwToNhwc(nchw, dims);
    const back = toNchw({ data: nhwc, dims: [1, 2, 4, 3] }, 'NHWC');
    expect(back.dims).toEqual(dims);
    expect([...back.data]).toEqual([...nchw]);
    expect(nhwc[1]).toBe(8); // (y0, x0, c1) = nchw[1 * 8]
  });
  it('vectors are left alone; [1, C, 1, 1] squeezes to [1, C]', () => {
    const v = { data: f([1, 2]), dims: [1, 2] };
    expect(toNchw(v, 'NHWC')).toBe(v);
    expect(squeezeSpatial({ data: f([1, 2]), dims: [1, 2, 1, 1] }).dims).toEqual([1, 2]);
  });
});

describe('degenerate outputs and block tolerance', () => {
  it.each([
    [[1, 1, 1, 1, 1, 1], /constant/],
    [[1, NaN, 2, 3, 4, 5], /NaN/],
    [[5, 5, 1, 2, 3, 0], /distinct/],
  ])('%j is degenerate', (xs, why) => expect(degenerate(f(xs))).toMatch(why));
  it('a spread with 5 distinct top values is not', () => expect(degenerate(f([1, 2, 3, 4, 5, 6]))).toBeUndefined());
  it('the tolerance grows with the block magnitude above 1 only', () => {
    expect(blockTolerance(1e-4, 0.3)).toBe(1e-4);
    expect(blockTolerance(1e-4, 40)).toBeCloseTo(4e-3);
  });
});
