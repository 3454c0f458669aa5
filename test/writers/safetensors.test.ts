/**
 * The safetensors writer: the file layout of the spec (u64 length, padded JSON header, contiguous
 * data), deterministic order, metadata with provenance, float16, streaming (each parameter read
 * once), atomic outputs; and the reference reader (Python `safetensors.safe_open`) reading our files.
 * timm loading them with strict=True is in test/graphs/schemes/timm.test.ts.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convert, readModel, bindModel, writeModel } from '../../src/api.js';
import { OutputError, UsageError } from '../../src/errors.js';
import { buildGraph, sizeOf } from '../../src/graphs/index.js';
import { seededModel } from '../../src/graphs/init.js';
import { withUnitGamma } from '../../src/graphs/transforms.js';
import { sha256File } from '../../src/io/hash.js';
import { createModel, readAll, type CanonicalModel } from '../../src/model.js';
import { bytesToFloat32, float16BitsToFloat32, toFloat16 } from '../../src/tensor.js';
import { NAMINGS } from '../../src/graphs/schemes/index.js';
import { SAFETENSORS_SCHEMES, WRITERS } from '../../src/writers/index.js';
import { planSafetensors, safetensorsWriter } from '../../src/writers/safetensors/index.js';
import { python } from '../helpers/python.js';
import { runCli } from '../helpers/cli.js';
import { TIMM_SCRIPT } from '../helpers/timm.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'wp-st-write-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const thin = (arch: 'inception_v4' | 'inception_resnet_v2' = 'inception_resnet_v2', opts = {}) =>
  seededModel(buildGraph(arch, { widthDivisor: 16, ...opts }), { seed: 9 });

interface Parsed {
  n: number;
  headerText: string;
  header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }> & { __metadata__?: Record<string, string> };
  bytes: Buffer;
}

function parse(path: string): Parsed {
  const bytes = readFileSync(path);
  const n = Number(bytes.readBigUInt64LE(0));
  const headerText = bytes.subarray(8, 8 + n).toString('utf8');
  return { n, headerText, header: JSON.parse(headerText), bytes };
}

describe('safetensors writer: layout', () => {
  it('is registered', () => {
    expect(WRITERS).toContain(safetensorsWriter);
  });

  it('writes u64 length, a space-padded JSON header (8-byte aligned), then contiguous data to the end', async () => {
    const path = join(dir, 'layout.safetensors');
    const r = await writeModel(thin(), path, { to: 'safetensors', naming: 'timm' });
    const { n, headerText, header, bytes } = parse(path);
    expect(r).toEqual({ files: [path], bytes: bytes.byteLength });
    expect(n % 8).toBe(0);
    expect(headerText.startsWith('{"__metadata__":')).toBe(true);
    expect(headerText).toMatch(/^[^\n]*\} *$/);
    const entries = Object.entries(header).filter(([k]) => k !== '__metadata__') as [string, { dtype: string; shape: number[]; data_offsets: [number, number] }][];
    let end = 0;
    for (const [, e] of entries) {
      expect(e.data_offsets[0]).toBe(end);
      const size = { F32: 4, I64: 8, F16: 2 }[e.dtype]! * sizeOf(e.shape);
      expect(e.data_offsets[1] - e.data_offsets[0]).toBe(size);
      expect(e.data_offsets[0] % { F32: 4, I64: 8, F16: 2 }[e.dtype]!).toBe(0);
      end = e.data_offsets[1];
    }
    expect(8 + n + end).toBe(bytes.byteLength);
  });

  it('orders tensors as the reference writer: element size (largest first), then name', async () => {
    const plan = planSafetensors(thin('inception_v4'), { naming: 'timm' });
    const keys = plan.tensors.map((t) => [t.dtype === 'int64' ? 0 : 1, t.tensor.name] as const);
    const sorted = [...keys].sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : 1));
    expect(keys).toEqual(sorted);
    expect(plan.tensors[0].tensor.name).toBe('features.0.bn.num_batches_tracked');
    expect(plan.tensors.at(-1)!.tensor.name).toBe('last_linear.weight');
  });

  it('is deterministic: the same model and options give the same bytes', async () => {
    const [a, b] = [join(dir, 'det-a.safetensors'), join(dir, 'det-b.safetensors')];
    await writeModel(thin(), a, { to: 'safetensors' });
    await writeModel(thin(), b, { to: 'safetensors' });
    expect(readFileSync(a).equals(readFileSync(b))).toBe(true);
  });

  it('records provenance and preprocessing in __metadata__ (strings only)', async () => {
    const src = join(dir, 'prov-src.safetensors');
    await writeModel(seededModel(buildGraph('inception_v4', { widthDivisor: 16, classes: 1001 }), { seed: 2 }), src, { to: 'safetensors' });
    const out = join(dir, 'prov-out.safetensors');
    await convert(src, out, { to: 'safetensors', naming: 'timm' });
    const meta = parse(out).header.__metadata__!;
    expect(Object.values(meta).every((v) => typeof v === 'string')).toBe(true);
    expect(meta).toEqual({
      format: 'pt',
      producer: 'weightport',
      arch: 'inception_v4',
      naming: 'timm',
      dtype: 'float32',
      classes: '1001',
      background_class: 'true',
      aux: 'false',
      width_divisor: '16',
      batchnorm: 'kept',
      outputs: 'logits',
      input_size: '299',
      input_layout: 'NCHW',
      input_range: '[-1, 1]',
      mean: '0.5,0.5,0.5',
      std: '0.5,0.5,0.5',
      source_file: 'prov-src.safetensors',
      source_sha256: await sha256File(src),
      source_format: 'safetensors',
      source_scheme: 'canonical',
      source_classes: '1001',
    });
  });
});

describe('safetensors writer: dtype, naming, streaming, outputs', () => {
  it.each(NAMINGS.map((n) => [n.name]))('writes any registered naming (%s): each stored tensor is the naming\'s transform of its parameter', async (name) => {
    const model = thin('inception_v4');
    const path = join(dir, `naming-${name}.safetensors`);
    await writeModel(model, path, { to: 'safetensors', naming: name as never });
    const naming = NAMINGS.find((n) => n.name === name)!;
    const layout = naming.layout(model.graph);
    // A naming without gamma stores the variance with gamma folded in (withUnitGamma).
    const storesGamma = layout.some((t) => t.param?.endsWith('/gamma'));
    const values = await readAll(storesGamma ? model : withUnitGamma(model, name));
    const source = await readModel(path);
    try {
      const stored = new Map(source.tensors.map((t) => [t.name, t]));
      expect([...stored.keys()].sort()).toEqual(layout.map((t) => t.name).sort());
      for (const t of layout) {
        const s = stored.get(t.name)!;
        expect(s.shape, t.name).toEqual([...t.shape]);
        const got = bytesToFloat32(s.dtype, await s.read());
        const want = t.constant
          ? new Float32Array(sizeOf(t.shape)).fill(t.constant.value)
          : t.transform!.store(values.get(t.param!)!, model.params.find((p) => p.name === t.param)!.shape);
        expect(got, t.name).toEqual(want);
      }
      const meta = source.metadata.__metadata__ as Record<string, string>;
      expect(meta.naming).toBe(name);
      // PyTorch layout (OIHW, [out, in]) only for canonical and timm; the others store TF layouts
      expect(meta.format).toBe(name === 'canonical' || name === 'timm' ? 'pt' : 'tf');
    } finally {
      await source.close();
    }
  });

  it('float16: every value is the rounded float32 value; num_batches_tracked stays int64', async () => {
    const model = thin('inception_v4');
    const path = join(dir, 'f16.safetensors');
    await writeModel(model, path, { to: 'safetensors', naming: 'timm', dtype: 'float16' });
    const { header, n, bytes } = parse(path);
    expect(header['features.0.conv.weight'].dtype).toBe('F16');
    expect(header['features.0.bn.num_batches_tracked'].dtype).toBe('I64');
    expect(header.__metadata__!.dtype).toBe('float16');
    const source = await readModel(path);
    try {
      const back = await readAll(bindModel(source).model);
      for (const [name, v] of await readAll(model)) {
        const expected = Float32Array.from(toFloat16(v), float16BitsToFloat32);
        expect(back.get(name), name).toEqual(expected);
      }
    } finally {
      await source.close();
    }
    // half the float32 size, plus the 8-byte counters
    const counters = Object.keys(header).filter((k) => k.endsWith('num_batches_tracked')).length;
    const params = model.params.reduce((s, p) => s + sizeOf(p.shape), 0);
    expect(bytes.byteLength - 8 - n).toBe(2 * params + 8 * counters);
  });

  it('reads each parameter once and reports progress per tensor', async () => {
    const base = thin();
    const reads = new Map<string, number>();
    const counted: CanonicalModel = {
      ...base,
      params: base.params.map((p) => ({ ...p, read: () => (reads.set(p.name, (reads.get(p.name) ?? 0) + 1), p.read()) })),
    };
    const progress: [number, number][] = [];
    await writeModel(counted, join(dir, 'once.safetensors'), { to: 'safetensors', naming: 'timm', onProgress: (d, t) => progress.push([d, t]) });
    expect(reads.size).toBe(base.params.length);
    expect([...reads.values()].every((n) => n === 1)).toBe(true);
    const total = progress[0][1];
    expect(progress.map(([d]) => d)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    expect(total).toBe(base.params.length + base.graph.nodes.filter((x) => x.op === 'batchnorm').length);
  });

  it('refuses an unknown naming (usage error) and a non-float dtype', async () => {
    await expect(writeModel(thin(), join(dir, 'x.safetensors'), { to: 'safetensors', naming: 'nope' as never })).rejects.toThrow(UsageError);
    await expect(writeModel(thin(), join(dir, 'x.safetensors'), { to: 'safetensors', naming: 'nope' as never })).rejects.toThrow(/no 'nope' naming.*available: canonical, timm/);
    await expect(writeModel(thin(), join(dir, 'x.safetensors'), { to: 'safetensors', dtype: 'int8' as never })).rejects.toThrow(UsageError);
  });

  it('refuses to overwrite without force (exit code 4) and leaves no temporary file on error', async () => {
    const path = join(dir, 'exists.safetensors');
    await writeModel(thin(), path, { to: 'safetensors' });
    const err = await writeModel(thin(), path, { to: 'safetensors' }).catch((e) => e);
    expect(err).toBeInstanceOf(OutputError);
    expect(err.code).toBe(4);
    await writeModel(thin(), path, { to: 'safetensors', force: true });

    const base = thin();
    const failing = createModel(
      base.graph,
      new Map(base.params.map((p, i) => [p.name, i === 40 ? async () => Promise.reject(new Error('disk on fire')) : () => p.read()])),
    );
    const out = join(dir, 'never.safetensors');
    await expect(writeModel(failing, out, { to: 'safetensors' })).rejects.toThrow(/disk on fire/);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('port convert --to safetensors --naming timm (the CLI)', async () => {
    const src = join(dir, 'cli-src.safetensors');
    await writeModel(thin('inception_v4'), src, { to: 'safetensors' });
    const out = join(dir, 'cli-out.safetensors');
    const r = runCli(['convert', src, '--to', 'safetensors', '--naming', 'timm', '--dtype', 'float16', '-o', out, '--no-check']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/safetensors, canonical naming, inception_v4 \(1000 classes, width \/ 16\)/);
    expect(parse(out).header['last_linear.weight']).toMatchObject({ dtype: 'F16', shape: [1000, 96] });
    expect(runCli(['convert', src, '--to', 'safetensors', '-o', out, '--no-check']).code).toBe(4);
  });

  it('the CLI offers every registered naming; --naming tfjs writes tfjs names that read back to the same parameters', async () => {
    expect([...SAFETENSORS_SCHEMES].sort()).toEqual(NAMINGS.map((n) => n.name).sort());
    const src = join(dir, 'cli-src-tfjs.safetensors');
    const model = thin('inception_v4');
    await writeModel(model, src, { to: 'safetensors' });
    const out = join(dir, 'cli-out-tfjs.safetensors');
    const r = runCli(['convert', src, '--to', 'safetensors', '--naming', 'tfjs', '-o', out, '--no-check']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const header = parse(out).header;
    expect(header.__metadata__).toMatchObject({ naming: 'tfjs', format: 'tf' });
    expect(Object.keys(header)).toContain('Conv2d_1a_3x3/kernel');
    const source = await readModel(out);
    try {
      const back = bindModel(source);
      expect(back.detection.scheme).toBe('tfjs');
      // a naming without gamma holds the variance with gamma folded in, as the writer stores it
      const storesGamma = NAMINGS.find((n) => n.name === 'tfjs')!.layout(model.graph).some((t) => t.param?.endsWith('/gamma'));
      const [want, got] = [await readAll(storesGamma ? model : withUnitGamma(model, 'tfjs')), await readAll(back.model)];
      expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
      for (const [name, v] of want) expect(got.get(name), name).toEqual(v);
    } finally {
      await source.close();
    }
  });
});

const py = python('torch');
describe.skipIf(!py.ok)(`the reference reader (Python safetensors.safe_open) reads our files${py.ok ? '' : ` (skipped: ${py.reason})`}`, () => {
  it.each([
    ['canonical', 'float32'],
    ['timm', 'float32'],
    ['timm', 'float16'],
  ] as const)('%s naming, %s: names, shapes, dtypes, metadata, values', async (naming, dtype) => {
    const model = thin('inception_resnet_v2');
    const path = join(dir, `py-${naming}-${dtype}.safetensors`);
    await writeModel(model, path, { to: 'safetensors', naming, dtype });
    const { header } = parse(path);
    const spot = naming === 'timm' ? ['conv2d_1a.conv.weight', 'repeat_1.3.conv2d.bias', 'classif.weight', 'block8.branch1.2.bn.running_var'] : ['Conv2d_1a_3x3/weights', 'Repeat_1/block17_4/Conv2d_1x1/biases', 'Logits/Logits/weights'];
    const r = JSON.parse(py.run(TIMM_SCRIPT, ['inspect', '--file', path, '--names', spot.join(',')]));
    const names = Object.keys(header).filter((k) => k !== '__metadata__');
    expect(Object.keys(r.tensors).sort()).toEqual([...names].sort());
    const torchDtype: Record<string, string> = { F32: 'float32', F16: 'float16', I64: 'int64' };
    for (const n of names) expect(r.tensors[n], n).toEqual({ shape: header[n].shape, dtype: torchDtype[header[n].dtype] });
    expect(r.metadata).toEqual(header.__metadata__);
    const values = await readAll(model);
    const timmToParam = new Map(
      (await import('../../src/graphs/schemes/timm.js')).timmNaming.layout(model.graph).filter((t) => t.param).map((t) => [t.name, t.param!]),
    );
    for (const name of spot) {
      let v = values.get(naming === 'timm' ? timmToParam.get(name)! : name)!;
      if (dtype === 'float16') v = Float32Array.from(toFloat16(v), float16BitsToFloat32);
      expect(r.values[name].first).toEqual([...v.slice(0, 8)]);
      const sum = v.reduce((s, x) => s + x, 0);
      expect(Math.abs(r.values[name].sum - sum)).toBeLessThan(1e-6 * Math.max(1, v.length));
    }
  });
});

describe('safetensors writer: a naming without batch-norm gamma (keras)', () => {
  const work = mkdtempSync(join(tmpdir(), 'wp-st-gamma-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('folds a gamma that is not 1 into the variance: onnxruntime gives the same logits as the original', async () => {
    const { runOnnx } = await import('../../src/parity/ort.js');
    const { defaultInput } = await import('../../src/parity/input.js');
    const graph = buildGraph('inception_resnet_v2', { widthDivisor: 8 });
    const model = seededModel(graph, { seed: 11, gamma: 'random' });
    const st = join(work, 'keras.safetensors');
    await writeModel(model, st, { to: 'safetensors', naming: 'keras' });
    const source = await readModel(st);
    const { model: back } = bindModel(source);
    const gammas = (await readAll(back)).get('Mixed_5b/Branch_0/Conv2d_1x1/BatchNorm/gamma')!;
    expect(gammas.every((g) => g === 1)).toBe(true);
    const a = join(work, 'original.onnx');
    const b = join(work, 'back.onnx');
    await writeModel(model, a, { to: 'onnx' });
    await writeModel(back, b, { to: 'onnx' });
    await source.close();
    const input = defaultInput(299);
    const [ra, rb] = [await runOnnx(a, input), await runOnnx(b, input)];
    const la = [...ra.outputs.values()][0].data;
    const lb = [...rb.outputs.values()][0].data;
    const maxAbs = la.reduce((m, v, i) => Math.max(m, Math.abs(v - lb[i])), 0);
    const spread = Math.sqrt(la.reduce((s, v) => s + v * v, 0) / la.length);
    expect(spread).toBeGreaterThan(0.1);
    expect(maxAbs).toBeLessThan(1e-4);
  });

  it('refuses a gamma that cannot be folded (not positive)', async () => {
    const graph = buildGraph('inception_v4', { widthDivisor: 16 });
    const values = await readAll(seededModel(graph, { seed: 2 }));
    values.get('Mixed_6a/Branch_0/Conv2d_1a_3x3/BatchNorm/gamma')![3] = -0.5;
    const out = join(work, 'negative.safetensors');
    await expect(writeModel(createModel(graph, values), out, { to: 'safetensors', naming: 'keras' })).rejects.toThrow(UsageError);
    await expect(writeModel(createModel(graph, values), out, { to: 'safetensors', naming: 'keras' })).rejects.toThrow(/gamma\[3\] = -0.5/);
    expect(existsSync(out)).toBe(false);
  });
});
