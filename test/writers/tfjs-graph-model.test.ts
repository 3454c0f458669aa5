/**
 * The tfjs writer's graph-model (`tfjsFormat: 'graph-model'`), checked by its real consumer:
 * TensorFlow.js itself (`tf.loadGraphModel` + `execute` on the wasm backend) against onnxruntime
 * on the ONNX written from the same canonical model. TensorFlow has no loader for tfjs
 * graph-models (tfjs is their consumer), but their GraphDef is TensorFlow's own: a fixture script
 * (fixtures/tfjs/graph_model_tf.py) parses it, puts the Const values back from the shards,
 * imports and runs it in TensorFlow. Also: the GraphDef uses only ops tfjs maps, the manifest
 * matches its Const nodes, float16, block outputs, reading back, and the CLI with its default
 * parity check.
 */
import { existsSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bindModel, readModel } from '../../src/api.js';
import { SchemeError } from '../../src/errors.js';
import { blockStats, buildGraph, type Arch } from '../../src/graphs/index.js';
import type { Graph, GraphNode } from '../../src/graphs/ir.js';
import { seededModel } from '../../src/graphs/init.js';
import { foldBatchNorm, withSoftmax } from '../../src/graphs/transforms.js';
import { tfjsNaming } from '../../src/graphs/schemes/tfjs.js';
import { readNpy, writeNpy } from '../../src/io/npy.js';
import { createModel, readAll, type CanonicalModel } from '../../src/model.js';
import { runOnnx } from '../../src/parity/ort.js';
import { WRITERS } from '../../src/writers/index.js';
import { tfjsFloat16Model, tfjsWriter } from '../../src/writers/tfjs/index.js';
import { runCli } from '../helpers/cli.js';
import { nchwToNhwc } from '../../src/parity/input.js';
import { expectNotDegenerate, input, maxAbs, topK } from '../helpers/outputs.js';
import { cacheDir, python } from '../helpers/python.js';
import { folderHandler, tfjsWasm } from '../helpers/tfjs.js';
import { browserAvailable, predictInBrowser } from '../helpers/browser.js';

const ARCHS: readonly Arch[] = ['inception_v4', 'inception_resnet_v2'];
/** The ops the writer may emit; each is in tfjs-converter's op lists (src/operations/op_list/*.json). */
const OPS = new Set(['Placeholder', 'Const', 'Conv2D', 'BiasAdd', 'FusedBatchNormV3', 'Relu', 'MaxPool', 'AvgPool', 'Pad', 'ConcatV2', 'AddV2', 'Mean', 'Reshape', 'MatMul', 'Softmax', 'Identity']);

const onnxWriter = WRITERS.find((w) => w.format === 'onnx')!;
const py = python('tf');

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'wp-tfjs-graph-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const thinModel = (arch: Arch, opts: { aux?: boolean; seed?: number } = {}): CanonicalModel =>
  seededModel(buildGraph(arch, { widthDivisor: 16, aux: opts.aux ?? true }), { seed: opts.seed ?? 11 });

interface ModelJson {
  format: string;
  modelTopology: { node: { name: string; op: string; input?: string[]; attr?: Record<string, any> }[]; versions: { producer: number } };
  signature: { inputs: Record<string, { name: string }>; outputs: Record<string, { name: string; tensorShape: unknown }> };
  weightsManifest: { paths: string[]; weights: { name: string; shape: number[]; dtype: string; quantization?: { dtype: string } }[] }[];
  userDefinedMetadata: { weightport: { outputs: { output: string; node: string }[]; blocks?: { block: string; output: number }[] } };
}
const modelJson = (dir: string): ModelJson => JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));

/**
 * tf.loadGraphModel over a local folder (Node's tfjs has no file:// loader: this IOHandler hands
 * tfjs what its http loader would) and `execute` on one NHWC batch.
 */
async function executeFolder(dir: string, x: Float32Array, shape: readonly number[], outputs?: string[]) {
  const tf = await tfjsWasm();
  const handler = await folderHandler(dir);
  const t0 = performance.now();
  const model = await tf.loadGraphModel(handler);
  const t1 = performance.now();
  try {
    const xt = tf.tensor(x, [...shape]);
    const names = outputs ?? model.outputNodes;
    const y = model.execute(xt, names);
    const ys = Array.isArray(y) ? y : [y];
    const out = [];
    for (const t of ys) out.push({ data: (await t.data()) as Float32Array, shape: t.shape });
    const t2 = performance.now();
    tf.dispose([xt, ...ys]);
    return { names, inputs: model.inputNodes, outputs: out, loadMs: t1 - t0, runMs: t2 - t1 };
  } finally {
    model.dispose();
  }
}

/** Thin models written once for the numerical checks (small shards: weights straddle them). */
const thin = new Map<Arch, { dir: string; model: CanonicalModel; onnx: string }>();
beforeAll(async () => {
  for (const arch of ARCHS) {
    const dir = join(work, `thin-${arch}`);
    const model = thinModel(arch);
    await tfjsWriter.write(model, dir, { tfjsFormat: 'graph-model', shardSize: 100_003 });
    const onnx = join(work, `${arch}.onnx`);
    await onnxWriter.write(model, onnx);
    thin.set(arch, { dir, model, onnx });
  }
});

describe('tfjs graph-model: files', () => {
  it.each(ARCHS)('%s: a GraphDef of ops tfjs maps; every Const has its manifest weight, named as in the layers-model', (arch) => {
    const { dir, model } = thin.get(arch)!;
    const json = modelJson(dir);
    expect(json.format).toBe('graph-model');
    const nodes = json.modelTopology.node;
    for (const n of nodes) expect(OPS, `${n.name} is a ${n.op}`).toContain(n.op);
    expect(json.modelTopology.versions.producer).toBeGreaterThan(0);
    // Node names unique, inputs defined before use (a topological order).
    const seen = new Set<string>();
    for (const n of nodes) {
      for (const i of n.input ?? []) expect(seen, `${n.name} reads ${i}`).toContain(i.split(':')[0]);
      expect(seen.has(n.name)).toBe(false);
      seen.add(n.name);
    }
    // The manifest: the layers-model's weights (tfjsNaming: names, HWIO shapes), then int32 operands.
    const weights = json.weightsManifest.flatMap((g) => g.weights);
    const floats = weights.filter((w) => w.dtype === 'float32');
    expect(floats.map((w) => [w.name, w.shape])).toEqual(tfjsNaming.layout(model.graph).map((t) => [t.name, [...t.shape]]));
    expect(weights.slice(floats.length).every((w) => w.dtype === 'int32')).toBe(true);
    const consts = nodes.filter((n) => n.op === 'Const');
    expect(consts.map((n) => n.name).sort()).toEqual(weights.map((w) => w.name).sort());
    for (const c of consts) {
      const w = weights.find((x) => x.name === c.name)!;
      expect(c.attr!.dtype.type).toBe(w.dtype === 'int32' ? 'DT_INT32' : 'DT_FLOAT');
      expect((c.attr!.value.tensor.tensorShape.dim ?? []).map((d: { size: string }) => Number(d.size))).toEqual(w.shape);
    }
    // Shards hold exactly the manifest's bytes.
    const bytes = weights.reduce((s, w) => s + (w.dtype === 'int32' ? 4 : 4) * w.shape.reduce((a, b) => a * b, 1), 0);
    const shardBytes = readdirSync(dir).filter((f) => f.endsWith('.bin')).reduce((s, f) => s + statSync(join(dir, f)).size, 0);
    expect(shardBytes).toBe(bytes);
    expect(json.weightsManifest[0].paths.length).toBeGreaterThan(3);
    // Batch norm kept (inference mode); strings base64 as protobuf's JSON mapping has them.
    const bn = nodes.find((n) => n.name === 'Conv2d_1a_3x3.BatchNorm')!;
    expect(bn.op).toBe('FusedBatchNormV3');
    expect(bn.attr).toMatchObject({ epsilon: { f: 0.001 }, is_training: { b: false }, data_format: { s: Buffer.from('NHWC').toString('base64') } });
    const stem = nodes.find((n) => n.name === 'Conv2d_1a_3x3')!;
    expect(stem.attr).toMatchObject({ padding: { s: Buffer.from('VALID').toString('base64') }, strides: { list: { i: ['1', '2', '2', '1'] } } });
    // The signature: the input and each output keyed by the layers-model's names.
    expect(Object.keys(json.signature.inputs)).toEqual(['input']);
    expect(Object.keys(json.signature.outputs)).toEqual(['Logits.Logits', arch === 'inception_v4' ? 'AuxLogits.Aux_logits' : 'AuxLogits.Logits']);
    expect(json.signature.outputs['Logits.Logits']).toMatchObject({ name: 'Identity:0', tensorShape: { dim: [{ size: '-1' }, { size: '1000' }] } });
    if (arch === 'inception_resnet_v2') {
      expect(nodes.find((n) => n.name === 'Repeat.block35_1.add')?.op).toBe('AddV2');
      expect(nodes.find((n) => n.name === 'Repeat.block35_1')?.op).toBe('Relu');
      expect(nodes.find((n) => n.name === 'Block8')?.op).toBe('AddV2');
    }
  });
});

describe('tfjs graph-model: numbers (thin models, tfjs wasm backend)', () => {
  it.each(ARCHS)('%s: tf.loadGraphModel + execute equals onnxruntime on the ONNX of the same model', async (arch) => {
    const { dir, onnx } = thin.get(arch)!;
    const x = input();
    const ours = await executeFolder(dir, x.nhwc, x.shape);
    expect(ours.inputs).toEqual(['input']);
    const ort = await runOnnx(onnx, x.nchw);
    const [logits, aux] = [...ort.outputs.values()];
    const d = maxAbs(ours.outputs[0].data, logits.data);
    console.log(`${arch} (thin): tfjs graph-model vs onnxruntime max |logits diff| ${d.toExponential(2)}`);
    expect(d).toBeLessThan(1e-4);
    expect(maxAbs(ours.outputs[1].data, aux.data)).toBeLessThan(1e-4);
    expect(topK(ours.outputs[0].data)).toEqual(topK(logits.data));
    expectNotDegenerate(ours.outputs[0].data);
    expectNotDegenerate(ours.outputs[1].data);
    // Any canonical node's value by its layer name (here a block: NHWC).
    const mid = await executeFolder(dir, x.nhwc, x.shape, ['Mixed_6a']);
    const [c, h, w] = blockStats(thin.get(arch)!.model.graph).find((b) => b.block === 'Mixed_6a')!.shape;
    expect(mid.outputs[0].shape).toEqual([1, h, w, c]);
  });

  it.each(ARCHS)('%s: float16 (quantization float16 on every float weight, none on int32) within 1e-2, same top-1; onnxruntime on tfjsFloat16Model within 1e-4', async (arch) => {
    const { dir, model } = thin.get(arch)!;
    const half = join(work, `fp16-${arch}`);
    await tfjsWriter.write(model, half, { tfjsFormat: 'graph-model', dtype: 'float16' });
    for (const w of modelJson(half).weightsManifest[0].weights)
      if (w.dtype === 'int32') expect(w.quantization).toBeUndefined();
      else expect(w).toMatchObject({ dtype: 'float32', quantization: { dtype: 'float16' } });
    const x = input();
    const a = await executeFolder(dir, x.nhwc, x.shape);
    const b = await executeFolder(half, x.nhwc, x.shape);
    const d = maxAbs(a.outputs[0].data, b.outputs[0].data);
    console.log(`${arch} (thin): float16 vs float32 graph-model max |logits diff| ${d.toExponential(2)}`);
    expect(d).toBeLessThan(1e-2);
    expect(topK(b.outputs[0].data, 1)).toEqual(topK(a.outputs[0].data, 1));
    expectNotDegenerate(b.outputs[0].data);
    const onnx = join(work, `fp16-${arch}.onnx`);
    await onnxWriter.write(tfjsFloat16Model(model), onnx);
    const [logits] = [...(await runOnnx(onnx, x.nchw)).outputs.values()];
    expect(maxAbs(b.outputs[0].data, logits.data)).toBeLessThan(1e-4);
  });

  it('block outputs (exposeBlocks) equal those of the ONNX model, NHWC, keyed by block', async () => {
    const model = thinModel('inception_resnet_v2', { aux: false });
    const dir = join(work, 'blocks');
    await tfjsWriter.write(model, dir, { tfjsFormat: 'graph-model', exposeBlocks: true });
    const onnx = join(work, 'blocks.onnx');
    await onnxWriter.write(model, onnx, { exposeBlocks: true });
    const x = input();
    const ours = await executeFolder(dir, x.nhwc, x.shape);
    const ort = await runOnnx(onnx, x.nchw);
    const meta = modelJson(dir).userDefinedMetadata.weightport;
    const blocks = blockStats(model.graph);
    expect(meta.blocks!.map((b) => b.block)).toEqual(blocks.map((b) => b.block));
    for (const b of blocks) {
      const o = ours.outputs[meta.blocks!.find((m) => m.block === b.block)!.output];
      const ref = ort.outputs.get(b.block === 'Logits' ? [...ort.outputs.keys()][0] : b.block) ?? ort.outputs.get(b.output);
      expect(ref, b.block).toBeDefined();
      const nhwc = b.shape.length === 3 ? nchwToNhwc(ref!.data, [1, ...b.shape]) : ref!.data;
      expect(o.shape).toEqual(b.shape.length === 3 ? [1, b.shape[1], b.shape[2], b.shape[0]] : [1, ...b.shape]);
      const scale = Math.max(1, ...Array.from(nhwc, Math.abs));
      expect(maxAbs(o.data, nhwc) / scale, b.block).toBeLessThan(1e-4);
    }
  });

  it('softmax, folded batch norm (Conv2D + BiasAdd), explicit conv pads and an average that counts pads: equal onnxruntime', async () => {
    const base = thinModel('inception_v4', { aux: false, seed: 3 });
    // Pads that are not TF's SAME: a stride-1 3x3 conv padded [0, 0, 2, 2] (same output size) and
    // a 3x3 average pool that counts its pads (count_include_pad).
    const values = await readAll(base);
    const conv = base.graph.nodes.find((n) => n.op === 'conv2d' && n.kernel[0] === 3 && n.stride[0] === 1 && n.pads[0] === 1)!;
    const pool = base.graph.nodes.find((n) => n.op === 'avgpool')!;
    const nodes = base.graph.nodes.map((n): GraphNode =>
      n.name === conv.name ? { ...n, pads: [0, 0, 2, 2] } as GraphNode : n.name === pool.name ? { ...n, countIncludePad: true } as GraphNode : n,
    );
    const odd = createModel({ ...base.graph, nodes } as Graph, values);
    const variants: [string, CanonicalModel, string][] = [
      ['softmax', withSoftmax(base, true), 'Predictions'],
      ['folded', foldBatchNorm(base), 'Logits.Logits'],
      ['odd-pads', odd, 'Logits.Logits'],
    ];
    const x = input();
    for (const [name, model, key] of variants) {
      const dir = join(work, `variant-${name}`);
      await tfjsWriter.write(model, dir, { tfjsFormat: 'graph-model' });
      const ops = new Set(modelJson(dir).modelTopology.node.map((n) => n.op));
      if (name === 'folded') expect(ops.has('FusedBatchNormV3')).toBe(false);
      if (name === 'odd-pads') {
        const c = modelJson(dir).modelTopology.node.find((n) => n.name === conv.name.replaceAll('/', '.'))!;
        expect(c.attr!.padding.s).toBe(Buffer.from('EXPLICIT').toString('base64'));
        expect(c.attr!.explicit_paddings.list.i).toEqual(['0', '0', '0', '2', '0', '2', '0', '0']);
        expect(ops.has('Pad')).toBe(true);
      }
      const ours = await executeFolder(dir, x.nhwc, x.shape);
      expect(ours.names).toEqual([key]);
      const onnx = join(work, `variant-${name}.onnx`);
      await onnxWriter.write(model, onnx);
      const [ref] = [...(await runOnnx(onnx, x.nchw)).outputs.values()];
      expect(maxAbs(ours.outputs[0].data, ref.data), name).toBeLessThan(name === 'softmax' ? 1e-6 : 1e-4);
      expect(topK(ours.outputs[0].data)).toEqual(topK(ref.data));
    }
  });
});

describe('tfjs graph-model: in a real browser (Chromium, tfjs from its bundle)', () => {
  const why = browserAvailable();
  it.skipIf(!!why)(`tf.loadGraphModel over http (tfjs's own loader) + predict equals onnxruntime within 1e-4 ${why}`, async () => {
    const { dir, onnx } = thin.get('inception_resnet_v2')!;
    const x = input();
    const browser = await predictInBrowser(dir, x.nhwc, x.shape);
    const [logits, aux] = [...(await runOnnx(onnx, x.nchw)).outputs.values()];
    expect(browser.outputs).toHaveLength(2);
    const d = maxAbs(browser.outputs[0], logits.data);
    console.log(`inception_resnet_v2 (thin): Chromium tfjs (${browser.backend}) graph-model vs onnxruntime max |logits diff| ${d.toExponential(2)}`);
    expect(d).toBeLessThan(1e-4);
    expect(maxAbs(browser.outputs[1], aux.data)).toBeLessThan(1e-4);
    expect(topK(browser.outputs[0])).toEqual(topK(logits.data));
  });
});

describe('tfjs graph-model: in TensorFlow itself', () => {
  it.skipIf(!py.ok)(`TensorFlow imports the GraphDef (Consts from the shards) and computes what tfjs computes, float16 and explicit pads too${py.ok ? '' : ` (skipped: ${py.reason})`}`, async () => {
    const x = input();
    const inNpy = join(work, 'input-nhwc.npy');
    await writeNpy(inNpy, x.nhwc, x.shape);
    const dirs = [...ARCHS.map((a) => thin.get(a)!.dir), join(work, 'fp16-inception_resnet_v2'), join(work, 'variant-odd-pads')];
    for (const d of dirs) expect(existsSync(join(d, 'model.json')), `${d} (written by the tests above)`).toBe(true);
    const args = [inNpy];
    for (const [i, d] of dirs.entries()) args.push(d, join(work, `tf-${i}`));
    py.run('fixtures/tfjs/graph_model_tf.py', args);
    for (const [i, d] of dirs.entries()) {
      const ours = await executeFolder(d, x.nhwc, x.shape);
      for (const [k, o] of ours.outputs.entries()) {
        const ref = await readNpy(join(work, `tf-${i}`, `output_${k}.npy`));
        expect(ref.shape).toEqual(o.shape);
        const diff = maxAbs(o.data, ref.data);
        if (k === 0) console.log(`${d.split('/').pop()}: tfjs vs TensorFlow max |logits diff| ${diff.toExponential(2)}`);
        expect(diff, `${d} output ${k}`).toBeLessThan(1e-4);
        if (k === 0) expect(topK(ref.data)).toEqual(topK(o.data));
      }
      expectNotDegenerate(ours.outputs[0].data);
    }
  });
});

describe('tfjs graph-model: reading back', () => {
  it.each(ARCHS)('%s: the tfjs reader and scheme read our graph-model back: every weight as written', async (arch) => {
    const { dir, model } = thin.get(arch)!;
    const source = await readModel(dir);
    try {
      expect(source.metadata.modelFormat).toBe('graph-model');
      const { model: back, detection } = bindModel(source, { aux: true });
      expect(detection).toMatchObject({ scheme: 'tfjs', arch, options: { widthDivisor: 16, aux: true, classes: 1000 } });
      const want = await readAll(model);
      const got = await readAll(back);
      expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
      for (const [name, w] of want) {
        const g = got.get(name)!;
        // The folded residual scale is divided out again: within 1 ulp; all else bit for bit.
        const ulp = Math.max(...Array.from(w, (v) => Math.abs(v))) * 2 ** -22;
        expect(maxAbs(g, w), name).toBeLessThanOrEqual(/Conv2d_1x1\/(weights|biases)$/.test(name) ? ulp : 0);
      }
    } finally {
      await source.close();
    }
  });

  it('port inspect: the weights used, the int32 operands left out as such', async () => {
    const { inspect } = await import('../../src/inspect.js');
    const r = await inspect(thin.get('inception_v4')!.dir, { aux: true });
    expect(r.tensors.filter((t) => t.dtype === 'int32').every((t) => t.status === 'left out' && /operand/.test(t.why!))).toBe(true);
    expect(r.tensors.filter((t) => t.dtype !== 'int32').every((t) => t.status === 'used')).toBe(true);
  });

  it('detects a softmax graph-model and its input size', async () => {
    const model = withSoftmax(seededModel(buildGraph('inception_v4', { widthDivisor: 16, inputSize: 139 }), { seed: 2 }), true);
    const dir = join(work, 'readback-softmax');
    await tfjsWriter.write(model, dir, { tfjsFormat: 'graph-model' });
    const source = await readModel(dir);
    try {
      const { detection } = bindModel(source);
      expect(detection.options).toMatchObject({ softmax: true, inputSize: 139 });
    } finally {
      await source.close();
    }
  });

  it("a graph-model that is not weightport's (converter names, folded BN) is a SchemeError naming its tensors", async () => {
    const { dir } = thin.get('inception_v4')!;
    const foreign = join(work, 'foreign');
    const { mkdirSync, writeFileSync, copyFileSync } = await import('node:fs');
    mkdirSync(foreign);
    const json = modelJson(dir);
    for (const p of json.weightsManifest[0].paths) copyFileSync(join(dir, p), join(foreign, p));
    json.weightsManifest[0].weights = json.weightsManifest[0].weights.map((w, i) => ({ ...w, name: `StatefulPartitionedCall/model/conv_${i}/Conv2D_weights` }));
    writeFileSync(join(foreign, 'model.json'), JSON.stringify(json));
    const source = await readModel(foreign);
    try {
      const e = (() => {
        try {
          bindModel(source);
        } catch (x) {
          return x;
        }
      })();
      expect(e).toBeInstanceOf(SchemeError);
      expect((e as SchemeError).code).toBe(3);
      expect((e as Error).message).toMatch(/StatefulPartitionedCall\/model\/conv_0/);
    } finally {
      await source.close();
    }
  });
});

describe('tfjs graph-model: CLI', () => {
  it('port convert <thin safetensors> --to tfjs --tfjs-format graph-model passes its default parity check (float32 and float16)', async () => {
    const st = join(work, 'thin.safetensors');
    const safetensors = WRITERS.find((w) => w.format === 'safetensors')!;
    await safetensors.write(thinModel('inception_resnet_v2', { aux: false, seed: 4 }), st);
    for (const [out, extra] of [
      ['cli.tfjs', []],
      ['cli16.tfjs', ['--dtype', 'float16']],
    ] as const) {
      const r = runCli(['convert', st, '--to', 'tfjs', '--tfjs-format', 'graph-model', '-o', join(work, out), ...extra]);
      expect(r.code, r.stderr + r.stdout).toBe(0);
      expect(r.stdout).toMatch(/PASS/);
      expect(r.stderr).not.toMatch(/executeAsync/);
      expect(modelJson(join(work, out)).format).toBe('graph-model');
      console.log(r.stdout.trim().split('\n').filter((l) => /PASS|diff/.test(l)).join('\n'));
    }
    const bad = runCli(['convert', st, '--to', 'tfjs', '--tfjs-format', 'frozen', '-o', join(work, 'x.tfjs')]);
    expect(bad.code).toBe(2);
  });
});

/** One full-size network, written into the cache folder (never committed) and checked against onnxruntime. */
describe('tfjs graph-model: full size', () => {
  it('inception_v4: tf.loadGraphModel + execute equals onnxruntime within 1e-4, same top-5', async () => {
    const cache = cacheDir('tfjs');
    const model = seededModel(buildGraph('inception_v4'), { seed: 5 });
    const dir = join(cache, 'inception_v4-seed5-graph');
    rmSync(dir, { recursive: true, force: true });
    const t0 = performance.now();
    await tfjsWriter.write(model, dir, { tfjsFormat: 'graph-model' });
    const writeMs = performance.now() - t0;
    const x = input();
    const ours = await executeFolder(dir, x.nhwc, x.shape);
    const onnx = join(cache, 'inception_v4-seed5-noaux.onnx');
    if (!existsSync(onnx)) await onnxWriter.write(model, onnx);
    const [logits] = [...(await runOnnx(onnx, x.nchw)).outputs.values()];
    const d = maxAbs(ours.outputs[0].data, logits.data);
    console.log(`inception_v4 (full): tfjs graph-model vs onnxruntime max |logits diff| ${d.toExponential(2)}; write ${writeMs.toFixed(0)} ms, load ${ours.loadMs.toFixed(0)} ms, execute ${ours.runMs.toFixed(0)} ms`);
    expect(d).toBeLessThan(1e-4);
    expect(topK(ours.outputs[0].data)).toEqual(topK(logits.data));
    expectNotDegenerate(ours.outputs[0].data);
    rmSync(dir, { recursive: true, force: true });
  }, 120_000);
});
