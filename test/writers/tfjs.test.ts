/**
 * The tfjs writer, checked by real consumers: TensorFlow.js itself (tf.loadLayersModel + predict
 * on the wasm backend, in Node and in Chromium), onnxruntime on the ONNX written from the same
 * canonical model, and TensorFlow/Keras on the same weights (fixtures/tfjs/keras_predict.py).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blockStats, buildGraph, type Arch } from '../../src/graphs/index.js';
import { seededModel } from '../../src/graphs/init.js';
import { tfjsLayerName } from '../../src/graphs/schemes/tfjs.js';
import { readNpy, writeNpy } from '../../src/io/npy.js';
import { createModel, type CanonicalModel } from '../../src/model.js';
import { runOnnx } from '../../src/parity/ort.js';
import { OutputError } from '../../src/errors.js';
import { WRITERS } from '../../src/writers/index.js';
import { DEFAULT_SHARD_BYTES, tfjsFloat16Model, tfjsWriter } from '../../src/writers/tfjs/index.js';
import { expectNotDegenerate, input, maxAbs, topK } from '../helpers/outputs.js';
import { cacheDir, python } from '../helpers/python.js';
import { predictFolder, tfjsWasm } from '../helpers/tfjs.js';
import { browserAvailable, predictInBrowser } from '../helpers/browser.js';

const ARCHS: readonly Arch[] = ['inception_v4', 'inception_resnet_v2'];
const ALLOWED = new Set([
  'InputLayer', 'Conv2D', 'ZeroPadding2D', 'BatchNormalization', 'Activation', 'MaxPooling2D', 'AveragePooling2D',
  'Concatenate', 'Add', 'GlobalAveragePooling2D', 'Flatten', 'Dense',
]);

const onnxWriter = WRITERS.find((w) => w.format === 'onnx');
const NO_ONNX = onnxWriter ? '' : "the ONNX writer ('onnx' in WRITERS) has not landed yet";
const py = python('tf');

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'wp-tfjs-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const thinModel = (arch: Arch, opts: { aux?: boolean; seed?: number } = {}): CanonicalModel =>
  seededModel(buildGraph(arch, { widthDivisor: 16, aux: opts.aux ?? true }), { seed: opts.seed ?? 11 });

describe('tfjs writer: files', () => {
  it('writes model.json and group1-shard{i}of{n}.bin, every shard but the last exactly shardSize', async () => {
    const dir = join(work, 'layout');
    const shardSize = 200_000;
    const r = await tfjsWriter.write(thinModel('inception_resnet_v2'), dir, { shardSize });
    const files = readdirSync(dir).sort();
    const shards = files.filter((f) => f.endsWith('.bin'));
    const n = shards.length;
    expect(n).toBeGreaterThan(3);
    expect(files).toEqual([...shards, 'model.json'].sort());
    for (let i = 1; i <= n; i++) expect(shards).toContain(`group1-shard${i}of${n}.bin`);
    const sizes = Array.from({ length: n }, (_, i) => statSync(join(dir, `group1-shard${i + 1}of${n}.bin`)).size);
    expect(sizes.slice(0, -1).every((s) => s === shardSize)).toBe(true);
    expect(sizes[n - 1]).toBeGreaterThan(0);
    expect(sizes[n - 1]).toBeLessThanOrEqual(shardSize);
    const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
    expect(json.format).toBe('layers-model');
    expect(json.weightsManifest).toHaveLength(1);
    expect(json.weightsManifest[0].paths).toEqual(Array.from({ length: n }, (_, i) => `group1-shard${i + 1}of${n}.bin`));
    const manifestBytes = json.weightsManifest[0].weights.reduce((s: number, w: { shape: number[] }) => s + 4 * w.shape.reduce((a, b) => a * b, 1), 0);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(manifestBytes);
    expect(r.files).toHaveLength(n + 1);
    expect(r.bytes).toBe(manifestBytes + statSync(join(dir, 'model.json')).size);
    expect(DEFAULT_SHARD_BYTES).toBe(4 * 1024 * 1024);
  });

  it('uses only layers tfjs ships (no Lambda, no custom layer), canonical names with / -> .', async () => {
    for (const arch of ARCHS) {
      const dir = join(work, `names-${arch}`);
      const model = thinModel(arch);
      await tfjsWriter.write(model, dir);
      const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
      const topo = json.modelTopology;
      expect(topo.class_name).toBe('Functional');
      expect(topo.keras_version).toMatch(/^tfjs-layers /);
      const layers: { class_name: string; name: string }[] = topo.config.layers;
      for (const l of layers) expect(ALLOWED, `${l.name} is a ${l.class_name}`).toContain(l.class_name);
      const names = new Set(layers.map((l) => l.name));
      for (const n of model.graph.nodes) expect(names).toContain(tfjsLayerName(n.name));
      expect([...names].some((n) => n.includes('/'))).toBe(false);
      // Residual blocks: an Add and (but for the last block8) a ReLU after it.
      if (arch === 'inception_resnet_v2') {
        expect(layers.find((l) => l.name === 'Repeat.block35_1.add')?.class_name).toBe('Add');
        expect(layers.find((l) => l.name === 'Repeat.block35_1')?.class_name).toBe('Activation');
        expect(layers.find((l) => l.name === 'Block8')?.class_name).toBe('Add');
      }
      // The manifest is in the order tfjs creates the weights, with tfjs's names.
      const tf = await tfjsWasm();
      const { folderHandler } = await import('../helpers/tfjs.js');
      const loaded = await tf.loadLayersModel(await folderHandler(dir));
      expect(json.weightsManifest[0].weights.map((w: { name: string }) => w.name)).toEqual(loaded.weights.map((w) => w.originalName));
      expect(loaded.outputNames).toEqual(['Logits.Logits', 'AuxLogits.' + (arch === 'inception_v4' ? 'Aux_logits' : 'Logits')]);
      loaded.dispose();
    }
  });

  it('lays kernels out HWIO (layout.ts), dense [in, out], the residual scale folded', async () => {
    const { tfjsNaming } = await import('../../src/graphs/schemes/tfjs.js');
    const g = buildGraph('inception_resnet_v2', { widthDivisor: 16 });
    const up = tfjsNaming.layout(g).find((t) => t.param === 'Repeat_1/block17_3/Conv2d_1x1/biases')!;
    expect(up.name).toBe('Repeat_1.block17_3.Conv2d_1x1/bias');
    expect(Array.from(up.transform!.store(new Float32Array([1, 2]), [2]))).toEqual([Math.fround(0.1), Math.fround(0.2)]);
    const dense = tfjsNaming.layout(g).find((t) => t.param === 'Logits/Logits/weights')!;
    expect(dense.shape).toEqual([96, 1000]);
  });

  it('refuses a non-empty folder, a file, a missing parent (exit code 4); --force replaces and drops stale shards', async () => {
    const model = thinModel('inception_v4', { aux: false });
    const full = join(work, 'refuse');
    mkdirSync(full);
    writeFileSync(join(full, 'notes.txt'), 'x');
    const refused = async (path: string, why: RegExp) => {
      const e = await tfjsWriter.write(model, path).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(OutputError);
      expect((e as OutputError).code).toBe(4);
      expect((e as Error).message).toMatch(why);
    };
    await refused(full, /not empty/);
    writeFileSync(join(work, 'a-file'), 'x');
    await refused(join(work, 'a-file'), /not a folder/);
    await refused(join(work, 'no', 'such', 'parent'), /does not exist/);
    expect(existsSync(join(work, 'no'))).toBe(false);

    const dir = join(work, 'force');
    await tfjsWriter.write(model, dir, { shardSize: 50_000 });
    const many = readdirSync(dir).length;
    await refused(dir, /not empty/);
    await tfjsWriter.write(model, dir, { force: true });
    const after = readdirSync(dir).sort();
    expect(after.length).toBeLessThan(many);
    expect(after).toEqual(['group1-shard1of1.bin', 'model.json']);
  });

  it('leaves nothing behind when a parameter cannot be read', async () => {
    const good = thinModel('inception_v4', { aux: false });
    const broken: CanonicalModel = createModel(
      good.graph,
      new Map(good.params.map((p, i) => [p.name, i === 40 ? () => Promise.reject(new Error('disk gone')) : () => p.read()])),
    );
    const dir = join(work, 'broken');
    await expect(tfjsWriter.write(broken, dir, { shardSize: 10_000 })).rejects.toThrow(/disk gone/);
    expect(existsSync(dir)).toBe(false);
    mkdirSync(dir);
    await expect(tfjsWriter.write(broken, dir, { shardSize: 10_000 })).rejects.toThrow(/disk gone/);
    expect(readdirSync(dir)).toEqual([]);
  });
});

/** Thin models written once for the numerical checks. */
const thin = new Map<Arch, { dir: string; model: CanonicalModel }>();
beforeAll(async () => {
  for (const arch of ARCHS) {
    const dir = join(work, `thin-${arch}`);
    const model = thinModel(arch);
    // Small shards: weights straddle shard boundaries.
    await tfjsWriter.write(model, dir, { shardSize: 100_003, exposeBlocks: true });
    thin.set(arch, { dir, model });
  }
});

describe('tfjs writer: numbers (thin models, tfjs wasm backend)', () => {
  it.skipIf(!!NO_ONNX).each(ARCHS)(`%s: tf.loadLayersModel + predict equals onnxruntime on the ONNX of the same model ${NO_ONNX}`, async (arch) => {
    const { dir, model } = thin.get(arch)!;
    const x = input();
    const ours = await predictFolder(dir, x.nhwc, x.shape);
    const onnx = join(work, `${arch}.onnx`);
    await onnxWriter!.write(model, onnx);
    const ort = await runOnnx(onnx, x.nchw);
    const [logits, aux] = [...ort.outputs.values()];
    expect(maxAbs(ours.outputs[0].data, logits.data)).toBeLessThan(1e-4);
    expect(maxAbs(ours.outputs[1].data, aux.data)).toBeLessThan(1e-4);
    expect(topK(ours.outputs[0].data)).toEqual(topK(logits.data));
    expectNotDegenerate(ours.outputs[0].data);
    expectNotDegenerate(ours.outputs[1].data);
  });

  it.skipIf(!py.ok)(`equals TensorFlow/Keras on the same weights, block outputs included ${py.reason}`, async () => {
    const x = input();
    const inNpy = join(work, 'input-nhwc.npy');
    await writeNpy(inNpy, x.nhwc, x.shape);
    const args = [inNpy];
    for (const arch of ARCHS) args.push(thin.get(arch)!.dir, join(work, `keras-${arch}`));
    py.run('fixtures/tfjs/keras_predict.py', args);
    for (const arch of ARCHS) {
      const { dir, model } = thin.get(arch)!;
      const ours = await predictFolder(dir, x.nhwc, x.shape);
      const meta = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')).userDefinedMetadata.weightport;
      const blocks = blockStats(model.graph);
      expect(meta.blocks.map((b: { block: string }) => b.block)).toEqual(blocks.map((b) => b.block));
      expect(ours.outputs.length).toBe(meta.outputs.length);
      for (const [i, out] of ours.outputs.entries()) {
        const ref = await readNpy(join(work, `keras-${arch}`, `output_${i}.npy`));
        expect(ref.shape).toEqual(out.shape);
        const scale = Math.max(1, ...Array.from(ref.data, Math.abs));
        expect(maxAbs(out.data, ref.data) / scale, `${arch} output ${i} (${ours.names[i]})`).toBeLessThan(1e-4);
      }
      // Block outputs have the block's shape, NHWC.
      for (const b of blocks) {
        const o = ours.outputs[meta.blocks.find((m: { block: string }) => m.block === b.block).output];
        expect(o.shape).toEqual(b.shape.length === 3 ? [1, b.shape[1], b.shape[2], b.shape[0]] : [1, ...b.shape]);
      }
      expectNotDegenerate(ours.outputs[0].data);
    }
  });

  it.each(ARCHS)('%s: float16 weights (quantization float16) stay within 1e-2 of float32, same top-1, half the bytes', async (arch) => {
    const { dir, model } = thin.get(arch)!;
    const half = join(work, `fp16-${arch}`);
    const r = await tfjsWriter.write(model, half, { dtype: 'float16' });
    const json = JSON.parse(readFileSync(join(half, 'model.json'), 'utf8'));
    for (const w of json.weightsManifest[0].weights) expect(w).toMatchObject({ dtype: 'float32', quantization: { dtype: 'float16' } });
    const full32 = readdirSync(dir).filter((f) => f.endsWith('.bin')).reduce((s, f) => s + statSync(join(dir, f)).size, 0);
    const full16 = readdirSync(half).filter((f) => f.endsWith('.bin')).reduce((s, f) => s + statSync(join(half, f)).size, 0);
    expect(full16 * 2).toBe(full32);
    expect(r.files.length).toBe(2);
    const x = input();
    const a = await predictFolder(dir, x.nhwc, x.shape);
    const b = await predictFolder(half, x.nhwc, x.shape);
    expect(maxAbs(a.outputs[0].data, b.outputs[0].data)).toBeLessThan(1e-2);
    expect(topK(b.outputs[0].data, 1)).toEqual(topK(a.outputs[0].data, 1));
    expectNotDegenerate(b.outputs[0].data);
  });

  it.skipIf(!!NO_ONNX)(`float16 IRv2: onnxruntime on tfjsFloat16Model (what the file holds, scale folded before rounding) equals tfjs within 1e-4 ${NO_ONNX}`, async () => {
    const { model } = thin.get('inception_resnet_v2')!;
    const half = join(work, 'fp16-inception_resnet_v2');
    const x = input();
    const ours = await predictFolder(half, x.nhwc, x.shape);
    const onnx = join(work, 'fp16-reference.onnx');
    await onnxWriter!.write(tfjsFloat16Model(model), onnx);
    const ort = await runOnnx(onnx, x.nchw);
    const [logits] = [...ort.outputs.values()];
    expect(maxAbs(ours.outputs[0].data, logits.data)).toBeLessThan(1e-4);
  });

  it('softmax and folded batch norm graphs load and predict too', async () => {
    const { foldBatchNorm, withSoftmax } = await import('../../src/graphs/transforms.js');
    const base = thinModel('inception_resnet_v2', { aux: false });
    const dir = join(work, 'variants');
    mkdirSync(dir);
    const x = input();
    await tfjsWriter.write(base, join(dir, 'plain'), {});
    await tfjsWriter.write(foldBatchNorm(base), join(dir, 'folded'), {});
    await tfjsWriter.write(withSoftmax(base, true), join(dir, 'softmax'), {});
    const plain = await predictFolder(join(dir, 'plain'), x.nhwc, x.shape);
    const folded = await predictFolder(join(dir, 'folded'), x.nhwc, x.shape);
    const soft = await predictFolder(join(dir, 'softmax'), x.nhwc, x.shape);
    expect(maxAbs(plain.outputs[0].data, folded.outputs[0].data)).toBeLessThan(1e-4);
    const p = plain.outputs[0].data;
    const m = Math.max(...p);
    const e = Array.from(p, (v) => Math.exp(v - m));
    const sum = e.reduce((s, v) => s + v, 0);
    expect(maxAbs(soft.outputs[0].data, e.map((v) => v / sum))).toBeLessThan(1e-6);
    expect(soft.names).toEqual(['Predictions']);
  });
});

describe('tfjs writer: in a real browser (Chromium, tfjs from its bundle)', () => {
  const why = browserAvailable();
  it.skipIf(!!why)(`tf.loadLayersModel over http + predict equals Node's result within 1e-4 ${why}`, async () => {
    const { dir } = thin.get('inception_resnet_v2')!;
    const x = input();
    const node = await predictFolder(dir, x.nhwc, x.shape);
    const browser = await predictInBrowser(dir, x.nhwc, x.shape);
    expect(browser.outputs.length).toBe(node.outputs.length);
    for (const [i, o] of node.outputs.entries()) {
      const scale = Math.max(1, ...Array.from(o.data, Math.abs));
      expect(maxAbs(browser.outputs[i], o.data) / scale, `output ${i}`).toBeLessThan(1e-4);
    }
    expect(topK(browser.outputs[0])).toEqual(topK(node.outputs[0].data));
    expect(browser.backend).toBeTruthy();
  });
});

/**
 * Full-size networks: written into the cache folder (never committed) and checked against
 * onnxruntime and Keras on the same weights. The references are reused when present.
 */
describe('tfjs writer: full-size networks', () => {
  it.skipIf(!!NO_ONNX).each(ARCHS)(`%s: tfjs (wasm) equals onnxruntime and TF/Keras within 1e-4, float16 within 1e-2 ${NO_ONNX}`, async (arch) => {
    const cache = cacheDir('tfjs');
    const model = seededModel(buildGraph(arch, { aux: true }), { seed: 5 });
    const dir = join(cache, `${arch}-seed5`);
    rmSync(dir, { recursive: true, force: true });
    await tfjsWriter.write(model, dir);
    const x = input();
    const ours = await predictFolder(dir, x.nhwc, x.shape);
    const onnx = join(cache, `${arch}-seed5.onnx`);
    if (!existsSync(onnx)) await onnxWriter!.write(model, onnx);
    const ort = await runOnnx(onnx, x.nchw);
    const [logits, aux] = [...ort.outputs.values()];
    const d = maxAbs(ours.outputs[0].data, logits.data);
    console.log(`${arch}: tfjs wasm vs onnxruntime max |logits diff| ${d.toExponential(2)}; load ${ours.loadMs.toFixed(0)} ms, predict ${ours.predictMs.toFixed(0)} ms`);
    expect(d).toBeLessThan(1e-4);
    expect(maxAbs(ours.outputs[1].data, aux.data)).toBeLessThan(1e-4);
    expect(topK(ours.outputs[0].data)).toEqual(topK(logits.data));
    expectNotDegenerate(ours.outputs[0].data);

    if (py.ok) {
      const refDir = join(cache, `keras-${arch}-seed5`);
      if (!existsSync(join(refDir, 'output_0.npy'))) {
        const inNpy = join(cache, 'input-nhwc-299.npy');
        await writeNpy(inNpy, x.nhwc, x.shape);
        py.run('fixtures/tfjs/keras_predict.py', [inNpy, dir, refDir]);
      }
      const ref = await readNpy(join(refDir, 'output_0.npy'));
      const k = maxAbs(ours.outputs[0].data, ref.data);
      console.log(`${arch}: tfjs wasm vs TF/Keras max |logits diff| ${k.toExponential(2)}`);
      expect(k).toBeLessThan(1e-4);
    }

    const half = join(cache, `${arch}-seed5-fp16`);
    rmSync(half, { recursive: true, force: true });
    await tfjsWriter.write(model, half, { dtype: 'float16' });
    const h = await predictFolder(half, x.nhwc, x.shape);
    const hd = maxAbs(h.outputs[0].data, ours.outputs[0].data);
    console.log(`${arch}: float16 vs float32 max |logits diff| ${hd.toExponential(2)}`);
    expect(hd).toBeLessThan(1e-2);
    expect(topK(h.outputs[0].data, 1)).toEqual(topK(ours.outputs[0].data, 1));
    rmSync(half, { recursive: true, force: true });
  }, 600_000);
});

describe('tfjs writer: provenance', () => {
  it('records the source file and its SHA-256 (hashed beside the write) in model.json, for both formats', async () => {
    const { convert, writeModel } = await import('../../src/api.js');
    const { sha256File } = await import('../../src/io/hash.js');
    const src = join(work, 'provenance-src.safetensors');
    await writeModel(seededModel(buildGraph('inception_v4', { widthDivisor: 16 }), { seed: 4 }), src, { to: 'safetensors' });
    const sha = await sha256File(src);
    for (const tfjsFormat of ['layers-model', 'graph-model'] as const) {
      const out = join(work, `provenance-${tfjsFormat}`);
      await convert(src, out, { to: 'tfjs', tfjsFormat });
      const json = JSON.parse(readFileSync(join(out, 'model.json'), 'utf8'));
      expect(json.format).toBe(tfjsFormat);
      expect(json.userDefinedMetadata.weightport.provenance).toMatchObject({ sourceFile: 'provenance-src.safetensors', sourceSha256: sha, sourceFormat: 'safetensors' });
    }
  });
});
