/**
 * writers/float16.ts: float32 -> float16 as every writer's `--dtype float16` does it, bit for bit
 * the general conversion in tensor.ts, and a value float16 cannot hold refused by each writer (a
 * usage error naming the tensor, nothing left behind) instead of written as infinity.
 */
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { buildGraph } from '../../src/graphs/index.js';
import { seededModel } from '../../src/graphs/init.js';
import { createModel, readAll } from '../../src/model.js';
import { float32ToFloat16Bits } from '../../src/tensor.js';
import { toFloat16Checked } from '../../src/writers/float16.js';
import { WRITERS } from '../../src/writers/index.js';

const DIR = mkdtempSync(join(tmpdir(), 'wp-float16-'));

describe('float16 conversion', () => {
  it('is bit for bit float32ToFloat16Bits (round to nearest even), every exponent', () => {
    // Every sign/exponent/top-mantissa pattern, with low bits at and around the rounding points.
    const lows = [0, 0x0fff, 0x1000, 0x1001, 0x2000, 0x3000, 0xe000, 0xffff];
    const bits = new Uint32Array(0x10000 * lows.length);
    for (let hi = 0; hi < 0x10000; hi++) lows.forEach((lo, j) => (bits[hi * lows.length + j] = ((hi << 16) | lo) >>> 0));
    const values = new Float32Array(bits.buffer).filter((x) => Number.isNaN(x) || !Number.isFinite(x) || Math.abs(x) < 65520);
    const expected = Uint16Array.from(values, (x) => float32ToFloat16Bits(x));
    const got = toFloat16Checked(values, 'w');
    const nan = (h: number) => (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
    for (let i = 0; i < values.length; i++) if (got[i] !== expected[i] && !(nan(got[i]) && nan(expected[i]))) expect([values[i], got[i]]).toEqual([values[i], expected[i]]);
  });

  it('refuses values float16 cannot hold, naming the tensor', () => {
    expect([...toFloat16Checked(Float32Array.of(1, -2, 65504, 65519, 1e-8, -0), 'w')]).toEqual([0x3c00, 0xc000, 0x7bff, 0x7bff, 0, 0x8000]);
    expect(() => toFloat16Checked(Float32Array.of(65520), 'w')).toThrow(UsageError);
    expect(() => toFloat16Checked(Float32Array.of(1, 70000), 'Logits/Logits/weights')).toThrow(/70000 in Logits\/Logits\/weights/);
  });
});

describe('--dtype float16 in every writer', () => {
  const model = seededModel(buildGraph('inception_v4', { widthDivisor: 8 }), { seed: 5 });

  it.each(WRITERS.map((w) => [w.format, w] as const))('%s: a value float16 cannot hold fails as a usage error naming the tensor and leaves nothing behind', async (format, writer) => {
    const values = await readAll(model);
    values.get('Logits/Logits/weights')![3] = 1e6;
    const dir = mkdtempSync(join(DIR, `${format}-`));
    const out = join(dir, format === 'tfjs' ? 'model' : `m.${format}`);
    const err = await writer.write(createModel(model.graph, values), out, { dtype: 'float16' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    // the name each format gives the logits' weights
    expect((err as Error).message).toMatch(/1000000 in \S*[Ll]ogits/);
    expect(readdirSync(dir)).toEqual([]);
    // the same values below float16's limit write
    values.get('Logits/Logits/weights')![3] = 60000;
    await expect(writer.write(createModel(model.graph, values), out, { dtype: 'float16' })).resolves.toBeTruthy();
    expect(readdirSync(dir).length).toBeGreaterThan(0);
  });
});
