/**
 * The ONNX topology scheme: files bound by their graph, whatever their names. Our writer's files
 * in each of its variants; the forms other exporters use (made by editing those files through the
 * protobuf schema: MatMul heads, Identity aliases, Reshape, ReduceMean, swapped Add operands, typed
 * fields, merged concats, another batch-norm epsilon), with onnxruntime as the judge that an edit
 * kept the function; and one test per thing that must be refused.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bindModel, detectScheme } from '../../../src/api.js';
import { ExitCode, SchemeError } from '../../../src/errors.js';
import { buildGraph, type Arch } from '../../../src/graphs/index.js';
import { seededModel } from '../../../src/graphs/init.js';
import { onnxScheme } from '../../../src/graphs/schemes/onnx.js';
import { SCHEME_LIST } from '../../../src/graphs/schemes/index.js';
import { foldBatchNorm, withClasses, withSoftmax } from '../../../src/graphs/transforms.js';
import { readAll, type CanonicalModel } from '../../../src/model.js';
import { defaultInput } from '../../../src/parity/input.js';
import { runOnnx } from '../../../src/parity/ort.js';
import { openOnnx } from '../../../src/readers/onnx/index.js';
import { float16BitsToFloat32, float32ToFloat16Bits } from '../../../src/tensor.js';
import { onnxWriter } from '../../../src/writers/onnx/index.js';
import type { WriteOptions } from '../../../src/writers/types.js';
import { attrInt, attrInts, editOnnx, floatTensor, tinyModel, type onnx } from '../../helpers/onnx.js';
import { python } from '../../helpers/python.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'wp-onnx-scheme-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
const tmp = (name = 'm') => join(dir, `${name}-${n++}.onnx`);
const thin = (arch: Arch, opts = {}) => buildGraph(arch, { widthDivisor: 16, ...opts });

async function written(model: CanonicalModel, options: WriteOptions = {}): Promise<string> {
  const path = tmp('ours');
  await onnxWriter.write(model, path, options);
  return path;
}

/** Binds a file by auto-detection; returns the detection and every value. */
async function bound(path: string, opts: { arch?: Arch; aux?: boolean } = {}) {
  const src = await openOnnx(path);
  try {
    const { model, detection } = bindModel(src, opts);
    return { detection, model, values: await readAll(model) };
  } finally {
    await src.close();
  }
}

function expectSame(actual: Map<string, Float32Array>, expected: Map<string, Float32Array>) {
  expect([...actual.keys()]).toEqual([...expected.keys()]);
  for (const [k, v] of expected) {
    const a = actual.get(k)!;
    expect(a.length, k).toBe(v.length);
    for (let i = 0; i < v.length; i++) if (!Object.is(a[i], v[i])) expect.fail(`${k}[${i}]: ${a[i]} !== ${v[i]}`);
  }
}

async function logits(path: string): Promise<Float32Array> {
  return [...(await runOnnx(path, defaultInput(299))).outputs.values()][0].data;
}

const maxAbs = (a: Float32Array, b: Float32Array) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);

async function schemeError(path: string, opts: { arch?: Arch } = {}): Promise<SchemeError> {
  const src = await openOnnx(path);
  try {
    bindModel(src, opts);
  } catch (e) {
    expect(e).toBeInstanceOf(SchemeError);
    expect((e as SchemeError).code).toBe(ExitCode.badInput);
    return e as SchemeError;
  } finally {
    await src.close();
  }
  throw new Error('expected a SchemeError');
}

describe('our writer: every variant binds back, bit for bit', () => {
  it('comes first in SCHEME_LIST and applies to ONNX sources only', () => {
    expect(SCHEME_LIST[0]).toBe(onnxScheme);
    expect(onnxScheme.detect({ format: 'safetensors', path: 'x', files: [], metadata: {}, tensors: [], close: async () => {} })).toBeNull();
  });

  it.each([
    ['inception_v4', {}, {}],
    ['inception_resnet_v2', {}, {}],
    ['inception_v4', { classes: 1001, aux: true }, { opset: 13 }],
    ['inception_resnet_v2', { classes: 1001, aux: true }, { opset: 21 }],
    ['inception_resnet_v2', { aux: true }, { exposeBlocks: true }],
    ['inception_v4', { widthDivisor: 8, inputSize: 160 }, {}],
  ] as const)('%s %j written with %j', async (arch, gopts, wopts) => {
    const model = seededModel(thin(arch, gopts), { seed: 9 });
    const r = await bound(await written(model, wopts), { aux: true });
    expect(r.detection).toMatchObject({
      scheme: 'onnx',
      arch,
      foldedBn: false,
      options: { classes: 1000, aux: false, widthDivisor: 16, inputSize: 299, softmax: false, ...gopts },
    });
    expectSame(r.values, await readAll(model));
  });

  it('BN folded (--fold-bn): a canonical model with conv biases and no batch norm', async () => {
    for (const arch of ['inception_v4', 'inception_resnet_v2'] as const) {
      const model = seededModel(thin(arch), { seed: 4 });
      const r = await bound(await written(model, { foldBn: true }));
      expect(r.detection).toMatchObject({ arch, foldedBn: true });
      expect(r.model.graph.nodes.some((x) => x.op === 'batchnorm')).toBe(false);
      expectSame(r.values, await readAll(foldBatchNorm(model)));
    }
  });

  it('float16 weights (Cast nodes) and a softmax output', async () => {
    const model = withSoftmax(seededModel(thin('inception_resnet_v2'), { seed: 5 }), true);
    const r = await bound(await written(model, { dtype: 'float16' }));
    expect(r.detection.options).toMatchObject({ softmax: true });
    expect(r.model.provenance.sourceOutputsProbabilities).toBe(true);
    const want = await readAll(model);
    const rounded = new Map([...want].map(([k, v]) => [k, v.map((x) => float16BitsToFloat32(float32ToFloat16Bits(x)))]));
    expectSame(r.values, rounded);
  });

  it('the auxiliary head is recognised and left out unless asked for', async () => {
    const model = seededModel(thin('inception_v4', { aux: true }), { seed: 6 });
    const path = await written(model);
    const r = await bound(path);
    expect(r.detection.options.aux).toBe(true);
    expect([...r.values.keys()].some((k) => k.startsWith('AuxLogits/'))).toBe(false);
    expect([...(await bound(path, { aux: true })).values.keys()].some((k) => k.startsWith('AuxLogits/'))).toBe(true);
  });
});

describe("other exporters' forms (edits of our files), checked with onnxruntime", () => {
  const arch = 'inception_resnet_v2';
  let model: CanonicalModel;
  let base: string;
  let want: Map<string, Float32Array>;
  beforeAll(async () => {
    model = seededModel(thin(arch, { classes: 1001 }), { seed: 12 });
    base = await written(model);
    want = await readAll(model);
  });

  const node = (m: onnx.ModelProto, name: string) => m.graph!.node!.find((x) => x.name === name)!;
  const init = (m: onnx.ModelProto, name: string) => m.graph!.initializer!.find((x) => x.name === name)!;
  const f32 = (t: onnx.ITensorProto) => new Float32Array(Uint8Array.from(t.rawData!).buffer);

  it('PyTorch-style names, Identity aliases of initializers, typed float_data, a Reshape and ReduceMean head', async () => {
    const path = tmp('torchish');
    await editOnnx(base, path, (m) => {
      const g = m.graph!;
      const rename = new Map<string, string>();
      g.initializer!.forEach((t, i) => {
        rename.set(t.name!, `onnx::Conv_${100 + i}`);
        t.name = `onnx::Conv_${100 + i}`;
      });
      for (const x of g.node!) x.input = x.input!.map((v) => rename.get(v) ?? v);
      // weights of one conv behind an Identity, one tensor in float_data
      const conv = node(m, 'Mixed_5b/Branch_1/Conv2d_0b_5x5');
      g.node!.unshift({ opType: 'Identity', name: 'alias', input: [conv.input![1]], output: ['aliased_w'] });
      conv.input![1] = 'aliased_w';
      const t = g.initializer!.find((x) => x.name === rename.get('Conv2d_2b_3x3/weights'))!;
      t.floatData = [...f32(t)];
      t.rawData = new Uint8Array(0);
      delete (t as { rawData?: unknown }).rawData;
      // GlobalAveragePool -> ReduceMean(axes 2, 3); Flatten -> Reshape to [0, -1]
      const pool = node(m, 'Logits/AvgPool_1a_8x8/pool');
      pool.opType = 'ReduceMean';
      pool.attribute = [attrInts('axes', [2, 3]), attrInt('keepdims', 1)];
      const flat = node(m, 'Logits/AvgPool_1a_8x8');
      flat.opType = 'Reshape';
      flat.attribute = [];
      flat.input = [flat.input![0], 'flat_shape'];
      g.initializer!.push({ name: 'flat_shape', dims: [2], dataType: 7, int64Data: [0, -1] });
    });
    const r = await bound(path);
    expect(r.detection).toMatchObject({ scheme: 'onnx', arch, options: { classes: 1001 } });
    expectSame(r.values, want);
    expect(maxAbs(await logits(path), await logits(base))).toBeLessThan(1e-5);
  });

  it('MatMul + Add head ([in, out] weights), Gemm with transB = 0, a [1, out] bias', async () => {
    const matmul = tmp('matmul');
    await editOnnx(base, matmul, (m) => {
      const gemm = node(m, 'Logits/Logits');
      const w = init(m, 'Logits/Logits/weights');
      const [o, i] = w.dims!.map(Number);
      const src = f32(w);
      const t = new Float32Array(src.length);
      for (let r = 0; r < o; r++) for (let c = 0; c < i; c++) t[c * o + r] = src[r * i + c];
      w.dims = [i, o];
      w.rawData = new Uint8Array(t.buffer);
      gemm.opType = 'MatMul';
      gemm.attribute = [];
      gemm.output = ['mm'];
      const bias = gemm.input![2];
      gemm.input = gemm.input!.slice(0, 2);
      const at = m.graph!.node!.indexOf(gemm);
      m.graph!.node!.splice(at + 1, 0, { opType: 'Add', name: 'bias_add', input: [bias, 'mm'], output: ['logits'] });
    });
    expectSame((await bound(matmul)).values, want);
    expect(maxAbs(await logits(matmul), await logits(base))).toBeLessThan(1e-5);

    const transB0 = tmp('transb0');
    await editOnnx(matmul, transB0, (m) => {
      const mm = node(m, 'Logits/Logits');
      const add = node(m, 'bias_add');
      mm.opType = 'Gemm';
      mm.input = [...mm.input!, 'row_bias'];
      mm.output = ['logits'];
      m.graph!.node = m.graph!.node!.filter((x) => x !== add);
      const b = init(m, 'Logits/Logits/biases');
      m.graph!.initializer!.push({ ...floatTensor('row_bias', [1, Number(b.dims![0])], [...f32(b)]) });
      m.graph!.initializer = m.graph!.initializer!.filter((x) => x !== b);
    });
    expectSame((await bound(transB0)).values, want);
    expect(maxAbs(await logits(transB0), await logits(base))).toBeLessThan(1e-5);
  });

  it('residual as Add(Mul(scale, branch), x) with the scale as an initializer', async () => {
    const path = tmp('residual');
    await editOnnx(base, path, (m) => {
      for (let i = 1; i <= 10; i++) {
        const name = `Repeat/block35_${i}`;
        const add = node(m, `${name}/add`);
        add.input = [add.input![1], add.input![0]];
        const mul = node(m, `${name}/mul`);
        mul.input = [`${name}/scale_init`, mul.input![0]];
        m.graph!.node = m.graph!.node!.filter((x) => x.name !== `${name}/scale`);
        m.graph!.initializer!.push(floatTensor(`${name}/scale_init`, [], [0.17]));
      }
    });
    expectSame((await bound(path)).values, want);
    expect(maxAbs(await logits(path), await logits(base))).toBeLessThan(1e-5);
  });

  it('batch-norm epsilon 1e-5 is absorbed into the variance: the same function', async () => {
    const path = tmp('eps');
    await editOnnx(base, path, (m) => {
      for (const x of m.graph!.node!) if (x.opType === 'BatchNormalization') x.attribute = [{ name: 'epsilon', type: 1, f: 1e-5 }];
    });
    const r = await bound(path);
    expect(r.detection.reason).toMatch(/epsilon/);
    const rewritten = tmp('eps-rewritten');
    await onnxWriter.write(r.model, rewritten);
    const [a, b] = [await logits(path), await logits(rewritten)];
    expect(maxAbs(a, b)).toBeLessThan(1e-4);
    expect(maxAbs(a, await logits(base))).toBeGreaterThan(1e-3); // the edit did change the function
  });

  it("merged concats (PyTorch's Inception-C: one Concat of 6)", async () => {
    const v4 = seededModel(thin('inception_v4'), { seed: 13 });
    const src = await written(v4);
    const path = tmp('merged');
    await editOnnx(src, path, (m) => {
      for (const s of 'bcd') {
        const outer = node(m, `Mixed_7${s}`);
        const inner = (b: number) => node(m, `Mixed_7${s}/Branch_${b}/concat`);
        outer.input = [outer.input![0], ...inner(1).input!, ...inner(2).input!, outer.input![3]];
        m.graph!.node = m.graph!.node!.filter((x) => x !== inner(1) && x !== inner(2));
      }
    });
    expectSame((await bound(path)).values, await readAll(v4));
    expect(maxAbs(await logits(path), await logits(src))).toBe(0);
  });
});

describe('refused, with the reason', () => {
  const arch = 'inception_resnet_v2';
  let base: string;
  beforeAll(async () => {
    base = await written(seededModel(thin(arch), { seed: 14 }));
  });

  it('a wrong residual scale, and a scale folded away, are mismatches', async () => {
    const wrong = tmp('scale');
    await editOnnx(base, wrong, (m) => {
      m.graph!.node!.find((x) => x.name === 'Repeat_1/block17_3/scale')!.attribute = [{ name: 'value_float', type: 1, f: 0.2 }];
    });
    const e = await schemeError(wrong);
    expect(e.message).toMatch(/Repeat_1\/block17_3: residual scale 0\.2\d* \(Mul 'Repeat_1\/block17_3\/mul'\), Inception-ResNet-v2 uses 0\.1/);
    const folded = tmp('noscale');
    await editOnnx(base, folded, (m) => {
      const mul = m.graph!.node!.find((x) => x.name === 'Repeat_2/block8_1/mul')!;
      const add = m.graph!.node!.find((x) => x.name === 'Repeat_2/block8_1/add')!;
      add.input = add.input!.map((v) => (v === mul.output![0] ? mul.input![0] : v));
      m.graph!.node = m.graph!.node!.filter((x) => x !== mul);
    });
    expect((await schemeError(folded)).message).toMatch(/Repeat_2\/block8_1: residual scale 1 \(Add .* \(no Mul\)\), Inception-ResNet-v2 uses 0\.2/);
  });

  it('average pools that count padding', async () => {
    const path = tmp('pad');
    await editOnnx(base, path, (m) => {
      const pool = m.graph!.node!.find((x) => x.opType === 'AveragePool')!;
      pool.attribute = pool.attribute!.map((a) => (a.name === 'count_include_pad' ? { ...a, i: 1 } : a));
    });
    expect((await schemeError(path)).message).toMatch(/Mixed_5b\/Branch_3\/AvgPool_0a_3x3 .*count_include_pad = 1/);
  });

  it('the other architecture, when forced', async () => {
    const e = await schemeError(base, { arch: 'inception_v4' });
    expect(e.message).toMatch(/the ONNX graph is not Inception-v4: it has \d+ Conv/);
  });

  it('a weight fed as a graph input instead of an initializer (missing initializer)', async () => {
    const path = tmp('fed');
    await editOnnx(base, path, (m) => {
      const name = 'Mixed_6a/Branch_1/Conv2d_0b_3x3/weights';
      const t = m.graph!.initializer!.find((x) => x.name === name)!;
      m.graph!.initializer = m.graph!.initializer!.filter((x) => x !== t);
      m.graph!.input!.push({ name, type: { tensorType: { elemType: 1, shape: { dim: t.dims!.map((d) => ({ dimValue: d })) } } } });
    });
    const e = await schemeError(path);
    expect(e.missing).toContain('Mixed_6a/Branch_1/Conv2d_0b_3x3/weights');
    expect(e.message).toMatch(/weight of Conv 'Mixed_6a\/Branch_1\/Conv2d_0b_3x3' comes from graph input/);
  });

  it('a weight of the wrong shape', async () => {
    const path = tmp('shape');
    await editOnnx(base, path, (m) => {
      const t = m.graph!.initializer!.find((x) => x.name === 'Logits/Logits/weights')!;
      const [o, i] = t.dims!.map(Number);
      t.dims = [o - 1, i];
      t.rawData = t.rawData!.subarray(0, (o - 1) * i * 4);
    });
    // the classes come from the main head's weights (999): then the bias disagrees
    const e = await schemeError(path);
    expect(e.mismatched.map((x) => x.param)).toEqual(['Logits/Logits/biases']);
  });

  it('a small network that is not an Inception (crafted here)', async () => {
    const path = tmp('tiny');
    writeFileSync(path, await tinyModel());
    const src = await openOnnx(path);
    try {
      expect(() => detectScheme(src)).toThrow(SchemeError);
      expect(() => detectScheme(src)).toThrow(/the ONNX graph is not Inception-v4 or Inception-ResNet-v2: it has 2 Conv, 1 Relu, .*; Inception-v4 \(149 Conv\): at .*; Inception-ResNet-v2 \(244 Conv\): at /);
    } finally {
      await src.close();
    }
  });

  const py = python('tf');
  it.skipIf(!py.ok)(`a small network made with the onnx package (fixtures/onnx_tiny.py)${py.ok ? '' : ` (skipped: ${py.reason})`}`, async () => {
    const path = tmp('py-tiny');
    py.run('fixtures/onnx_tiny.py', [path]);
    const e = await (async () => {
      const src = await openOnnx(path);
      try {
        detectScheme(src);
      } catch (x) {
        return x as Error;
      } finally {
        await src.close();
      }
    })();
    expect(e).toBeInstanceOf(SchemeError);
    expect(e!.message).toMatch(/the ONNX graph is not Inception-v4 or Inception-ResNet-v2: it has 3 Conv, 1 BatchNormalization.*Inception-v4 \(149 Conv\): at .*; Inception-ResNet-v2 \(244 Conv\): at /);
  });
});

describe('withClasses keeps working on bound ONNX models', () => {
  it('1001 -> 1000 after binding', async () => {
    const model = seededModel(thin('inception_v4', { classes: 1001 }), { seed: 2 });
    const r = await bound(await written(model));
    expectSame(await readAll(withClasses(r.model, 1000)), await readAll(withClasses(model, 1000)));
  });
});
