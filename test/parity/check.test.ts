/**
 * checkParity's rules on thin models (onnxruntime against tfjs-wasm): outputs of different kinds
 * or class counts made comparable (and said so), usage errors, warnings.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildGraph, seededModel, withClasses, withSoftmax, writeModel } from '../../src/index.js';
import { checkParity } from '../../src/parity/check.js';
import { UsageError } from '../../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'weightport-check-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const model = seededModel(buildGraph('inception_v4', { widthDivisor: 16 }), { seed: 9 });

describe('checkParity', () => {
  it('a model ending in a softmax against one ending in logits: compared as probabilities, and said so', async () => {
    const path = join(dir, 'softmax.onnx');
    await writeModel(withSoftmax(model, true), path, { to: 'onnx' });
    const report = await checkParity(path, { against: model });
    const c = report.comparisons[0];
    expect(report.verdict).toBe('pass');
    expect(c.output!.kind).toBe('probabilities');
    expect(c.outputAlignment).toMatch(/reference outputs logits and the checked model probabilities/);
    expect(c.output!.top1Agrees).toBe(true);
  });

  it('1001 classes against 1000: the background class is left out, and said so', async () => {
    const path = join(dir, 'c1001.onnx');
    await writeModel(withClasses(model, 1001), path, { to: 'onnx' });
    const report = await checkParity(path, { against: model });
    const c = report.comparisons[0];
    expect(report.verdict).toBe('pass');
    expect(c.classAlignment).toMatch(/1001 classes against 1000/);
    expect(c.output!.maxAbs).toBeLessThan(1e-4);
  });

  it('the engines time themselves and the check says what it spent preparing models', async () => {
    const path = join(dir, 'plain.onnx');
    await writeModel(model, path, { to: 'onnx' });
    const report = await checkParity(path, { against: model });
    expect(report.engines.map((e) => [e.engine, e.role, e.status])).toEqual([
      ['tfjs-wasm', 'reference', 'ran'],
      ['ort', 'checked', 'ran'],
    ]);
    for (const e of report.engines) {
      expect(e.createMs).toBeGreaterThan(0);
      expect(e.runMs).toBeGreaterThan(0);
    }
    expect(report.timing.totalMs).toBeGreaterThanOrEqual(report.timing.enginesMs + report.timing.prepareMs);
    expect(report.engines[0].written).toBe(true);
    expect(report.engines[1].written).toBe(false);
  });

  it.each([
    [{ layers: true, reference: 'x.npy' }, /--layers/],
    [{ against: 'a.onnx', reference: 'x.npy' }, /not both/],
    [{ atol: 0 }, /--atol/],
    [{ engines: ['gpu'] }, /unknown engine/],
  ])('%j is a usage error', async (options, message) => {
    const e = await checkParity(join(dir, 'plain.onnx'), options as never).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(UsageError);
    expect((e as Error).message).toMatch(message);
  });
});
