/**
 * Inception-v4 (Szegedy et al. 2016, arXiv:1602.07261, figures 3-9), named as TF-slim's
 * research/slim/nets/inception_v4.py names its scopes.
 */
import { createBuilder, resolveOptions, type Builder } from './builder.js';
import type { BuildOptions, Graph } from './ir.js';

const VALID = { padding: 'VALID' } as const;
const VALID_S2 = { stride: 2, padding: 'VALID' } as const;

/** Inception-A (Mixed_5b..5e): 35x35x384. */
function blockA(b: Builder, name: string, x: string): string {
  b.block(name);
  const { ch } = b;
  const b0 = b.convUnit(`${name}/Branch_0/Conv2d_0a_1x1`, x, ch(96), 1);
  let b1 = b.convUnit(`${name}/Branch_1/Conv2d_0a_1x1`, x, ch(64), 1);
  b1 = b.convUnit(`${name}/Branch_1/Conv2d_0b_3x3`, b1, ch(96), 3);
  let b2 = b.convUnit(`${name}/Branch_2/Conv2d_0a_1x1`, x, ch(64), 1);
  b2 = b.convUnit(`${name}/Branch_2/Conv2d_0b_3x3`, b2, ch(96), 3);
  b2 = b.convUnit(`${name}/Branch_2/Conv2d_0c_3x3`, b2, ch(96), 3);
  let b3 = b.avgPool(`${name}/Branch_3/AvgPool_0a_3x3`, x, 3);
  b3 = b.convUnit(`${name}/Branch_3/Conv2d_0b_1x1`, b3, ch(96), 1);
  return b.concat(name, [b0, b1, b2, b3]);
}

/** Reduction-A (Mixed_6a): 35x35 -> 17x17x1024. */
function reductionA(b: Builder, name: string, x: string): string {
  b.block(name);
  const { ch } = b;
  const b0 = b.convUnit(`${name}/Branch_0/Conv2d_1a_3x3`, x, ch(384), 3, VALID_S2);
  let b1 = b.convUnit(`${name}/Branch_1/Conv2d_0a_1x1`, x, ch(192), 1);
  b1 = b.convUnit(`${name}/Branch_1/Conv2d_0b_3x3`, b1, ch(224), 3);
  b1 = b.convUnit(`${name}/Branch_1/Conv2d_1a_3x3`, b1, ch(256), 3, VALID_S2);
  const b2 = b.maxPool(`${name}/Branch_2/MaxPool_1a_3x3`, x, 3, VALID_S2);
  return b.concat(name, [b0, b1, b2]);
}

/** Inception-B (Mixed_6b..6h): 17x17x1024. */
function blockB(b: Builder, name: string, x: string): string {
  b.block(name);
  const { ch } = b;
  const b0 = b.convUnit(`${name}/Branch_0/Conv2d_0a_1x1`, x, ch(384), 1);
  let b1 = b.convUnit(`${name}/Branch_1/Conv2d_0a_1x1`, x, ch(192), 1);
  b1 = b.convUnit(`${name}/Branch_1/Conv2d_0b_1x7`, b1, ch(224), [1, 7]);
  b1 = b.convUnit(`${name}/Branch_1/Conv2d_0c_7x1`, b1, ch(256), [7, 1]);
  let b2 = b.convUnit(`${name}/Branch_2/Conv2d_0a_1x1`, x, ch(192), 1);
  b2 = b.convUnit(`${name}/Branch_2/Conv2d_0b_7x1`, b2, ch(192), [7, 1]);
  b2 = b.convUnit(`${name}/Branch_2/Conv2d_0c_1x7`, b2, ch(224), [1, 7]);
  b2 = b.convUnit(`${name}/Branch_2/Conv2d_0d_7x1`, b2, ch(224), [7, 1]);
  b2 = b.convUnit(`${name}/Branch_2/Conv2d_0e_1x7`, b2, ch(256), [1, 7]);
  let b3 = b.avgPool(`${name}/Branch_3/AvgPool_0a_3x3`, x, 3);
  b3 = b.convUnit(`${name}/Branch_3/Conv2d_0b_1x1`, b3, ch(128), 1);
  return b.concat(name, [b0, b1, b2, b3]);
}

/** Reduction-B (Mixed_7a): 17x17 -> 8x8x1536. */
function reductionB(b: Builder, name: string, x: string): string {
  b.block(name);
  const { ch } = b;
  let b0 = b.convUnit(`${name}/Branch_0/Conv2d_0a_1x1`, x, ch(192), 1);
  b0 = b.convUnit(`${name}/Branch_0/Conv2d_1a_3x3`, b0, ch(192), 3, VALID_S2);
  let b1 = b.convUnit(`${name}/Branch_1/Conv2d_0a_1x1`, x, ch(256), 1);
  b1 = b.convUnit(`${name}/Branch_1/Conv2d_0b_1x7`, b1, ch(256), [1, 7]);
  b1 = b.convUnit(`${name}/Branch_1/Conv2d_0c_7x1`, b1, ch(320), [7, 1]);
  b1 = b.convUnit(`${name}/Branch_1/Conv2d_1a_3x3`, b1, ch(320), 3, VALID_S2);
  const b2 = b.maxPool(`${name}/Branch_2/MaxPool_1a_3x3`, x, 3, VALID_S2);
  return b.concat(name, [b0, b1, b2]);
}

/** Inception-C (Mixed_7b..7d): 8x8x1536. */
function blockC(b: Builder, name: string, x: string): string {
  b.block(name);
  const { ch } = b;
  const b0 = b.convUnit(`${name}/Branch_0/Conv2d_0a_1x1`, x, ch(256), 1);
  const b1 = b.convUnit(`${name}/Branch_1/Conv2d_0a_1x1`, x, ch(384), 1);
  const b1cat = b.concat(`${name}/Branch_1/concat`, [
    b.convUnit(`${name}/Branch_1/Conv2d_0b_1x3`, b1, ch(256), [1, 3]),
    b.convUnit(`${name}/Branch_1/Conv2d_0c_3x1`, b1, ch(256), [3, 1]),
  ]);
  let b2 = b.convUnit(`${name}/Branch_2/Conv2d_0a_1x1`, x, ch(384), 1);
  b2 = b.convUnit(`${name}/Branch_2/Conv2d_0b_3x1`, b2, ch(448), [3, 1]);
  b2 = b.convUnit(`${name}/Branch_2/Conv2d_0c_1x3`, b2, ch(512), [1, 3]);
  const b2cat = b.concat(`${name}/Branch_2/concat`, [
    b.convUnit(`${name}/Branch_2/Conv2d_0d_1x3`, b2, ch(256), [1, 3]),
    b.convUnit(`${name}/Branch_2/Conv2d_0e_3x1`, b2, ch(256), [3, 1]),
  ]);
  let b3 = b.avgPool(`${name}/Branch_3/AvgPool_0a_3x3`, x, 3);
  b3 = b.convUnit(`${name}/Branch_3/Conv2d_0b_1x1`, b3, ch(256), 1);
  return b.concat(name, [b0, b1cat, b2cat, b3]);
}

export function inceptionV4(opts: BuildOptions = {}): Graph {
  const options = resolveOptions(opts);
  const b = createBuilder('inception_v4', options);
  const { ch } = b;
  let x = b.input;
  const unit = (name: string, out: number, k: number, o?: { stride?: number; padding?: 'SAME' | 'VALID' }) => {
    b.block(name);
    x = b.convUnit(name, x, ch(out), k, o);
  };
  unit('Conv2d_1a_3x3', 32, 3, VALID_S2); // 149x149x32
  unit('Conv2d_2a_3x3', 32, 3, VALID); // 147x147x32
  unit('Conv2d_2b_3x3', 64, 3); // 147x147x64

  b.block('Mixed_3a'); // 73x73x160
  x = b.concat('Mixed_3a', [
    b.maxPool('Mixed_3a/Branch_0/MaxPool_0a_3x3', x, 3, VALID_S2),
    b.convUnit('Mixed_3a/Branch_1/Conv2d_0a_3x3', x, ch(96), 3, VALID_S2),
  ]);

  b.block('Mixed_4a'); // 71x71x192
  let m0 = b.convUnit('Mixed_4a/Branch_0/Conv2d_0a_1x1', x, ch(64), 1);
  m0 = b.convUnit('Mixed_4a/Branch_0/Conv2d_1a_3x3', m0, ch(96), 3, VALID);
  let m1 = b.convUnit('Mixed_4a/Branch_1/Conv2d_0a_1x1', x, ch(64), 1);
  m1 = b.convUnit('Mixed_4a/Branch_1/Conv2d_0b_1x7', m1, ch(64), [1, 7]);
  m1 = b.convUnit('Mixed_4a/Branch_1/Conv2d_0c_7x1', m1, ch(64), [7, 1]);
  m1 = b.convUnit('Mixed_4a/Branch_1/Conv2d_1a_3x3', m1, ch(96), 3, VALID);
  x = b.concat('Mixed_4a', [m0, m1]);

  b.block('Mixed_5a'); // 35x35x384
  x = b.concat('Mixed_5a', [
    b.convUnit('Mixed_5a/Branch_0/Conv2d_1a_3x3', x, ch(192), 3, VALID_S2),
    b.maxPool('Mixed_5a/Branch_1/MaxPool_1a_3x3', x, 3, VALID_S2),
  ]);

  for (const s of 'bcde') x = blockA(b, `Mixed_5${s}`, x);
  x = reductionA(b, 'Mixed_6a', x);
  for (const s of 'bcdefgh') x = blockB(b, `Mixed_6${s}`, x);
  const preAux = x;
  x = reductionB(b, 'Mixed_7a', x);
  for (const s of 'bcd') x = blockC(b, `Mixed_7${s}`, x);

  // TF-slim sizes the aux head's second conv to its map (5x5 at 299), so that its output is 1x1.
  return b.finishWithHeads(x, preAux, { pool: 'Logits/AvgPool_1a', auxConv: 'AuxLogits/Conv2d_2a', auxLogits: 'AuxLogits/Aux_logits' });
}
