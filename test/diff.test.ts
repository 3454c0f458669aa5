/**
 * `port diff` and its library function: two models in any formats compared on the canonical
 * graph. Seeded thin models written by our writers (one parameter perturbed, BN folded on one
 * side, 1001 vs 1000 classes, float16, another width, another architecture), timm's own file
 * against torch's ONNX exports of the same model, and the CLI (text, --json, exit codes).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_DIFF_ATOL, diffFiles, diffModels } from '../src/diff.js';
import { buildGraph, type Arch } from '../src/graphs/index.js';
import { seededModel } from '../src/graphs/init.js';
import { withClasses } from '../src/graphs/transforms.js';
import { createModel, type CanonicalModel, type ParamSource } from '../src/model.js';
import { WRITERS, type TargetFormat, type WriteOptions } from '../src/writers/index.js';
import { runCli } from './helpers/cli.js';
import { cacheDir, python } from './helpers/python.js';
import { defaultInputNpy, TIMM_SCRIPT } from './helpers/timm.js';

const dir = mkdtempSync(join(tmpdir(), 'wp-diff-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const thin = (arch: Arch = 'inception_v4', opts = {}) => seededModel(buildGraph(arch, { widthDivisor: 16, ...opts }), { seed: 8 });
let n = 0;
async function write(model: CanonicalModel, to: TargetFormat, options: WriteOptions = {}): Promise<string> {
  const path = join(dir, `m${n++}.${to === 'tfjs' ? 'tfjs' : to}`);
  await WRITERS.find((w) => w.format === to)!.write(model, path, options);
  return path;
}
const has = (f: TargetFormat) => WRITERS.some((w) => w.format === f);

/** The model with `delta` added to element `at` of one parameter. */
function perturbed(model: CanonicalModel, param: string, at: number, delta: number): CanonicalModel {
  const values = new Map<string, ParamSource>(
    model.params.map((p) => [
      p.name,
      p.name !== param
        ? () => p.read()
        : async () => {
            const v = Float32Array.from(await p.read());
            v[at] += delta;
            return v;
          },
    ]),
  );
  return createModel(model.graph, values, model.provenance);
}

describe('diffModels', () => {
  it('equal, within atol, beyond it: per parameter max and mean |a - b|', async () => {
    const a = thin();
    const r = await diffModels(a, perturbed(perturbed(a, 'Mixed_6b/Branch_0/Conv2d_0a_1x1/weights', 5, 0.25), 'Logits/Logits/biases', 0, 1e-7));
    expect(r.atol).toBe(DEFAULT_DIFF_ATOL);
    const p = r.params.find((x) => x.name === 'Mixed_6b/Branch_0/Conv2d_0a_1x1/weights')!;
    expect(p.status).toBe('differs');
    expect(p.maxAbs).toBeCloseTo(0.25, 6);
    expect(p.over).toBe(1);
    expect(p.meanAbs! * 24 * 64).toBeCloseTo(0.25, 5); // one element of 24 x 64 x 1 x 1
    expect(r.params.find((x) => x.name === 'Logits/Logits/biases')!.status).toBe('within');
    expect(r.summary).toMatchObject({ differs: 1, within: 1, shape: 0, onlyA: 0, onlyB: 0, worst: 'Mixed_6b/Branch_0/Conv2d_0a_1x1/weights' });
    expect(r.summary.equal).toBe(r.summary.compared - 2);
  });

  it('NaN against NaN is equal, against a number infinitely different', async () => {
    const a = thin();
    const nan = perturbed(a, 'Conv2d_1a_3x3/weights', 0, NaN);
    expect((await diffModels(nan, nan)).summary.differs).toBe(0);
    expect((await diffModels(a, nan)).summary.maxAbs).toBe(Infinity);
  });
});

describe.skipIf(!has('onnx') || !has('safetensors'))('diffFiles: any two formats', () => {
  it('the same model as safetensors (timm naming) and ONNX: the same, bit for bit', async () => {
    const m = thin('inception_resnet_v2');
    const r = await diffFiles(await write(m, 'safetensors', { naming: 'timm' }), await write(m, 'onnx'));
    expect(r.same).toBe(true);
    expect(r.a).toMatchObject({ format: 'safetensors', scheme: 'timm', arch: 'inception_resnet_v2', foldedBn: false, dtypes: ['float32'] });
    expect(r.b).toMatchObject({ format: 'onnx', scheme: 'onnx' });
    expect(r.summary.equal).toBe(r.summary.compared);
    expect(r.notes).toEqual([]);
  });

  it('one perturbed weight: found, with its max and mean difference', async () => {
    const m = thin();
    const r = await diffFiles(await write(m, 'safetensors'), await write(perturbed(m, 'Mixed_5c/Branch_2/Conv2d_0b_3x3/weights', 7, -0.5), 'onnx'));
    expect(r.same).toBe(false);
    expect(r.summary).toMatchObject({ differs: 1, worst: 'Mixed_5c/Branch_2/Conv2d_0b_3x3/weights' });
    expect(r.summary.maxAbs).toBeCloseTo(0.5, 6);
  });

  it('BN folded on one side: the other is folded for the comparison (or, with fold: false, reported missing)', async () => {
    const m = thin('inception_resnet_v2');
    const [a, b] = [await write(m, 'safetensors'), await write(m, 'onnx', { foldBn: true })];
    const r = await diffFiles(a, b);
    expect(r.b.foldedBn).toBe(true);
    expect(r.notes.join()).toMatch(/b has batch norm folded into its convs: a was folded the same way/);
    expect(r.same).toBe(true);
    const raw = await diffFiles(a, b, { fold: false });
    expect(raw.same).toBe(false);
    expect(raw.params.find((p) => p.name === 'Conv2d_1a_3x3/BatchNorm/gamma')!.status).toBe('only-a');
    expect(raw.params.find((p) => p.name === 'Conv2d_1a_3x3/biases')!.status).toBe('only-b');
  });

  it('1001 classes against 1000: the background class is dropped; auxiliary heads compared with aux', async () => {
    const m = thin('inception_v4', { classes: 1001, aux: true });
    const r = await diffFiles(await write(m, 'onnx'), await write(withClasses(m, 1000), 'safetensors'), { aux: true });
    expect(r.notes.join()).toMatch(/a has 1001 classes: its background class \(0\) was dropped/);
    expect(r.same).toBe(true);
    expect(r.params.some((p) => p.name.startsWith('AuxLogits/'))).toBe(true);
    // an auxiliary head on one side only
    const noAux = thin('inception_v4');
    const r2 = await diffFiles(await write(m, 'onnx'), await write(noAux, 'onnx'), { aux: true });
    expect(r2.summary.onlyA).toBeGreaterThan(0);
    expect(r2.params.find((p) => p.name === 'AuxLogits/Aux_logits/weights')!.status).toBe('only-a');
  });

  it('float16 against float32: noted, differences of float16 rounding', async () => {
    const m = thin();
    const r = await diffFiles(await write(m, 'onnx', { dtype: 'float16' }), await write(m, 'onnx'));
    expect(r.notes.join()).toMatch(/stored element types differ: a float16, b float32/);
    expect(r.same).toBe(false);
    expect(r.summary.maxAbs).toBeGreaterThan(1e-5);
    expect(r.summary.maxAbs).toBeLessThan(1e-2);
    expect((await diffFiles(await write(m, 'onnx', { dtype: 'float16' }), await write(m, 'onnx'), { atol: 1e-2 })).same).toBe(true);
  });

  it('another width: shape mismatches; another architecture: said so', async () => {
    const r = await diffFiles(await write(thin(), 'onnx'), await write(seededModel(buildGraph('inception_v4', { widthDivisor: 8 }), { seed: 8 }), 'onnx'));
    expect(r.summary.shape).toBe(r.params.length - 1); // all but the logits' biases [1000]
    const r2 = await diffFiles(await write(thin('inception_v4'), 'onnx'), await write(thin('inception_resnet_v2'), 'onnx'));
    expect(r2.same).toBe(false);
    expect(r2.notes.join()).toMatch(/the architectures differ: a is inception_v4, b is inception_resnet_v2/);
  });
});

const py = python('torch');
describe.skipIf(!py.ok)(`diff: timm's own file against torch's ONNX exports of it${py.ok ? '' : ` (skipped: ${py.reason})`}`, () => {
  it.each(['inception_v4', 'inception_resnet_v2'] as const)('%s (width / 16): BN kept bit for bit, BN folded by torch within 1e-5', async (arch) => {
    const cache = cacheDir('onnx-torch-d16'); // shared with test/readers/onnx-torch.test.ts
    const tag = `${arch}_d16`;
    const files = [`timm_${tag}.safetensors`, `timm_${tag}.opset17.bn.onnx`, `timm_${tag}.opset17.folded.onnx`].map((f) => join(cache, f));
    if (!files.every(existsSync))
      py.run(TIMM_SCRIPT, ['make', '--arch', arch, '--width-divisor', '16', '--seed', '7', '--onnx', '--out', cache, '--input', await defaultInputNpy(cache)]);
    const kept = await diffFiles(files[0], files[1]);
    expect(kept.a.scheme).toBe('timm');
    expect(kept.b.scheme).toBe('onnx');
    expect(kept.same).toBe(true);
    expect(kept.summary.equal).toBe(kept.summary.compared);
    const folded = await diffFiles(files[0], files[2], { atol: 1e-5 });
    console.log(`${arch}: timm safetensors vs torch's BN-folded ONNX: max |a-b| ${folded.summary.maxAbs.toExponential(2)} (${folded.summary.worst})`);
    expect(folded.notes.join()).toMatch(/b has batch norm folded/);
    expect(folded.same).toBe(true);
  }, 600_000);
});

describe.skipIf(!has('onnx') || !has('safetensors'))('port diff (CLI)', () => {
  it('the same: exit 0, a summary; different: exit 1, the parameter named; --json', async () => {
    const m = thin();
    const [a, b] = [await write(m, 'safetensors'), await write(m, 'onnx')];
    const c = await write(perturbed(m, 'Mixed_7b/Branch_3/Conv2d_0b_1x1/weights', 0, 1e-3), 'onnx');
    const same = runCli(['diff', a, b]);
    expect(same.code, same.stderr).toBe(0);
    expect(same.stdout).toMatch(/^a: .*\(safetensors, canonical naming, inception_v4, 1000 classes, float32\)$/m);
    expect(same.stdout).toMatch(/the same within --atol 1e-6/);
    const differ = runCli(['diff', a, c]);
    expect(differ.code).toBe(1);
    expect(differ.stdout).toMatch(/^Mixed_7b\/Branch_3\/Conv2d_0b_1x1\/weights\s+differs\s+16x96x1x1\s+1\.00e-3/m);
    expect(differ.stderr).toMatch(/^port: diff: .* differ: 1 parameters differ beyond --atol 1e-6 \(max 1\.00e-3 in Mixed_7b/m);
    expect(runCli(['diff', a, c, '--atol', '0.01']).code).toBe(0);
    const json = runCli(['diff', a, c, '--json']);
    expect(json.code).toBe(1);
    const report = JSON.parse(json.stdout);
    expect(report.summary).toMatchObject({ differs: 1, worst: 'Mixed_7b/Branch_3/Conv2d_0b_1x1/weights' });
  });

  it('bad input exits 3, a bad --atol exits 2', async () => {
    const a = await write(thin(), 'onnx');
    expect(runCli(['diff', a, join(dir, 'missing.onnx')]).code).toBe(3);
    expect(runCli(['diff', a, a, '--atol', '-1']).code).toBe(2);
  });
});
