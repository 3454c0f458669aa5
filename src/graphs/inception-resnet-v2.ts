/**
 * Inception-ResNet-v2 (Szegedy et al. 2016, arXiv:1602.07261, figures 3, 7, 16-20), named as
 * TF-slim's research/slim/nets/inception_resnet_v2.py names its scopes.
 */
import { createBuilder, resolveOptions, type Builder } from './builder.js';
import type { BuildOptions, Graph } from './ir.js';

const VALID = { padding: 'VALID' } as const;
const VALID_S2 = { stride: 2, padding: 'VALID' } as const;

/** Residual scales and repeat counts of TF-slim's defaults. */
export const IRV2_BLOCKS = {
  block35: { scope: 'Repeat', count: 10, scale: 0.17 },
  block17: { scope: 'Repeat_1', count: 20, scale: 0.1 },
  block8: { scope: 'Repeat_2', count: 9, scale: 0.2 },
} as const;

/**
 * The residual unit: branches, a 1x1 up-projection with bias back to the input's width, then
 * `x + scale * up` and (except for the last block8) ReLU.
 */
function residual(b: Builder, name: string, x: string, branches: string[], scale: number, relu: boolean): string {
  const mixed = b.concat(`${name}/concat`, branches);
  const up = b.convBias(`${name}/Conv2d_1x1`, mixed, b.channelsOf(x), 1);
  return b.residual(name, x, up, scale, relu);
}

/** 35x35 block (block35, "Inception-ResNet-A"). */
function block35(b: Builder, name: string, x: string, scale: number): string {
  b.block(name);
  const { ch } = b;
  const b0 = b.convUnit(`${name}/Branch_0/Conv2d_1x1`, x, ch(32), 1);
  let b1 = b.convUnit(`${name}/Branch_1/Conv2d_0a_1x1`, x, ch(32), 1);
  b1 = b.convUnit(`${name}/Branch_1/Conv2d_0b_3x3`, b1, ch(32), 3);
  let b2 = b.convUnit(`${name}/Branch_2/Conv2d_0a_1x1`, x, ch(32), 1);
  b2 = b.convUnit(`${name}/Branch_2/Conv2d_0b_3x3`, b2, ch(48), 3);
  b2 = b.convUnit(`${name}/Branch_2/Conv2d_0c_3x3`, b2, ch(64), 3);
  return residual(b, name, x, [b0, b1, b2], scale, true);
}

/** 17x17 block (block17, "Inception-ResNet-B"). */
function block17(b: Builder, name: string, x: string, scale: number): string {
  b.block(name);
  const { ch } = b;
  const b0 = b.convUnit(`${name}/Branch_0/Conv2d_1x1`, x, ch(192), 1);
  let b1 = b.convUnit(`${name}/Branch_1/Conv2d_0a_1x1`, x, ch(128), 1);
  b1 = b.convUnit(`${name}/Branch_1/Conv2d_0b_1x7`, b1, ch(160), [1, 7]);
  b1 = b.convUnit(`${name}/Branch_1/Conv2d_0c_7x1`, b1, ch(192), [7, 1]);
  return residual(b, name, x, [b0, b1], scale, true);
}

/** 8x8 block (block8, "Inception-ResNet-C"). */
function block8(b: Builder, name: string, x: string, scale: number, relu: boolean): string {
  b.block(name);
  const { ch } = b;
  const b0 = b.convUnit(`${name}/Branch_0/Conv2d_1x1`, x, ch(192), 1);
  let b1 = b.convUnit(`${name}/Branch_1/Conv2d_0a_1x1`, x, ch(192), 1);
  b1 = b.convUnit(`${name}/Branch_1/Conv2d_0b_1x3`, b1, ch(224), [1, 3]);
  b1 = b.convUnit(`${name}/Branch_1/Conv2d_0c_3x1`, b1, ch(256), [3, 1]);
  return residual(b, name, x, [b0, b1], scale, relu);
}

export function inceptionResNetV2(opts: BuildOptions = {}): Graph {
  const options = resolveOptions(opts);
  const b = createBuilder('inception_resnet_v2', options);
  const { ch } = b;
  let x = b.input;
  const unit = (name: string, out: number, k: number, o?: { stride?: number; padding?: 'SAME' | 'VALID' }) => {
    b.block(name);
    x = b.convUnit(name, x, ch(out), k, o);
  };
  const pool = (name: string) => {
    b.block(name);
    x = b.maxPool(name, x, 3, VALID_S2);
  };
  unit('Conv2d_1a_3x3', 32, 3, VALID_S2); // 149x149x32
  unit('Conv2d_2a_3x3', 32, 3, VALID); // 147x147x32
  unit('Conv2d_2b_3x3', 64, 3); // 147x147x64
  pool('MaxPool_3a_3x3'); // 73x73x64
  unit('Conv2d_3b_1x1', 80, 1, VALID); // 73x73x80
  unit('Conv2d_4a_3x3', 192, 3, VALID); // 71x71x192
  pool('MaxPool_5a_3x3'); // 35x35x192

  b.block('Mixed_5b'); // 35x35x320
  const m0 = b.convUnit('Mixed_5b/Branch_0/Conv2d_1x1', x, ch(96), 1);
  let m1 = b.convUnit('Mixed_5b/Branch_1/Conv2d_0a_1x1', x, ch(48), 1);
  m1 = b.convUnit('Mixed_5b/Branch_1/Conv2d_0b_5x5', m1, ch(64), 5);
  let m2 = b.convUnit('Mixed_5b/Branch_2/Conv2d_0a_1x1', x, ch(64), 1);
  m2 = b.convUnit('Mixed_5b/Branch_2/Conv2d_0b_3x3', m2, ch(96), 3);
  m2 = b.convUnit('Mixed_5b/Branch_2/Conv2d_0c_3x3', m2, ch(96), 3);
  let m3 = b.avgPool('Mixed_5b/Branch_3/AvgPool_0a_3x3', x, 3);
  m3 = b.convUnit('Mixed_5b/Branch_3/Conv2d_0b_1x1', m3, ch(64), 1);
  x = b.concat('Mixed_5b', [m0, m1, m2, m3]);

  const { block35: a, block17: r, block8: c } = IRV2_BLOCKS;
  for (let i = 1; i <= a.count; i++) x = block35(b, `${a.scope}/block35_${i}`, x, a.scale);

  b.block('Mixed_6a'); // 17x17x1088
  const n0 = b.convUnit('Mixed_6a/Branch_0/Conv2d_1a_3x3', x, ch(384), 3, VALID_S2);
  let n1 = b.convUnit('Mixed_6a/Branch_1/Conv2d_0a_1x1', x, ch(256), 1);
  n1 = b.convUnit('Mixed_6a/Branch_1/Conv2d_0b_3x3', n1, ch(256), 3);
  n1 = b.convUnit('Mixed_6a/Branch_1/Conv2d_1a_3x3', n1, ch(384), 3, VALID_S2);
  const n2 = b.maxPool('Mixed_6a/Branch_2/MaxPool_1a_3x3', x, 3, VALID_S2);
  x = b.concat('Mixed_6a', [n0, n1, n2]);

  for (let i = 1; i <= r.count; i++) x = block17(b, `${r.scope}/block17_${i}`, x, r.scale);
  const preAux = x;

  b.block('Mixed_7a'); // 8x8x2080
  let p0 = b.convUnit('Mixed_7a/Branch_0/Conv2d_0a_1x1', x, ch(256), 1);
  p0 = b.convUnit('Mixed_7a/Branch_0/Conv2d_1a_3x3', p0, ch(384), 3, VALID_S2);
  let p1 = b.convUnit('Mixed_7a/Branch_1/Conv2d_0a_1x1', x, ch(256), 1);
  p1 = b.convUnit('Mixed_7a/Branch_1/Conv2d_1a_3x3', p1, ch(288), 3, VALID_S2);
  let p2 = b.convUnit('Mixed_7a/Branch_2/Conv2d_0a_1x1', x, ch(256), 1);
  p2 = b.convUnit('Mixed_7a/Branch_2/Conv2d_0b_3x3', p2, ch(288), 3);
  p2 = b.convUnit('Mixed_7a/Branch_2/Conv2d_1a_3x3', p2, ch(320), 3, VALID_S2);
  const p3 = b.maxPool('Mixed_7a/Branch_3/MaxPool_1a_3x3', x, 3, VALID_S2);
  x = b.concat('Mixed_7a', [p0, p1, p2, p3]);

  for (let i = 1; i <= c.count; i++) x = block8(b, `${c.scope}/block8_${i}`, x, c.scale, true);
  x = block8(b, 'Block8', x, 1.0, false); // the last block: scale 1, no activation
  unit('Conv2d_7b_1x1', 1536, 1); // 8x8x1536

  return b.finishWithHeads(x, preAux, { pool: 'Logits/AvgPool_1a_8x8', auxConv: 'AuxLogits/Conv2d_2a_5x5', auxLogits: 'AuxLogits/Logits' });
}
