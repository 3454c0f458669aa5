import { describe, expect, it } from 'vitest';
import { blockStats, buildGraph, countGraph, graphParams, inferShapes, sizeOf } from '../../src/graphs/index.js';

describe('canonical graphs: published parameter and multiply-add counts', () => {
  it.each([
    ['inception_v4', 'timm', 42_679_816, 12.25e9],
    ['inception_resnet_v2', 'timm', 55_843_464, 13.16e9],
    ['inception_resnet_v2', 'keras', 55_873_736, 13.16e9],
  ] as const)('%s, %s counting: %d parameters, %d multiply-adds', (arch, counting, params, macs) => {
    const stats = countGraph(buildGraph(arch), counting);
    expect(stats.params).toBe(params);
    expect(Math.abs(stats.macs - macs) / macs).toBeLessThan(0.01);
  });
});

describe('canonical graphs: known feature-map shapes (NCHW, per sample)', () => {
  it.each([
    ['inception_v4', 'Mixed_5e', [384, 35, 35]],
    ['inception_v4', 'Mixed_6h', [1024, 17, 17]],
    ['inception_v4', 'Mixed_7d', [1536, 8, 8]],
    ['inception_resnet_v2', 'Mixed_5b', [320, 35, 35]],
    ['inception_resnet_v2', 'Mixed_6a', [1088, 17, 17]],
    ['inception_resnet_v2', 'Mixed_7a', [2080, 8, 8]],
    ['inception_resnet_v2', 'Conv2d_7b_1x1/Relu', [1536, 8, 8]],
  ] as const)('%s %s is %j', (arch, node, shape) => {
    expect(inferShapes(buildGraph(arch)).get(node)).toEqual(shape);
  });
});

describe('canonical graphs: options', () => {
  it.each(['inception_v4', 'inception_resnet_v2'] as const)('%s: 1001 classes and the aux head add the right parameters', (arch) => {
    const base = countGraph(buildGraph(arch)).params;
    const more = countGraph(buildGraph(arch, { classes: 1001 })).params;
    expect(more - base).toBe(1536 + 1); // one more row of the logits weights and one bias
    const g = buildGraph(arch, { aux: true });
    expect(g.outputs.aux).toBeDefined();
    expect(inferShapes(g).get(g.outputs.aux!)).toEqual([1000]);
    // Aux head: 1x1 conv to 128, a 5x5 conv to 768 (with BN), and a dense to the classes.
    const auxParams = countGraph(g).params - base;
    expect(auxParams).toBe((g.arch === 'inception_v4' ? 1024 : 1088) * 128 + 2 * 128 + 128 * 25 * 768 + 2 * 768 + 768 * 1000 + 1000);
  });

  it.each(['inception_v4', 'inception_resnet_v2'] as const)('%s: a thin variant keeps topology and names', (arch) => {
    const full = buildGraph(arch);
    const thin = buildGraph(arch, { widthDivisor: 8 });
    expect(thin.nodes.map((n) => `${n.op} ${n.name} ${n.block}`)).toEqual(full.nodes.map((n) => `${n.op} ${n.name} ${n.block}`));
    const thinParams = graphParams(thin);
    expect(thinParams.map((p) => p.name)).toEqual(graphParams(full).map((p) => p.name));
    expect(thinParams.find((p) => p.name === 'Conv2d_1a_3x3/weights')!.shape).toEqual([4, 3, 3, 3]);
    expect(countGraph(thin).params).toBeLessThan(countGraph(full).params / 30);
  });

  it('a smaller input changes spatial sizes but not parameters (without the aux head)', () => {
    const g = buildGraph('inception_v4', { inputSize: 160 });
    expect(countGraph(g).params).toBe(42_679_816);
    expect(inferShapes(g).get('Mixed_7d')).toEqual([1536, 3, 3]);
  });

  it('rejects inputs too small for the stem, and bad options', () => {
    expect(() => buildGraph('inception_resnet_v2', { inputSize: 64 })).toThrow(/inputSize/);
    expect(() => buildGraph('inception_v4', { classes: 0 })).toThrow(/classes/);
    expect(() => buildGraph('inception_v4', { widthDivisor: 1.5 })).toThrow(/widthDivisor/);
  });

  it('SAME convs have symmetric explicit pads and stride-2 units are VALID', () => {
    for (const n of buildGraph('inception_resnet_v2').nodes) {
      if (n.op !== 'conv2d' && n.op !== 'maxpool' && n.op !== 'avgpool') continue;
      const [t, l, b, r] = n.pads;
      expect(t).toBe(b);
      expect(l).toBe(r);
      if (n.stride[0] === 2) expect(n.pads).toEqual([0, 0, 0, 0]);
      if (n.op === 'avgpool') expect(n.countIncludePad).toBe(false);
    }
  });

  it('IRv2 residual scales: 0.17 x10, 0.10 x20, 0.20 x9, then 1.0 without ReLU', () => {
    const res = buildGraph('inception_resnet_v2').nodes.filter((n) => n.op === 'residual');
    expect(res.map((n) => (n.op === 'residual' ? `${n.scale}${n.relu ? '' : '!'}` : ''))).toEqual([
      ...Array(10).fill('0.17'),
      ...Array(20).fill('0.1'),
      ...Array(9).fill('0.2'),
      '1!',
    ]);
  });

  it('blocks are contiguous, in order, with the block output last', () => {
    const g = buildGraph('inception_resnet_v2', { aux: true });
    const blocks = blockStats(g);
    expect(blocks.map((b) => b.block).slice(0, 8)).toEqual([
      'Conv2d_1a_3x3', 'Conv2d_2a_3x3', 'Conv2d_2b_3x3', 'MaxPool_3a_3x3', 'Conv2d_3b_1x1', 'Conv2d_4a_3x3', 'MaxPool_5a_3x3', 'Mixed_5b',
    ]);
    expect(new Set(blocks.map((b) => b.block)).size).toBe(blocks.length);
    expect(blocks.find((b) => b.block === 'Repeat/block35_1')!.output).toBe('Repeat/block35_1');
    expect(blocks.reduce((s, b) => s + b.params, 0)).toBe(countGraph(g).params);
    expect(sizeOf(blocks.at(-1)!.shape)).toBe(1000);
  });
});
