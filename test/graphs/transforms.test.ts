import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildGraph, graphParams, inferShapes } from '../../src/graphs/index.js';
import { seededModel } from '../../src/graphs/init.js';
import { ADDED_BACKGROUND_BIAS, foldBatchNorm, withClasses, withSoftmax } from '../../src/graphs/transforms.js';
import { readAll } from '../../src/model.js';
import { hwioToOihw, oihwToHwio, setLayoutWasm, transpose2d } from '../../src/graphs/layout.js';
import { moduleBytes, wasmAvailable, wasmTranspose } from '../../src/graphs/layout-wasm.js';
import { arenaMemory, giveBack, takeFloats } from '../../src/io/pool.js';

const thin = (arch: 'inception_v4' | 'inception_resnet_v2', opts = {}) => buildGraph(arch, { widthDivisor: 16, ...opts });

describe('seeded initialiser', () => {
  it('is deterministic per (seed, name) and differs across seeds', async () => {
    const a = await readAll(seededModel(thin('inception_v4'), { seed: 1 }));
    const b = await readAll(seededModel(thin('inception_v4'), { seed: 1 }));
    const c = await readAll(seededModel(thin('inception_v4'), { seed: 2 }));
    for (const [name, v] of a) expect(b.get(name)).toEqual(v);
    expect(c.get('Conv2d_1a_3x3/weights')).not.toEqual(a.get('Conv2d_1a_3x3/weights'));
  });

  it('gives realistic ranges: He-scaled kernels, positive variances, gamma 1 on request', async () => {
    const g = buildGraph('inception_resnet_v2', { widthDivisor: 4 });
    const w = await readAll(seededModel(g, { seed: 7, gamma: 'one' }));
    const k = w.get('Mixed_5b/Branch_1/Conv2d_0b_5x5/weights')!; // fan-in 12 * 25 = 300
    const std = Math.sqrt(k.reduce((s, x) => s + x * x, 0) / k.length);
    expect(std).toBeGreaterThan(0.8 * Math.sqrt(2 / 300));
    expect(std).toBeLessThan(1.2 * Math.sqrt(2 / 300));
    for (const spec of graphParams(g)) {
      const v = w.get(spec.name)!;
      expect(v.every(Number.isFinite)).toBe(true);
      if (spec.role === 'bn.moving_variance') expect(Math.min(...v)).toBeGreaterThan(0);
      if (spec.role === 'bn.gamma') expect(v.every((x) => x === 1)).toBe(true);
    }
  });
});

describe('class conversion', () => {
  it('1001 -> 1000 drops the background row; 1000 -> 1001 adds one that never wins', async () => {
    const m1001 = seededModel(thin('inception_v4', { classes: 1001, aux: true }), { seed: 3 });
    const before = await readAll(m1001);
    const m1000 = withClasses(m1001, 1000);
    expect(inferShapes(m1000.graph).get(m1000.graph.outputs.logits)).toEqual([1000]);
    const after = await readAll(m1000);
    const inF = m1000.params.find((p) => p.name === 'Logits/Logits/weights')!.shape[1];
    expect(after.get('Logits/Logits/weights')).toEqual(before.get('Logits/Logits/weights')!.slice(inF));
    expect(after.get('AuxLogits/Aux_logits/biases')).toEqual(before.get('AuxLogits/Aux_logits/biases')!.slice(1));
    const back = await readAll(withClasses(m1000, 1001));
    expect(back.get('Logits/Logits/biases')![0]).toBe(ADDED_BACKGROUND_BIAS);
    expect(back.get('Logits/Logits/biases')!.slice(1)).toEqual(after.get('Logits/Logits/biases'));
    expect(() => withClasses(m1000, 10)).toThrow(/1000 <-> 1001/);
  });

  it('softmax can be added and removed', () => {
    const m = seededModel(thin('inception_resnet_v2'));
    const s = withSoftmax(m, true);
    expect(s.graph.outputs.logits).toBe('Predictions');
    expect(withSoftmax(s, false).graph.outputs.logits).toBe('Logits/Logits');
  });
});

describe('batch-norm folding', () => {
  it('removes every BN, biases every conv, and computes w·γ/√(σ²+ε) and β − μ·γ/√(σ²+ε)', async () => {
    const m = seededModel(thin('inception_resnet_v2'), { seed: 5 });
    const f = foldBatchNorm(m);
    expect(f.graph.nodes.some((n) => n.op === 'batchnorm')).toBe(false);
    expect(f.graph.nodes.every((n) => n.op !== 'conv2d' || n.bias)).toBe(true);
    expect(inferShapes(f.graph).get(f.graph.outputs.logits)).toEqual([1000]);
    const a = await readAll(m);
    const b = await readAll(f);
    const unit = 'Mixed_6a/Branch_1/Conv2d_0b_3x3';
    const [gamma, beta, mean, variance] = ['gamma', 'beta', 'moving_mean', 'moving_variance'].map((p) => a.get(`${unit}/BatchNorm/${p}`)!);
    const w = a.get(`${unit}/weights`)!;
    const per = w.length / gamma.length;
    for (const c of [0, gamma.length - 1]) {
      const s = gamma[c] / Math.sqrt(variance[c] + 0.001);
      expect(b.get(`${unit}/weights`)![c * per + 1]).toBeCloseTo(w[c * per + 1] * s, 6);
      expect(b.get(`${unit}/biases`)![c]).toBeCloseTo(beta[c] - mean[c] * s, 6);
    }
    // The up-projection already had a bias and no BN: unchanged.
    expect(b.get('Repeat/block35_1/Conv2d_1x1/biases')).toEqual(a.get('Repeat/block35_1/Conv2d_1x1/biases'));
  });
});

/** OIHW [co, ci, kh, kw] -> HWIO [kh, kw, ci, co], one index computation per element. */
function naiveHwio(src: Float32Array, [co, ci, kh, kw]: number[]): Float32Array {
  const dst = new Float32Array(src.length);
  for (let o = 0; o < co; o++)
    for (let i = 0; i < ci; i++)
      for (let h = 0; h < kh; h++)
        for (let w = 0; w < kw; w++) dst[((h * kw + w) * ci + i) * co + o] = src[((o * ci + i) * kh + h) * kw + w];
  return dst;
}

/** Distinct values that are not small integers (bit-exact comparison catches any misplaced float), plus -0 and NaN. */
/** HWIO [kh, kw, ci, co] -> OIHW, one element at a time. */
function naiveOihw(src: Float32Array, [kh, kw, ci, co]: number[]): Float32Array {
  const dst = new Float32Array(src.length);
  for (let o = 0; o < co; o++)
    for (let i = 0; i < ci; i++)
      for (let h = 0; h < kh; h++)
        for (let w = 0; w < kw; w++) dst[((o * ci + i) * kh + h) * kw + w] = src[((h * kw + w) * ci + i) * co + o];
  return dst;
}

const ramp = (n: number) => {
  const a = Float32Array.from({ length: n }, (_, i) => i * 0.37 - 11.5 + 1e-3 * Math.sin(i));
  if (n > 2) (a[1] = -0), (a[n - 1] = NaN);
  return a;
};
const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);
/** Where two arrays first differ bit-wise (a length mismatch counts), or -1: cheap on millions of floats. */
function firstDiff(a: Float32Array, b: Float32Array): number {
  const [x, y] = [bits(a), bits(b)];
  if (x.length !== y.length) return Math.min(x.length, y.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return i;
  return -1;
}

const SIDES = [0, 1, 3, 4, 5, 33, 65];
const KERNELS = [[1, 1], [1, 7], [7, 1], [3, 3], [1, 3], [3, 1], [5, 5]];

describe.each([
  ['WebAssembly', true],
  ['JS', false],
] as const)('layouts (%s)', (_, wasm) => {
  let was = true;
  beforeAll(() => {
    was = setLayoutWasm(wasm);
  });
  afterAll(() => {
    setLayoutWasm(was);
  });

  it('HWIO <-> OIHW and 2-D transposes are inverse and index correctly', () => {
    const shape = [2, 3, 4, 5]; // kh, kw, in, out
    const hwio = Float32Array.from({ length: 120 }, (_, i) => i);
    const oihw = hwioToOihw(hwio, shape);
    // element (h=1, w=2, i=3, o=4) sits at ((o*in + i)*kh + h)*kw + w in OIHW
    expect(oihw[((4 * 4 + 3) * 2 + 1) * 3 + 2]).toBe(((1 * 3 + 2) * 4 + 3) * 5 + 4);
    expect(oihwToHwio(oihw, [5, 4, 2, 3])).toEqual(hwio);
    const m = Float32Array.from({ length: 6 }, (_, i) => i);
    expect([...transpose2d(m, [2, 3])]).toEqual([0, 3, 1, 4, 2, 5]);
  });

  it('equals the naive loops bit for bit on odd, tile-spanning and empty shapes; inputs untouched', () => {
    for (const co of SIDES)
      for (const ci of SIDES)
        for (const [kh, kw] of KERNELS) {
          const src = ramp(co * ci * kh * kw);
          const copy = src.slice();
          const naive = naiveHwio(src, [co, ci, kh, kw]);
          const hwio = oihwToHwio(src, [co, ci, kh, kw]);
          const what = `OIHW [${co}, ${ci}, ${kh}, ${kw}]`;
          const back = hwioToOihw(naive, [kh, kw, ci, co]);
          expect(firstDiff(hwio, naive), what).toBe(-1);
          expect(firstDiff(back, src), what).toBe(-1);
          expect(firstDiff(src, copy), what).toBe(-1);
          expect(back).not.toBe(src);
        }
    // Larger shapes (several 64 x 64 tiles, ragged edges) and the full-size IRv2 extremes.
    for (const shape of [[130, 67, 3, 3], [67, 130, 1, 7], [256, 1088, 1, 1], [192, 160, 7, 1], [1, 1, 0, 3], [4, 0, 3, 3]]) {
      const src = ramp(shape.reduce((a, b) => a * b, 1));
      const naive = naiveHwio(src, shape);
      const [co, ci, kh, kw] = shape;
      expect(firstDiff(oihwToHwio(src, shape), naive), `${shape}`).toBe(-1);
      expect(firstDiff(hwioToOihw(naive, [kh, kw, ci, co]), src), `${shape}`).toBe(-1);
    }
  });

  it('writes into a given array, the source itself included (in place), with the same result', () => {
    for (const shape of [[33, 65, 3, 3], [65, 5, 1, 7], [130, 67, 1, 1], [4, 0, 3, 3]]) {
      const [co, ci, kh, kw] = shape;
      const src = ramp(shape.reduce((a, b) => a * b, 1));
      const naive = naiveHwio(src, shape);
      const own = src.slice();
      expect(oihwToHwio(own, shape, own)).toBe(own);
      expect(firstDiff(own, naive), `${shape}`).toBe(-1);
      expect(hwioToOihw(own, [kh, kw, ci, co], own)).toBe(own);
      expect(firstDiff(own, src), `${shape}`).toBe(-1);
      const other = new Float32Array(src.length);
      expect(oihwToHwio(src, shape, other)).toBe(other);
      expect(firstDiff(other, naive), `${shape}`).toBe(-1);
    }
    const m = Float32Array.from({ length: 6 }, (_, i) => i);
    expect([...transpose2d(m, [2, 3], m)]).toEqual([0, 3, 1, 4, 2, 5]);
    expect(() => transpose2d(Float32Array.from({ length: 6 }), [2, 3], new Float32Array(5))).toThrow(RangeError);
  });

  it("arrays of io/pool's arena: transposed from one place into another, or in place, with the same result", () => {
    for (const shape of [[33, 65, 3, 3], [256, 1088, 1, 1], [7, 3, 1, 7]]) {
      const [co, ci, kh, kw] = shape;
      const n = shape.reduce((a, b) => a * b, 1);
      const src = takeFloats(n);
      src.set(ramp(n));
      const naive = naiveHwio(src, shape);
      const into = takeFloats(n);
      expect(src.buffer === into.buffer && src.buffer === arenaMemory()!.buffer, 'both in the arena').toBe(true);
      expect(oihwToHwio(src, shape, into, { by: 1 })).toBe(into);
      expect(firstDiff(into, naive), `${shape}`).toBe(-1);
      expect(hwioToOihw(into, [kh, kw, ci, co], src)).toBe(src);
      expect(firstDiff(src, ramp(n)), `${shape}`).toBe(-1);
      expect(oihwToHwio(src, shape, src)).toBe(src); // in place
      expect(firstDiff(src, naive), `${shape}`).toBe(-1);
      giveBack(src);
      giveBack(into);
    }
  });

  it('scales while transposing, in float32 arithmetic (the factor rounded first), both directions, in place too', () => {
    const f = Math.fround(0.17);
    let doubleDiffers = false;
    for (const shape of [[33, 65, 3, 3], [65, 5, 1, 7], [320, 128, 1, 1], [7, 3, 1, 1]]) {
      const [co, ci, kh, kw] = shape;
      // values whose product with 0.17 rounds differently in double and in float32 arithmetic
      const src = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => Math.fround(Math.sin(i * 12.9898) * 43758.5453) / 7);
      const naive = naiveHwio(src, shape);
      const scaledNaive = naive.map((x) => Math.fround(x * f));
      const hwio = oihwToHwio(src, shape, undefined, { by: 0.17 });
      expect(firstDiff(hwio, scaledNaive), `${shape}`).toBe(-1);
      doubleDiffers ||= firstDiff(hwio, naive.map((x) => x * 0.17)) !== -1;
      const back = hwioToOihw(hwio, [kh, kw, ci, co], undefined, { by: 0.17, divide: true });
      const backNaive = naiveOihw(scaledNaive, [kh, kw, ci, co]).map((x) => Math.fround(x / f));
      expect(firstDiff(back, backNaive), `${shape}`).toBe(-1);
      const own = src.slice();
      expect(oihwToHwio(own, shape, own, { by: 0.17 })).toBe(own);
      expect(firstDiff(own, scaledNaive), `${shape}`).toBe(-1);
    }
    expect(doubleDiffers, 'multiplying by the double 0.17 gives other float32 values somewhere').toBe(true);
  });

  it('transpose2d equals the naive loop bit for bit, dense shapes included', () => {
    for (const [rows, cols] of [...SIDES.flatMap((r) => SIDES.map((c) => [r, c])), [1536, 1000], [1001, 1536], [129, 131]]) {
      const src = ramp(rows * cols);
      const copy = src.slice();
      const naive = new Float32Array(src.length);
      for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) naive[c * rows + r] = src[r * cols + c];
      expect(firstDiff(transpose2d(src, [rows, cols]), naive), `[${rows}, ${cols}]`).toBe(-1);
      expect(firstDiff(src, copy)).toBe(-1);
    }
  });
});

describe('the WebAssembly module', () => {
  it('validates and runs here (Node has WebAssembly SIMD), so the tests above covered both paths', () => {
    expect(WebAssembly.validate(moduleBytes)).toBe(true);
    expect(wasmAvailable()).toBe(true);
  });

  it('reuses and grows its memory across calls: a large matrix after small ones, then small again', () => {
    for (const [rows, cols] of [[3, 5], [2048, 1500], [7, 9]]) {
      const src = ramp(rows * cols);
      const out = wasmTranspose(src, rows, cols)!;
      for (const [r, c] of [[0, 0], [rows - 1, cols - 1], [rows >> 1, cols >> 1], [1, 2]])
        expect(Object.is(out[c * rows + r], src[r * cols + c])).toBe(true);
    }
  });

  it('falls back to the JS loops where WebAssembly is missing (node --jitless has none)', () => {
    const url = (f: string) => new URL(`../../src/graphs/${f}`, import.meta.url).href;
    const script = [
      `import { wasmAvailable } from '${url('layout-wasm.ts')}';`,
      `import { oihwToHwio, hwioToOihw } from '${url('layout.ts')}';`,
      `const src = Float32Array.from({ length: 5 * 3 * 3 * 3 }, (_, i) => i);`,
      `const back = hwioToOihw(oihwToHwio(src, [5, 3, 3, 3]), [3, 3, 3, 5]);`,
      `console.log(JSON.stringify([typeof WebAssembly, wasmAvailable(), [...oihwToHwio(src, [5, 3, 3, 3]).slice(0, 6)], back.every((x, i) => x === i)]));`,
    ].join('\n');
    const r = spawnSync(process.execPath, ['--jitless', '--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0); // stderr has V8's warning that --jitless disables wasm
    // HWIO [0][0][0][o] = OIHW [o][0][0][0] = o * 27
    expect(JSON.parse(r.stdout)).toEqual(['undefined', false, [0, 27, 54, 81, 108, 9], true]);
  });

  it('rejects a length that does not match the shape and an unsupported pair of row factors', () => {
    expect(() => wasmTranspose(new Float32Array(5), 2, 3)).toThrow(RangeError);
    expect(() => wasmTranspose(new Float32Array(36), 6, 6, 2, 3)).toThrow(RangeError);
    expect(() => wasmTranspose(new Float32Array(36), 6, 6, 4, 1)).toThrow(RangeError);
  });
});
