/**
 * First diverging layer: each classic porting bug is injected into one side of a thin model
 * (the buggy model written as ONNX with its block outputs exposed, run in onnxruntime; the
 * correct one written as tfjs by the check and run in tfjs-wasm), and the check must fail and put
 * the first divergence at the block the bug is in.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildGraph, seededModel, withClasses, writeModel } from '../../src/index.js';
import { checkParity } from '../../src/parity/check.js';
import { PORTING_BUGS } from './porting-bugs.js';

const dir = mkdtempSync(join(tmpdir(), 'weightport-layers-'));
const results: { bug: string; caught: boolean; localised: boolean; at?: string }[] = [];

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  const caught = results.filter((r) => r.caught).length;
  const localised = results.filter((r) => r.localised).length;
  console.log(`injected porting bugs (${PORTING_BUGS.length} bugs, ${results.length} injections): ${caught}/${results.length} caught, ${localised}/${results.length} localised at the right block`);
  for (const r of results) console.log(`  ${r.caught ? 'caught' : 'MISSED'}, ${r.localised ? 'localised' : `NOT localised (${r.at ?? 'no block'})`}: ${r.bug}`);
});

describe('first diverging layer', () => {
  it.each(['inception_v4', 'inception_resnet_v2'] as const)('a correct %s port passes at every block', async (arch) => {
    const model = seededModel(buildGraph(arch, { widthDivisor: 8 }), { seed: 3 });
    const path = join(dir, `${arch}.onnx`);
    await writeModel(model, path, { to: 'onnx', exposeBlocks: true });
    const report = await checkParity(path, { against: model, layers: true });
    expect(report.verdict).toBe('pass');
    const c = report.comparisons[0];
    expect(c.layers!.length).toBeGreaterThan(20);
    expect(c.layers!.every((l) => l.pass)).toBe(true);
    expect(c.firstDivergence).toBeUndefined();
    expect(report.warnings).toEqual([]);
  });

  it('an ONNX file written without block outputs gets them exposed for the search', async () => {
    const bug = PORTING_BUGS.find((b) => b.block === 'Mixed_6b')!;
    const right = seededModel(buildGraph(bug.arch, { widthDivisor: 8 }), { seed: 3 });
    const path = join(dir, 'plain.onnx');
    await writeModel(bug.inject(right), path, { to: 'onnx' });
    const report = await checkParity(path, { against: right, layers: true });
    expect(report.verdict).toBe('fail');
    expect(report.comparisons[0].firstDivergence?.block).toBe('Mixed_6b');
    expect(report.engines.find((e) => e.engine === 'ort')!.model).toMatch(/plain\.onnx \(a copy with \d+ block outputs\)/);
  });

  const cases = PORTING_BUGS.flatMap((b) => (['onnx', 'tfjs'] as const).map((side) => [`${b.name} (buggy side: ${side})`, b, side] as const));
  it.each(cases)('%s: caught and put at its block', async (label, bug, side) => {
    const right = seededModel(buildGraph(bug.arch, { widthDivisor: 8, classes: bug.classes ?? 1000 }), { seed: 3 });
    const correct = bug.classes === 1001 ? withClasses(right, 1000) : right;
    const path = join(dir, `bug-${results.length}.${side}`);
    try {
      await writeModel(bug.inject(right), path, { to: side, exposeBlocks: true });
    } catch (e) {
      // tfjs cannot express every graph change (an average pool that counts its padding):
      // that bug is then only injected on the ONNX side.
      expect(side).toBe('tfjs');
      console.log(`not injected on the ${side} side (the writer refuses it: ${(e as Error).message})`);
      return;
    }
    const report = await checkParity(path, { against: correct, layers: true });
    const c = report.comparisons[0];
    const at = c.firstDivergence?.block;
    results.push({ bug: label, caught: report.verdict === 'fail', localised: at === bug.block, at });
    expect(report.verdict).toBe('fail');
    expect(at).toBe(bug.block);
    // Every block before it agrees, and the report says how much the one before it differs.
    const idx = c.layers!.findIndex((l) => l.block === bug.block);
    expect(c.layers!.slice(0, idx).every((l) => l.pass)).toBe(true);
    if (idx > 0) expect(c.firstDivergence!.previous!.block).toBe(c.layers![idx - 1].block);
    if (bug.classes === 1001) expect(c.diagnosis).toMatch(/shifted by one/);
  });
});
