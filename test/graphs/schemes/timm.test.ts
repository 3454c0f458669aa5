/**
 * The timm naming and scheme, checked against the real timm 1.0.29 (PyTorch): the names, order,
 * shapes and dtypes of `state_dict()`; `load_state_dict(strict=True)` of our files and timm's
 * forward pass against onnxruntime on our ONNX of the same canonical model; and timm's own files
 * read back.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bindModel, readModel, writeModel } from '../../../src/api.js';
import { SchemeError } from '../../../src/errors.js';
import { buildGraph, type Arch } from '../../../src/graphs/index.js';
import { seededModel } from '../../../src/graphs/init.js';
import { canonicalScheme } from '../../../src/graphs/schemes/canonical.js';
import { NAMINGS, SCHEME_LIST } from '../../../src/graphs/schemes/index.js';
import { TIMM_UNITS, timmNaming, timmScheme } from '../../../src/graphs/schemes/timm.js';
import { foldBatchNorm } from '../../../src/graphs/transforms.js';
import { readNpy } from '../../../src/io/npy.js';
import { readAll, type CanonicalModel } from '../../../src/model.js';
import { runOnnx } from '../../../src/parity/ort.js';
import { defaultInput } from '../../../src/parity/input.js';
import type { SourceModel, StoredTensor } from '../../../src/readers/types.js';
import { WRITERS } from '../../../src/writers/index.js';
import { cacheDir, python } from '../../helpers/python.js';
import { assertNonDegenerate, defaultInputNpy, maxAbsDiff, TIMM_SCRIPT, timmLogits, topK } from '../../helpers/timm.js';

const ARCHS: readonly Arch[] = ['inception_v4', 'inception_resnet_v2'];
const py = python('torch');
const noTorch = py.ok ? '' : ` (skipped: ${py.reason})`;
const hasOnnxWriter = () => WRITERS.some((w) => w.format === 'onnx');
const noOnnx = 'no onnx writer registered in src/writers/index.ts yet';

/** A SourceModel with the names and shapes of a naming's layout and no data (for detection and binding). */
function fakeSource(names: readonly { name: string; shape: readonly number[] }[], path = 'fake.safetensors'): SourceModel {
  const tensors: StoredTensor[] = names.map((t) => ({
    name: t.name,
    dtype: 'float32',
    shape: t.shape,
    byteLength: 4 * t.shape.reduce((a, b) => a * b, 1),
    read: async () => new Uint8Array(4 * t.shape.reduce((a, b) => a * b, 1)),
  }));
  return { format: 'safetensors', path, files: [path], metadata: {}, tensors, close: async () => {} };
}

describe('timm naming', () => {
  it('is registered as a scheme and a naming', () => {
    expect(SCHEME_LIST).toContain(timmScheme);
    expect(NAMINGS).toContain(timmNaming);
  });

  it.skipIf(!py.ok)(`lists exactly timm's state_dict: names, order, shapes, dtypes (full size and width / 16)${noTorch}`, () => {
    for (const arch of ARCHS) {
      const ref = JSON.parse(py.run(TIMM_SCRIPT, ['keys', '--arch', arch, '--width-divisors', '1,16'])) as Record<string, [string, number[], string][]>;
      for (const d of [1, 16]) {
        const ours = timmNaming.layout(buildGraph(arch, { widthDivisor: d }));
        expect(ours.map((t) => [t.name, [...t.shape], t.constant?.dtype ?? 'float32'])).toEqual(ref[String(d)]);
      }
      expect(ref['1'].length).toBe(arch === 'inception_v4' ? 896 : 1306);
    }
  });

  it('maps every canonical parameter exactly once, with the identity transform', () => {
    for (const arch of ARCHS) {
      const g = buildGraph(arch, { classes: 1001 });
      const layout = timmNaming.layout(g);
      const params = layout.filter((t) => t.param).map((t) => t.param!);
      expect(new Set(params).size).toBe(params.length);
      expect(new Set(params)).toEqual(new Set(seededModel(g).params.map((p) => p.name)));
      expect(layout.every((t) => !t.param || t.transform?.name === 'none')).toBe(true);
      const constants = layout.filter((t) => t.constant);
      expect(constants.every((t) => t.name.endsWith('.bn.num_batches_tracked') && t.constant!.dtype === 'int64' && t.constant!.value === 0)).toBe(true);
      expect(new Set(TIMM_UNITS[arch].map((u) => u.timm)).size).toBe(TIMM_UNITS[arch].length);
    }
  });

  it('leaves the auxiliary head out (timm has none)', () => {
    for (const arch of ARCHS) {
      const withAux = timmNaming.layout(buildGraph(arch, { aux: true }));
      const without = timmNaming.layout(buildGraph(arch));
      expect(withAux.map((t) => t.name)).toEqual(without.map((t) => t.name));
    }
  });

  it('writes folded batch norm unfolded: bias as bn.bias, gamma 1, mean 0, variance 1 - eps', () => {
    const g = buildGraph('inception_resnet_v2', { widthDivisor: 16 });
    const folded = foldBatchNorm(seededModel(g)).graph;
    const a = timmNaming.layout(g);
    const b = timmNaming.layout(folded);
    expect(b.map((t) => [t.name, t.shape])).toEqual(a.map((t) => [t.name, t.shape]));
    const byName = new Map(b.map((t) => [t.name, t]));
    expect(byName.get('conv2d_1a.bn.bias')!.param).toBe('Conv2d_1a_3x3/biases');
    expect(byName.get('conv2d_1a.bn.weight')!.constant).toEqual({ dtype: 'float32', value: 1 });
    expect(byName.get('conv2d_1a.bn.running_mean')!.constant).toEqual({ dtype: 'float32', value: 0 });
    expect(byName.get('conv2d_1a.bn.running_var')!.constant!.value).toBeCloseTo(0.999, 12);
    expect(byName.get('repeat.0.conv2d.bias')!.param).toBe('Repeat/block35_1/Conv2d_1x1/biases');
  });
});

describe('timm detection and binding', () => {
  it.each([
    ['inception_v4', 1000, 1],
    ['inception_v4', 1001, 16],
    ['inception_resnet_v2', 1000, 8],
    ['inception_resnet_v2', 10, 1],
  ] as const)('recognises %s with %i classes at width / %i from names and shapes', (arch, classes, widthDivisor) => {
    const src = fakeSource(timmNaming.layout(buildGraph(arch, { classes, widthDivisor })));
    const d = timmScheme.detect(src);
    expect(d).toMatchObject({ scheme: 'timm', arch, options: { classes, widthDivisor, aux: false } });
    expect(canonicalScheme.detect(src)).toBeNull();
    // auto-detection picks timm
    expect(bindModel(src).detection.scheme).toBe('timm');
  });

  it('does not claim canonical names, and refuses a forced architecture that does not fit', () => {
    const canonical = fakeSource(NAMINGS.find((n) => n.name === 'canonical')!.layout(buildGraph('inception_v4')));
    expect(timmScheme.detect(canonical)).toBeNull();
    const v4 = fakeSource(timmNaming.layout(buildGraph('inception_v4')));
    expect(timmScheme.detect(v4, { arch: 'inception_resnet_v2' })).toBeNull();
  });

  it('binds without num_batches_tracked and ignores it when present', () => {
    const layout = timmNaming.layout(buildGraph('inception_v4', { widthDivisor: 16 }));
    for (const src of [fakeSource(layout), fakeSource(layout.filter((t) => !t.constant))]) {
      const d = timmScheme.detect(src)!;
      const m = timmScheme.bind(src, d);
      expect(m.params.length).toBe(layout.filter((t) => t.param).length);
    }
  });

  it('reports missing, unexpected and misshapen tensors by name', () => {
    const layout = timmNaming.layout(buildGraph('inception_resnet_v2', { widthDivisor: 16 }));
    const broken = layout
      .filter((t) => t.name !== 'repeat_1.7.branch1.2.bn.running_var')
      .map((t) => (t.name === 'mixed_6a.branch0.conv.weight' ? { ...t, shape: [1, 2, 3, 3] } : t))
      .concat([{ name: 'head.fc.weight', shape: [3] } as never]);
    const src = fakeSource(broken);
    const d = timmScheme.detect(src)!;
    let err: unknown;
    try {
      timmScheme.bind(src, d);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SchemeError);
    const e = err as SchemeError;
    expect(e.code).toBe(3);
    expect(e.missing).toEqual(['Repeat_1/block17_8/Branch_1/Conv2d_0c_7x1/BatchNorm/moving_variance']);
    expect(e.extra).toEqual(['head.fc.weight']);
    expect(e.mismatched).toEqual([
      { param: 'Mixed_6a/Branch_0/Conv2d_1a_3x3/weights', source: 'mixed_6a.branch0.conv.weight', expected: [24, 20, 3, 3], found: [1, 2, 3, 3] },
    ]);
    expect(e.message).toMatch(/timm scheme: fake\.safetensors: missing Repeat_1\/block17_8/);
  });
});

describe.skipIf(!py.ok)(`timm (PyTorch) runs our files${noTorch}`, () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'wp-timm-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('the Python fixture computes the same default input as src/parity/input.ts', async () => {
    const ours = await defaultInputNpy(dir);
    const r = JSON.parse(py.run(TIMM_SCRIPT, ['input', '--out', join(dir, 'py-input.npy'), '--compare', ours]));
    expect(r.shape).toEqual([1, 3, 299, 299]);
    // sin/hypot in float64 may differ by an ulp between V8 and numpy; after rounding to float32 at most one float32 ulp.
    expect(r.max_abs_diff).toBeLessThan(1e-7);
  });

  /**
   * Thin models (width / 16) through the real timm classes (timm_fixtures.py `build`): our timm
   * file loads with strict=True; torch's logits equal onnxruntime's on our ONNX of the same model;
   * a model with batch norm folded gives the same logits in timm as the unfolded one.
   */
  it('loads our thin timm files strictly; torch = onnxruntime on our ONNX; folded BN written unfolded', async () => {
    const input = await defaultInputNpy(dir);
    const jobs = [];
    const models = new Map<string, CanonicalModel>();
    for (const arch of ARCHS) {
      const g = buildGraph(arch, { widthDivisor: 16 });
      const model = seededModel(g, { seed: 11 });
      models.set(arch, model);
      for (const [tag, m] of [['bn', model], ['folded', foldBatchNorm(model)]] as const) {
        const weights = join(dir, `${arch}.${tag}.safetensors`);
        await writeModel(m, weights, { to: 'safetensors', naming: 'timm' });
        jobs.push({ arch, width_divisor: 16, weights, input, out: join(dir, `${arch}.${tag}.torch.npy`) });
      }
    }
    const logits = await timmLogits(py, dir, jobs);
    for (let i = 0; i < ARCHS.length; i++) {
      const [bn, folded] = [logits[2 * i], logits[2 * i + 1]];
      expect(bn.length).toBe(1000);
      assertNonDegenerate(bn);
      expect(maxAbsDiff(bn, folded)).toBeLessThan(1e-4);
      expect(topK(folded)).toEqual(topK(bn));
    }
    if (!hasOnnxWriter()) {
      console.warn(`timm vs onnxruntime (thin): ${noOnnx}; skipped that comparison`);
      return;
    }
    const x = defaultInput();
    for (let i = 0; i < ARCHS.length; i++) {
      const onnx = join(dir, `${ARCHS[i]}.onnx`);
      await writeModel(models.get(ARCHS[i])!, onnx, { to: 'onnx' });
      const ort = [...(await runOnnx(onnx, x)).outputs.values()][0].data;
      const diff = maxAbsDiff(ort, logits[2 * i]);
      console.log(`thin ${ARCHS[i]}: max |torch - onnxruntime| = ${diff.toExponential(2)}`);
      expect(diff).toBeLessThan(1e-4);
      expect(topK(ort)).toEqual(topK(logits[2 * i]));
    }
  });

  it("reads timm's own thin files (save_file) and writes them back identically for timm", async () => {
    const input = await defaultInputNpy(dir);
    for (const arch of ARCHS) {
      py.run(TIMM_SCRIPT, ['make', '--arch', arch, '--width-divisor', '16', '--seed', '5', '--out', dir, '--input', input]);
    }
    const jobs = [];
    for (const arch of ARCHS) {
      const source = await readModel(join(dir, `timm_${arch}_d16.safetensors`));
      try {
        const { model, detection } = bindModel(source);
        expect(detection).toMatchObject({ scheme: 'timm', arch, options: { classes: 1000, widthDivisor: 16 } });
        // gamma is stored by timm and kept (not 1)
        const values = await readAll(model);
        const gamma = values.get('Conv2d_1a_3x3/BatchNorm/gamma')!;
        expect(gamma.some((v) => Math.abs(v - 1) > 0.01)).toBe(true);
        const canonical = join(dir, `${arch}.canonical.safetensors`);
        await writeModel(model, canonical, { to: 'safetensors' });
        // canonical file -> timm file: two hops through our reader, schemes and writer
        const again = await readModel(canonical);
        const back = join(dir, `${arch}.back.safetensors`);
        await writeModel(bindModel(again).model, back, { to: 'safetensors', naming: 'timm' });
        await again.close();
        jobs.push({ arch, width_divisor: 16, weights: back, input, out: join(dir, `${arch}.back.npy`) });
        if (hasOnnxWriter()) {
          const onnx = join(dir, `${arch}.own.onnx`);
          await writeModel(model, onnx, { to: 'onnx' });
          const ort = [...(await runOnnx(onnx, defaultInput())).outputs.values()][0].data;
          const ref = (await readNpy(join(dir, `timm_${arch}_d16.logits.npy`))).data;
          expect(maxAbsDiff(ort, ref)).toBeLessThan(1e-4);
          expect(topK(ort)).toEqual(topK(ref));
        }
      } finally {
        await source.close();
      }
    }
    const logits = await timmLogits(py, dir, jobs);
    for (let i = 0; i < ARCHS.length; i++) {
      const ref = (await readNpy(join(dir, `timm_${ARCHS[i]}_d16.logits.npy`))).data;
      assertNonDegenerate(ref);
      // the same weights, bit for bit, in the same framework: the same logits exactly
      expect(maxAbsDiff(logits[i], ref)).toBe(0);
    }
  });
});

/**
 * Full size (about 170 and 220 MB per file), cached in cacheDir('timm'): timm's own files and
 * ONNX exports (fixtures/README.md), and our files from seeded canonical models.
 */
describe.skipIf(!py.ok)(`timm full size (cached)${noTorch}`, () => {
  const dir = py.ok ? cacheDir('timm') : '';

  it('fixtures: timm_fixtures.py make --onnx (timm safetensors, logits, ONNX at opsets 13 and 17, BN kept and folded)', async () => {
    const input = await defaultInputNpy(dir);
    for (const arch of ARCHS) {
      if (readyFixture(dir, arch)) continue;
      py.run(TIMM_SCRIPT, ['make', '--arch', arch, '--out', dir, '--onnx', '--input', input], { timeoutMs: 30 * 60_000 });
    }
    // The ONNX exports are what the ONNX-reader tests start from: check them with onnxruntime once.
    const x = defaultInput();
    for (const arch of ARCHS) {
      expect(readyFixture(dir, arch)).toBe(true);
      const ref = (await readNpy(join(dir, `timm_${arch}.logits.npy`))).data;
      assertNonDegenerate(ref);
      for (const opset of [13, 17])
        for (const kind of ['bn', 'folded']) {
          const path = join(dir, `timm_${arch}.opset${opset}.${kind}.onnx`);
          expect(readFileSync(path).includes('BatchNormalization'), path).toBe(kind === 'bn');
          const ort = (await runOnnx(path, x)).outputs.get('logits')!.data;
          const diff = maxAbsDiff(ort, ref);
          console.log(`timm_${arch}.opset${opset}.${kind}.onnx: max |onnxruntime - torch| = ${diff.toExponential(2)}`);
          expect(diff, path).toBeLessThan(1e-4);
          expect(topK(ort)).toEqual(topK(ref));
        }
    }
  }, 3_600_000);

  it.skipIf(!hasOnnxWriter())(`our timm files from seeded models: torch (strict load) = onnxruntime on our ONNX, 1e-4, same top-5${hasOnnxWriter() ? '' : ` (skipped: ${noOnnx})`}`, async () => {
    const input = await defaultInputNpy(dir);
    const x = defaultInput();
    const jobs = [];
    const ort: Float32Array[] = [];
    for (const arch of ARCHS) {
      const model = seededModel(buildGraph(arch), { seed: 21 });
      const weights = join(dir, `ours_${arch}.timm.safetensors`);
      const onnx = join(dir, `ours_${arch}.onnx`);
      await writeModel(model, weights, { to: 'safetensors', naming: 'timm', force: true });
      await writeModel(model, onnx, { to: 'onnx', force: true });
      ort.push([...(await runOnnx(onnx, x)).outputs.values()][0].data);
      jobs.push({ arch, weights, input, out: join(dir, `ours_${arch}.torch.npy`) });
    }
    const torch = await timmLogits(py, dir, jobs);
    for (let i = 0; i < ARCHS.length; i++) {
      assertNonDegenerate(torch[i]);
      const diff = maxAbsDiff(torch[i], ort[i]);
      console.log(`full ${ARCHS[i]} (ours): max |torch - onnxruntime| = ${diff.toExponential(2)}`);
      expect(diff).toBeLessThan(1e-4);
      expect(topK(ort[i])).toEqual(topK(torch[i]));
    }
  }, 1_800_000);

  it.skipIf(!hasOnnxWriter())(`timm's own files: our reader + timm scheme -> ONNX -> onnxruntime = torch, 1e-4, same top-5${hasOnnxWriter() ? '' : ` (skipped: ${noOnnx})`}`, async () => {
    const x = defaultInput();
    for (const arch of ARCHS) {
      const onnx = join(dir, `own_${arch}.onnx`);
      const source = await readModel(join(dir, `timm_${arch}.safetensors`));
      try {
        await writeModel(bindModel(source).model, onnx, { to: 'onnx', force: true });
      } finally {
        await source.close();
      }
      const ort = [...(await runOnnx(onnx, x)).outputs.values()][0].data;
      const ref = (await readNpy(join(dir, `timm_${arch}.logits.npy`))).data;
      assertNonDegenerate(ref);
      const diff = maxAbsDiff(ort, ref);
      console.log(`full ${arch} (timm's own): max |torch - onnxruntime| = ${diff.toExponential(2)}`);
      expect(diff).toBeLessThan(1e-4);
      expect(topK(ort)).toEqual(topK(ref));
    }
  }, 1_800_000);
});

function readyFixture(dir: string, arch: Arch): boolean {
  const names = [`timm_${arch}.safetensors`, `timm_${arch}.logits.npy`];
  for (const opset of [13, 17]) for (const kind of ['bn', 'folded']) names.push(`timm_${arch}.opset${opset}.${kind}.onnx`);
  return names.every((n) => existsSync(join(dir, n)));
}
