import { describe, expect, it } from 'vitest';
import { buildGraph, graphParams, inferShapes } from '../../src/graphs/index.js';
import { seededModel } from '../../src/graphs/init.js';
import { ADDED_BACKGROUND_BIAS, foldBatchNorm, withClasses, withSoftmax } from '../../src/graphs/transforms.js';
import { readAll } from '../../src/model.js';
import { hwioToOihw, oihwToHwio, transpose2d } from '../../src/graphs/layout.js';

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

describe('layouts', () => {
  it('HWIO <-> OIHW and 2-D transposes are inverse and index correctly', () => {
    const shape = [2, 3, 4, 5]; // kh, kw, in, out
    const hwio = Float32Array.from({ length: 120 }, (_, i) => i);
    const oihw = hwioToOihw(hwio, shape);
    // element (h=1, w=2, i=3, o=4) sits at ((o*in + i)*kh + h)*kw + w in OIHW
    expect(oihw[((4 * 4 + 3) * 2 + 1) * 3 + 2]).toBe(((1 * 3 + 2) * 4 + 3) * 5 + 4);
    expect(oihwToHwio(oihw, [5, 4, 2, 3])).toEqual(hwio);
    // Shapes that span several 32x32 tiles, against a naive index computation.
    for (const [co, ci, kh, kw] of [[70, 33, 3, 3], [33, 70, 1, 1], [5, 3, 1, 7], [1, 1, 1, 1]]) {
      const src = Float32Array.from({ length: co * ci * kh * kw }, (_, i) => i * 0.5 - 3);
      const naive = new Float32Array(src.length);
      for (let o = 0; o < co; o++)
        for (let i = 0; i < ci; i++)
          for (let h = 0; h < kh; h++)
            for (let w = 0; w < kw; w++) naive[((h * kw + w) * ci + i) * co + o] = src[((o * ci + i) * kh + h) * kw + w];
      expect(oihwToHwio(src, [co, ci, kh, kw])).toEqual(naive);
      expect(hwioToOihw(naive, [kh, kw, ci, co])).toEqual(src);
    }
    const m = Float32Array.from({ length: 6 }, (_, i) => i);
    expect([...transpose2d(m, [2, 3])]).toEqual([0, 3, 1, 4, 2, 5]);
  });
});
