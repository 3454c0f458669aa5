/**
 * The ONNX writer, checked by real consumers: the onnx package's checker (full_check, strict shape
 * inference), protobufjs decoding, and onnxruntime's outputs against TensorFlow running the same
 * canonical graph and weights (fixtures/tf_reference.py). Thin variants (width / 8) here; full-size
 * models in onnx-full.test.ts.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OutputError, UsageError } from '../../src/errors.js';
import { blockStats, buildGraph, graphParams, inferShapes, type Arch } from '../../src/graphs/index.js';
import { seededModel } from '../../src/graphs/init.js';
import { foldBatchNorm, withClasses, withSoftmax } from '../../src/graphs/transforms.js';
import { createModel, readAll, type CanonicalModel } from '../../src/model.js';
import { defaultInput } from '../../src/parity/input.js';
import { runOnnx } from '../../src/parity/ort.js';
import { bytesOf, float32ToFloat16Bits } from '../../src/tensor.js';
import { writeModel } from '../../src/api.js';
import { sha256File } from '../../src/io/hash.js';
import { WRITERS } from '../../src/writers/index.js';
import {
  DEFAULT_OPSET,
  emitGraph,
  EXTERNAL_DATA_ALIGNMENT,
  layOut,
  onnxWriter,
  placeTensors,
  PROTOBUF_MAX_BYTES,
  resolveOnnxOptions,
  valueNames,
} from '../../src/writers/onnx/index.js';
import { PbWriter, varint } from '../../src/writers/onnx/proto.js';
import { runCli } from '../helpers/cli.js';
import { python } from '../helpers/python.js';
import { tfReferences, type ReferenceOutputs } from '../helpers/tf-reference.js';
import { compareLogits, FLOAT16_TOLERANCE, FLOAT32_TOLERANCE, degeneracy } from './onnx-compare.js';

const py = python('tf');
const DIR = mkdtempSync(join(tmpdir(), 'wp-onnx-'));
afterAll(() => rmSync(DIR, { recursive: true, force: true }));
const thinModel = (arch: Arch, opts = {}) => seededModel(buildGraph(arch, { widthDivisor: 8, aux: true, ...opts }), { seed: 11 });
const PACKAGE_VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** The checker's view of each file (fixtures/onnx_check.py), keyed by path. */
function checkModels(paths: readonly string[]): Map<string, CheckedModel> {
  const lines = py.run('fixtures/onnx_check.py', paths).trim().split('\n');
  return new Map(lines.map((l) => JSON.parse(l) as CheckedModel).map((c) => [c.path, c]));
}

interface CheckedModel {
  path: string;
  ir_version: number;
  opsets: Record<string, number>;
  producer: [string, string];
  inputs: { name: string; elem_type: number; dims: (number | string)[] }[];
  outputs: { name: string; elem_type: number; dims: (number | string)[] }[];
  inferred_outputs: { name: string; dims: (number | string)[] }[];
  initializers: number;
  initializer_dtypes: number[];
  external: string[];
  op_types: string[];
  metadata: Record<string, string>;
}

describe('onnx writer: graph translation', () => {
  const irv2 = buildGraph('inception_resnet_v2', { widthDivisor: 8, aux: true });

  it('is registered for --to onnx', () => {
    expect(WRITERS.find((w) => w.format === 'onnx')).toBe(onnxWriter);
  });

  it('names the input, outputs and initializers; explicit pads; average pools exclude padding', () => {
    const g = emitGraph(irv2);
    expect(g.inputs).toEqual([{ name: 'input', dims: ['N', 3, 299, 299] }]);
    expect(g.outputs).toEqual([
      { name: 'logits', dims: ['N', 1000] },
      { name: 'aux_logits', dims: ['N', 1000] },
    ]);
    expect(g.initializers.map((t) => t.name)).toEqual(graphParams(irv2).map((p) => p.name));
    const pool = g.nodes.find((n) => n.name === 'Mixed_5b/Branch_3/AvgPool_0a_3x3')!;
    expect(pool.opType).toBe('AveragePool');
    expect(pool.attributes).toContainEqual({ name: 'count_include_pad', type: 'int', value: 0 });
    expect(pool.attributes).toContainEqual({ name: 'pads', type: 'ints', value: [1, 1, 1, 1] });
    const conv = g.nodes.find((n) => n.name === 'Mixed_6a/Branch_1/Conv2d_0b_3x3')!;
    expect(conv.attributes).toContainEqual({ name: 'pads', type: 'ints', value: [1, 1, 1, 1] });
    const dense = g.nodes.find((n) => n.name === 'Logits/Logits')!;
    expect(dense).toMatchObject({ opType: 'Gemm', outputs: ['logits'], attributes: [{ name: 'transB', value: 1 }] });
  });

  it('writes the residual x + scale * branch as Mul + Add + Relu, and a scale of 1 as a plain Add', () => {
    const nodes = emitGraph(irv2).nodes;
    const ops = (name: string) => nodes.filter((n) => [name, `${name}/scale`, `${name}/mul`, `${name}/add`].includes(n.name));
    const block = ops('Repeat/block35_3');
    expect(block.map((n) => n.opType)).toEqual(['Constant', 'Mul', 'Add', 'Relu']);
    expect(block[0].attributes).toEqual([{ name: 'value_float', type: 'float', value: 0.17 }]);
    expect(block[1].inputs).toEqual(['Repeat/block35_3/Conv2d_1x1', 'Repeat/block35_3/scale']);
    expect(block[2].inputs).toEqual(['Repeat/block35_2', 'Repeat/block35_3/mul']);
    expect(block[3].outputs).toEqual(['Repeat/block35_3']);
    const last = ops('Block8');
    expect(last.map((n) => n.opType)).toEqual(['Add']); // scale 1.0, no activation
    expect(last[0].outputs).toEqual(['Block8']);
  });

  it('keeps block names free: a conv named like its block gets a suffixed value', () => {
    const names = valueNames(irv2);
    expect(names.get('Conv2d_1a_3x3')).toBe('Conv2d_1a_3x3/conv2d');
    expect(names.get('Conv2d_1a_3x3/Relu')).toBe('Conv2d_1a_3x3/Relu');
    expect(names.get('Mixed_5b')).toBe('Mixed_5b');
    expect(names.get('Logits/Logits')).toBe('logits');
  });

  it('exposeBlocks adds one output per block, named after it, in blockStats order', () => {
    const g = emitGraph(irv2, { exposeBlocks: true });
    const blocks = blockStats(irv2);
    expect(g.outputs.slice(2).map((o) => o.name)).toEqual(blocks.map((b) => b.block));
    expect(g.outputs.find((o) => o.name === 'Mixed_6a')!.dims).toEqual(['N', ...inferShapes(irv2).get('Mixed_6a')!]);
    const values = new Set(g.nodes.flatMap((n) => n.outputs));
    expect(values.size).toBe(g.nodes.flatMap((n) => n.outputs).length); // every value defined once
    for (const o of g.outputs) expect(values.has(o.name)).toBe(true);
  });

  it('ends in Softmax with a `probabilities` output when the graph asks for it', () => {
    const withNode = emitGraph(withSoftmax(thinModel('inception_v4'), true).graph);
    expect(withNode.outputs[0].name).toBe('probabilities');
    expect(withNode.nodes.find((n) => n.opType === 'Softmax')!.outputs).toEqual(['probabilities']);
    // options.softmax set on a graph without the node: the writer adds it.
    const g = buildGraph('inception_v4', { widthDivisor: 8 });
    const flagOnly = emitGraph({ ...g, options: { ...g.options, softmax: true } });
    expect(flagOnly.nodes.at(-1)).toMatchObject({ opType: 'Softmax', name: 'Predictions', inputs: ['Logits/Logits'], outputs: ['probabilities'] });
  });

  it('float16: initializers stored as float16, each cast to float32 before its op', () => {
    const g = emitGraph(irv2, { dtype: 'float16' });
    expect(new Set(g.initializers.map((t) => t.dataType))).toEqual(new Set([10]));
    const conv = g.nodes.findIndex((n) => n.name === 'Conv2d_1a_3x3');
    expect(g.nodes[conv - 1]).toMatchObject({ opType: 'Cast', inputs: ['Conv2d_1a_3x3/weights'], attributes: [{ name: 'to', value: 1 }] });
    expect(g.nodes[conv].inputs).toEqual(['input', 'Conv2d_1a_3x3/weights/float32']);
    expect(g.nodes.filter((n) => n.opType === 'Cast')).toHaveLength(g.initializers.length);
  });
});

describe('onnx writer: options and encoding', () => {
  it('defaults to opset 17 and rejects opsets outside 13..21 and unknown dtypes as usage errors', () => {
    expect(resolveOnnxOptions({}).opset).toBe(DEFAULT_OPSET);
    expect(DEFAULT_OPSET).toBe(17);
    for (const opset of [12, 22, 17.5, NaN]) expect(() => resolveOnnxOptions({ opset })).toThrow(UsageError);
    expect(() => resolveOnnxOptions({ dtype: 'bfloat16' as 'float16' })).toThrow(/dtype/);
  });

  it('a bad opset fails before any file is written (exit code 2)', async () => {
    const out = join(DIR, 'opset12.onnx');
    const err = await onnxWriter.write(thinModel('inception_v4'), out, { opset: 12 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).code).toBe(2);
    expect(existsSync(out)).toBe(false);
  });

  it('the protobuf writer: negative ints as ten bytes, float32, UTF-8 strings, nested lengths of one and two bytes', () => {
    const bytes = (fill: (w: PbWriter) => void) => {
      const w = new PbWriter();
      fill(w);
      return [...w.finish()];
    };
    expect(bytes((w) => w.int64(-1))).toEqual([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    expect(bytes((w) => w.int32(-2))).toEqual([0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    expect(bytes((w) => w.uint32(300).int64(2 ** 35 + 1))).toEqual([0xac, 0x02, 0x81, 0x80, 0x80, 0x80, 0x80, 0x01]);
    expect(bytes((w) => w.float(1.5))).toEqual([0, 0, 0xc0, 0x3f]);
    expect(bytes((w) => w.string('é'))).toEqual([2, 0xc3, 0xa9]);
    // field 1 (len) holding field 2 (len) holding 200 bytes: prefixes of 2 bytes each, inner first
    const nested = bytes((w) => {
      w.uint32((1 << 3) | 2).fork();
      w.uint32((2 << 3) | 2).string('x'.repeat(200));
      w.ldelim();
    });
    expect(nested.slice(0, 6)).toEqual([0x0a, 203, 0x01, 0x12, 200, 0x01]);
    expect(nested.length).toBe(1 + 2 + 1 + 2 + 200);
    expect(bytes((w) => w.uint32(10).fork().ldelim())).toEqual([10, 0]);
  });

  it('varints match protobuf encoding, past 32 bits too', () => {
    expect([...varint(0)]).toEqual([0]);
    expect([...varint(300)]).toEqual([0xac, 0x02]);
    expect([...varint(2 ** 35 + 1)]).toEqual([0x81, 0x80, 0x80, 0x80, 0x80, 0x01]);
    expect(() => varint(-1)).toThrow(RangeError);
  });

  it('switches to external data by itself when the file would pass protobuf\'s 2 GiB limit', () => {
    const fake = (size: number) => (external: boolean) => ({ encoded: { size: external ? 1000 : size, head: new Uint8Array(), tensorHeads: [], tail: new Uint8Array() } });
    expect(PROTOBUF_MAX_BYTES).toBe(2 ** 31 - 1);
    expect(layOut(false, fake(2 ** 31 - 1)).external).toBe(false);
    expect(layOut(false, fake(2 ** 31))).toMatchObject({ external: true, encoded: { size: 1000 } });
    expect(layOut(true, fake(10)).external).toBe(true);
  });

  it('places external tensors at 4 KiB-aligned offsets', () => {
    const p = placeTensors([10, 5000, 4096, 1], 'm.onnx.data');
    expect(p.map((x) => (x.kind === 'external' ? x.offset : -1))).toEqual([0, 4096, 12288, 16384]);
    expect(EXTERNAL_DATA_ALIGNMENT).toBe(4096);
    expect(placeTensors([10], undefined)).toEqual([{ kind: 'inline', length: 10 }]);
  });

  it('protobufjs decodes the file; every initializer holds the parameter bytes, read once, with progress', async () => {
    const source = thinModel('inception_resnet_v2');
    const reads = new Map<string, number>();
    const counted: CanonicalModel = {
      ...source,
      params: source.params.map((p) => ({ ...p, read: () => (reads.set(p.name, (reads.get(p.name) ?? 0) + 1), p.read()) })),
    };
    const progress: [number, number][] = [];
    const out = join(DIR, 'decoded.onnx');
    const result = await onnxWriter.write(counted, out, { onProgress: (d, t) => progress.push([d, t]) });
    expect(result.files).toEqual([out]);
    expect(result.bytes).toBe(readFileSync(out).length);
    expect([...reads.values()].every((n) => n === 1)).toBe(true);
    expect(reads.size).toBe(source.params.length);
    expect(progress.map(([d]) => d)).toEqual(source.params.map((_, i) => i + 1));
    expect(progress.every(([, t]) => t === source.params.length)).toBe(true);

    const { onnx } = (await import('onnx-proto')).default; // generated from onnx.proto: an independent decoder
    const m = onnx.ModelProto.decode(readFileSync(out));
    expect(m.producerName).toBe('weightport');
    expect(m.producerVersion).toBe(PACKAGE_VERSION);
    expect(Number(m.irVersion)).toBe(8);
    const values = await readAll(source);
    expect(m.graph!.initializer!.map((t) => t.name)).toEqual(source.params.map((p) => p.name));
    for (const t of m.graph!.initializer!) expect(Buffer.from(t.rawData!).equals(Buffer.from(bytesOf(values.get(t.name!)!)))).toBe(true);
  });

  it('float16 initializers hold the rounded values', async () => {
    const source = thinModel('inception_v4');
    const out = join(DIR, 'f16-decoded.onnx');
    await onnxWriter.write(source, out, { dtype: 'float16' });
    const { onnx } = (await import('onnx-proto')).default; // generated from onnx.proto: an independent decoder
    const m = onnx.ModelProto.decode(readFileSync(out));
    const values = await readAll(source);
    for (const t of m.graph!.initializer!.slice(0, 50)) {
      expect(t.dataType).toBe(10);
      expect(Buffer.from(t.rawData!).equals(Buffer.from(bytesOf(Uint16Array.from(values.get(t.name!)!, (x) => float32ToFloat16Bits(x)))))).toBe(true);
    }
  });
});

describe.skipIf(!py.ok)(`onnx writer: onnx.checker (full_check) and onnxruntime vs TensorFlow${py.ok ? '' : ` (skipped: ${py.reason})`}`, () => {
  const input = defaultInput(299, 2);
  const variants = [
    ['kept', {}],
    ['folded', { foldBn: true }],
    ['float16', { dtype: 'float16' as const }],
    ['float16-folded', { dtype: 'float16' as const, foldBn: true }],
    ['external', { externalData: true }],
    ['blocks', { exposeBlocks: true, opset: 21 }],
  ] as const;
  const models = { inception_v4: thinModel('inception_v4'), inception_resnet_v2: thinModel('inception_resnet_v2') };
  const path = (arch: string, variant: string) => join(DIR, `${arch}-${variant}.onnx`);
  /** Already folded (no batchnorm nodes, biased convs), as a source that stores BN folded binds. */
  const prefolded = foldBatchNorm(models.inception_v4);
  /** 1001 classes, ending in a softmax, with a source file's provenance. */
  const softmax1001 = ((base: CanonicalModel): CanonicalModel => ({
    ...withSoftmax(base, true),
    provenance: { ...base.provenance, sourceFile: 'model.h5', sourceSha256: 'ab'.repeat(32), sourceFormat: 'keras', scheme: 'keras' },
  }))(withClasses(thinModel('inception_v4'), 1001));
  let checked: Map<string, CheckedModel>;
  let reference: Record<Arch | 'softmax1001', ReferenceOutputs>;

  beforeAll(async () => {
    const written: [CanonicalModel, string, object][] = [];
    for (const [arch, model] of Object.entries(models))
      for (const [variant, opts] of variants) written.push([model, path(arch, variant), opts]);
    for (let opset = 13; opset <= 21; opset++) written.push([models.inception_resnet_v2, path('opset', String(opset)), { opset, foldBn: opset % 2 === 0 }]);
    for (const foldBn of [false, true]) written.push([prefolded, path('prefolded', String(foldBn)), { foldBn }]);
    written.push([softmax1001, path('softmax', '1001'), {}]);
    for (const [model, out, opts] of written) await onnxWriter.write(model, out, opts);
    checked = checkModels(written.map(([, out]) => out));
    // TensorFlow runs the models as given, BN kept: folding is checked against it too.
    const refs = await tfReferences(py, [
      { model: models.inception_v4, input },
      { model: models.inception_resnet_v2, input },
      { model: withSoftmax(softmax1001, false), input },
    ]);
    reference = { inception_v4: refs[0], inception_resnet_v2: refs[1], softmax1001: refs[2] };
  });

  it('the checker accepts every opset 13..21 with the lowest IR version that allows it', () => {
    const ir: Record<number, number> = { 13: 7, 14: 7, 15: 8, 16: 8, 17: 8, 18: 8, 19: 9, 20: 9, 21: 10 };
    for (let opset = 13; opset <= 21; opset++) {
      const c = checked.get(path('opset', String(opset)))!;
      expect(c.opsets).toEqual({ 'ai.onnx': opset });
      expect(c.ir_version).toBe(ir[opset]);
    }
  });

  it.each(Object.keys(models))('%s: the checker accepts BN kept and folded, float16, external data; shapes infer to the declared ones', (arch) => {
    for (const [variant] of variants) {
      const c = checked.get(path(arch, variant))!;
      expect(c.producer).toEqual(['weightport', PACKAGE_VERSION]);
      expect(c.inputs).toEqual([{ name: 'input', elem_type: 1, dims: ['N', 3, 299, 299] }]);
      expect(c.outputs.slice(0, 2)).toEqual([
        { name: 'logits', elem_type: 1, dims: ['N', 1000] },
        { name: 'aux_logits', elem_type: 1, dims: ['N', 1000] },
      ]);
      expect(c.inferred_outputs).toEqual(c.outputs.map(({ name, dims }) => ({ name, dims })));
      expect(c.op_types.includes('BatchNormalization')).toBe(!variant.includes('folded'));
      expect(c.initializer_dtypes).toEqual(variant.startsWith('float16') ? [10] : [1]);
      expect(c.external).toEqual(variant === 'external' ? [`${arch}-external.onnx.data`] : []);
    }
  });

  it('records provenance and preprocessing in metadata_props', () => {
    const md = checked.get(path('inception_resnet_v2', 'folded'))!.metadata;
    expect(md).toMatchObject({
      source_format: 'seeded',
      naming_scheme: 'canonical',
      architecture: 'inception_resnet_v2',
      classes: '1000',
      background_class: 'none',
      input_range: '[-1, 1]',
      input_size: '299',
      mean: '0.5,0.5,0.5',
      std: '0.5,0.5,0.5',
      outputs: 'logits',
      output_names: 'logits,aux_logits',
      batchnorm: 'folded into conv',
      weights_dtype: 'float32',
      opset: '17',
    });
  });

  it.each(Object.keys(models) as Arch[])('%s: onnxruntime matches TensorFlow (float64) within 1e-4, BN kept and folded; outputs not degenerate', async (arch) => {
    const ref = reference[arch];
    expect(degeneracy(ref.logits)).toEqual([]);
    for (const variant of ['kept', 'folded', 'external', 'blocks']) {
      const run = await runOnnx(path(arch, variant), input);
      const logits = compareLogits(run.outputs.get('logits')!.data, ref.logits);
      expect(logits.maxAbs, `${variant} logits`).toBeLessThan(FLOAT32_TOLERANCE);
      expect(logits.sameTop5, `${variant} top-5`).toBe(true);
      const aux = compareLogits(run.outputs.get('aux_logits')!.data, ref.aux!);
      expect(aux.maxAbs, `${variant} aux`).toBeLessThan(FLOAT32_TOLERANCE);
    }
  });

  it.each(Object.keys(models) as Arch[])('%s: float16 weights stay within the documented tolerance, same top-1', async (arch) => {
    for (const variant of ['float16', 'float16-folded']) {
      const run = await runOnnx(path(arch, variant), input);
      const c = compareLogits(run.outputs.get('logits')!.data, reference[arch].logits);
      expect(c.relative, variant).toBeLessThan(FLOAT16_TOLERANCE);
      expect(c.sameTop1, variant).toBe(true);
    }
  });

  it('every opset runs in onnxruntime with the same logits', async () => {
    const ref = reference.inception_resnet_v2;
    for (let opset = 13; opset <= 21; opset++) {
      const run = await runOnnx(path('opset', String(opset)), input);
      expect(compareLogits(run.outputs.get('logits')!.data, ref.logits).maxAbs).toBeLessThan(FLOAT32_TOLERANCE);
    }
  });

  it('exposeBlocks: onnxruntime returns every block output, the last ones equal to the logits', async () => {
    const graph = models.inception_resnet_v2.graph;
    const blocks = blockStats(graph);
    const run = await runOnnx(path('inception_resnet_v2', 'blocks'), input, { outputs: ['logits', ...blocks.map((b) => b.block)] });
    for (const b of blocks) expect(run.outputs.get(b.block)!.dims).toEqual([2, ...b.shape]);
    expect(run.outputs.get('Logits')!.data).toEqual(run.outputs.get('logits')!.data);
    const stem = run.outputs.get('Conv2d_1a_3x3')!.data;
    expect(Math.min(...stem.slice(0, 10_000))).toBeGreaterThanOrEqual(0); // after the ReLU, not the conv
  });

  it('a model already folded (no batchnorm nodes, biased convs) writes and runs, with or without foldBn', async () => {
    expect(prefolded.graph.nodes.some((n) => n.op === 'batchnorm')).toBe(false);
    for (const foldBn of [false, true]) {
      const out = path('prefolded', String(foldBn));
      expect(checked.get(out)!.metadata.batchnorm).toBe('folded into conv');
      const run = await runOnnx(out, input);
      expect(compareLogits(run.outputs.get('logits')!.data, reference.inception_v4.logits).maxAbs).toBeLessThan(FLOAT32_TOLERANCE);
    }
  });

  it('softmax models output probabilities; 1001 classes and the source are recorded', async () => {
    const out = path('softmax', '1001');
    const c = checked.get(out)!;
    expect(c.outputs.map((o) => o.name)).toEqual(['probabilities', 'aux_logits']);
    expect(c.metadata).toMatchObject({
      source_file: 'model.h5',
      source_sha256: 'ab'.repeat(32),
      source_format: 'keras',
      naming_scheme: 'keras',
      classes: '1001',
      background_class: 'index 0',
      outputs: 'probabilities',
    });
    const p = (await runOnnx(out, input)).outputs.get('probabilities')!.data;
    // TensorFlow ran the same network without the softmax: compare with the softmax of its logits.
    reference.softmax1001.logits.forEach((row, b) => {
      const max = Math.max(...row);
      const exp = row.map((x) => Math.exp(x - max));
      const sum = exp.reduce((a, x) => a + x, 0);
      const probs = p.subarray(b * row.length, (b + 1) * row.length);
      expect(probs.reduce((a, x) => a + x, 0)).toBeCloseTo(1, 5);
      for (let i = 0; i < row.length; i++) expect(Math.abs(probs[i] - exp[i] / sum)).toBeLessThan(1e-6);
    });
  });
});

describe('onnx writer: output files', () => {
  const model = thinModel('inception_v4');
  const fresh = () => mkdtempSync(join(DIR, 'out-'));

  it('refuses to overwrite without force (exit code 4), leaving the file as it was; force overwrites', async () => {
    const dir = fresh();
    const out = join(dir, 'm.onnx');
    writeFileSync(out, 'keep me');
    const err = await onnxWriter.write(model, out).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OutputError);
    expect((err as OutputError).code).toBe(4);
    expect(readFileSync(out, 'utf8')).toBe('keep me');
    await onnxWriter.write(model, out, { force: true });
    expect(readFileSync(out).length).toBeGreaterThan(1000);
    expect(readdirSync(dir)).toEqual(['m.onnx']);
  });

  it('external data: an existing .data file is refused too', async () => {
    const dir = fresh();
    writeFileSync(join(dir, 'm.onnx.data'), 'keep me');
    const err = await onnxWriter.write(model, join(dir, 'm.onnx'), { externalData: true }).catch((e: unknown) => e);
    expect((err as OutputError).code).toBe(4);
    expect(readdirSync(dir)).toEqual(['m.onnx.data']);
  });

  it.each([
    ['a missing folder', (dir: string) => join(dir, 'no', 'such', 'm.onnx')],
    ['a path under a regular file', (dir: string) => (writeFileSync(join(dir, 'file'), ''), join(dir, 'file', 'm.onnx'))],
  ])('%s is refused (exit code 4)', async (_, make) => {
    const dir = fresh();
    const err = await onnxWriter.write(model, make(dir)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OutputError);
    expect((err as OutputError).code).toBe(4);
  });

  // chmod does not stop root: as root, /sys (sysfs refuses new files with EACCES) is the read-only folder.
  const asRoot = userInfo().uid === 0;
  const sysRefuses = asRoot && (() => {
    try {
      writeFileSync('/sys/.wp-probe', '');
      return false;
    } catch (e) {
      return ['EACCES', 'EROFS', 'EPERM'].includes((e as NodeJS.ErrnoException).code ?? '');
    }
  })();
  it.skipIf(asRoot && !sysRefuses)(`a read-only folder is refused (exit code 4)${asRoot && !sysRefuses ? ' (skipped: root, and /sys accepts files)' : ''}`, async () => {
    let dir = '/sys';
    if (!asRoot) {
      dir = fresh();
      const { chmodSync } = await import('node:fs');
      chmodSync(dir, 0o500);
    }
    const err = await onnxWriter.write(model, join(dir, 'wp-readonly.onnx')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OutputError);
    expect((err as OutputError).code).toBe(4);
    expect(existsSync(join(dir, 'wp-readonly.onnx'))).toBe(false);
  });

  it('a failing read mid-way leaves nothing behind, in both files', async () => {
    for (const externalData of [false, true]) {
      const dir = fresh();
      const failing: CanonicalModel = {
        ...model,
        params: model.params.map((p, i) => (i === 40 ? { ...p, read: () => Promise.reject(new Error('disk on fire')) } : p)),
      };
      await expect(onnxWriter.write(failing, join(dir, 'm.onnx'), { externalData })).rejects.toThrow('disk on fire');
      expect(readdirSync(dir)).toEqual([]);
    }
  });
});

describe('port <input> --to onnx (the CLI)', () => {
  it('converts with the options given and records the source; refuses a bad opset (2) and an existing output (4)', async () => {
    const dir = mkdtempSync(join(DIR, 'cli-'));
    const src = join(dir, 'thin.safetensors');
    await writeModel(thinModel('inception_v4'), src, { to: 'safetensors' });
    const out = join(dir, 'thin.onnx');
    const ok = runCli([src, '--to', 'onnx', '-o', out, '--opset', '21', '--fold-bn', '--no-check']);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    const { onnx } = (await import('onnx-proto')).default;
    const m = onnx.ModelProto.decode(readFileSync(out));
    expect(Number(m.opsetImport[0].version)).toBe(21);
    expect(m.graph!.node!.some((n) => n.opType === 'BatchNormalization')).toBe(false);
    const md = Object.fromEntries(m.metadataProps.map((p) => [p.key, p.value]));
    expect(md).toMatchObject({ source_file: 'thin.safetensors', source_sha256: await sha256File(src), source_format: 'safetensors', naming_scheme: 'canonical' });

    const exists = runCli([src, '--to', 'onnx', '-o', out, '--no-check']);
    expect(exists.code).toBe(4);
    expect(exists.stderr).toMatch(/thin\.onnx: exists already/);
    const badOpset = runCli([src, '--to', 'onnx', '-o', join(dir, 'b.onnx'), '--opset', '12', '--no-check']);
    expect(badOpset.code).toBe(2);
    expect(badOpset.stderr).toMatch(/--opset 12 is not supported/);
    expect(readdirSync(dir).sort()).toEqual(['thin.onnx', 'thin.safetensors']);
  });
});
