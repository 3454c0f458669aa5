/**
 * The tfjs reader: round trips through our writer, models saved by tfjs's own `model.save`,
 * quantised weights checked against tfjs's own decoder, graph-models, every error, and a fuzz test.
 *
 * Quantised uint8/uint16 fixtures: the tensorflowjs pip package (its converter) is not in this
 * machine's package index, so those manifests are made here with the converter's documented
 * algorithm (tensorflowjs/quantization.py: affine range nudged so that 0 is exact,
 * q = round((x - min) / scale)), and the reader's values are compared with what tfjs itself
 * decodes from the same bytes (tf.io.decodeWeights).
 */
import { mkdirSync, readFileSync, rmSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bindModel, readModel } from '../../src/api.js';
import { FormatError, WeightportError } from '../../src/errors.js';
import { buildGraph, type Arch } from '../../src/graphs/index.js';
import { seededModel } from '../../src/graphs/init.js';
import { probePath } from '../../src/io/probe.js';
import { readAll, type CanonicalModel } from '../../src/model.js';
import { tfjsReader } from '../../src/readers/tfjs/index.js';
import { bytesToFloat32, float16BitsToFloat32, float32ToFloat16Bits } from '../../src/tensor.js';
import { tfjsWriter } from '../../src/writers/tfjs/index.js';
import { runCli } from '../helpers/cli.js';
import { folderHandler, tfjsWasm } from '../helpers/tfjs.js';

const ARCHS: readonly Arch[] = ['inception_v4', 'inception_resnet_v2'];
let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'wp-tfjs-read-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const thinModel = (arch: Arch, aux = true): CanonicalModel => seededModel(buildGraph(arch, { widthDivisor: 16, aux }), { seed: 21 });

/** Up-projection params: the residual scale is folded into them, so they come back within 1 ulp. */
const upProjections = (m: CanonicalModel): Set<string> => {
  const s = new Set<string>();
  for (const n of m.graph.nodes) if (n.op === 'residual' && n.scale !== 1) for (const r of ['weights', 'biases']) s.add(`${n.branch}/${r}`);
  return s;
};

const ulpsApart = (a: number, b: number): number => {
  const f = new Float32Array([a, b]);
  const i = new Int32Array(f.buffer);
  return Math.abs(i[0] - i[1]);
};

async function expectRoundTrip(original: CanonicalModel, back: CanonicalModel, convert: (v: number) => number = (v) => v) {
  const a = await readAll(original);
  const b = await readAll(back);
  expect([...b.keys()]).toEqual([...a.keys()]);
  const folded = upProjections(original);
  let exact = 0;
  for (const [name, v] of a) {
    const w = b.get(name)!;
    expect(w.length, name).toBe(v.length);
    let worst = 0;
    for (let i = 0; i < v.length; i++) worst = Math.max(worst, ulpsApart(convert(v[i]), w[i]));
    if (folded.has(name)) expect(worst, name).toBeLessThanOrEqual(convert === identity ? 1 : 2);
    else expect(worst, `${name} differs`).toBe(0);
    if (worst === 0) exact++;
  }
  return { exact, total: a.size, folded: folded.size };
}
const identity = (v: number) => v;

describe('tfjs reader: round trips', () => {
  it.each(ARCHS)('%s: writer -> reader -> canonical is bit for bit (the folded up-projections within 1 ulp)', async (arch) => {
    const model = thinModel(arch);
    const dir = join(work, `rt-${arch}`);
    await tfjsWriter.write(model, dir, { shardSize: 65_537 });
    const source = await readModel(dir);
    expect(source.format).toBe('tfjs');
    expect(source.metadata.modelFormat).toBe('layers-model');
    expect(source.files.length).toBeGreaterThan(5);
    const { model: back, detection } = bindModel(source, { aux: true });
    expect(detection).toMatchObject({ scheme: 'tfjs', arch, options: { widthDivisor: 16, aux: true, classes: 1000 } });
    const r = await expectRoundTrip(model, back, identity);
    expect(r.exact).toBeGreaterThanOrEqual(r.total - r.folded);
    if (arch === 'inception_v4') expect(r.exact).toBe(r.total);
    // Without --aux the head is reported and left out.
    expect(bindModel(source).model.graph.outputs.aux).toBeUndefined();
    // Tensors that lie in one shard know their offset there.
    const contiguous = source.tensors.filter((t) => t.offset !== undefined);
    expect(contiguous.length).toBeGreaterThan(source.tensors.length / 2);
  });

  it('float16 weights come back as float16, equal to the rounded float32 values', async () => {
    const model = thinModel('inception_resnet_v2', false);
    const dir = join(work, 'rt-fp16');
    await tfjsWriter.write(model, dir, { dtype: 'float16' });
    const source = await readModel(dir);
    expect(source.tensors.every((t) => t.dtype === 'float16')).toBe(true);
    expect(source.metadata.quantized).toEqual({ float16: source.tensors.length });
    const { model: back } = bindModel(source);
    // Folded tensors were scaled before rounding to half: within half a half-ulp (2^-11 relative,
    // or the subnormal step 2^-25 divided by the scale); all others exactly the rounded value.
    const a = await readAll(model);
    const b = await readAll(back);
    const folded = upProjections(model);
    for (const [name, v] of a) {
      const w = b.get(name)!;
      if (folded.has(name)) {
        for (let i = 0; i < v.length; i++) expect(Math.abs(w[i] - v[i])).toBeLessThanOrEqual(Math.abs(v[i]) * 2 ** -10 + 2 ** -24 / 0.1);
      } else for (let i = 0; i < v.length; i++) expect(w[i]).toBe(float16BitsToFloat32(float32ToFloat16Bits(v[i])));
    }
  });

  it("reads back what tfjs's own model.save writes (tf.io.withSaveHandler), in the same weight order", async () => {
    const tf = await tfjsWasm();
    const model = thinModel('inception_resnet_v2');
    const dir = join(work, 'ours');
    await tfjsWriter.write(model, dir);
    const loaded = await tf.loadLayersModel(await folderHandler(dir));
    const saved = join(work, 'saved-by-tfjs');
    await loaded.save(tf.io.withSaveHandler(async (a) => saveArtifacts(saved, a)));
    loaded.dispose();
    const ours = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
    const theirs = JSON.parse(readFileSync(join(saved, 'model.json'), 'utf8'));
    expect(theirs.weightsManifest[0].weights.map((w: { name: string }) => w.name)).toEqual(ours.weightsManifest[0].weights.map((w: { name: string }) => w.name));
    expect(theirs.modelTopology.config.layers.map((l: { name: string }) => l.name)).toEqual(ours.modelTopology.config.layers.map((l: { name: string }) => l.name));
    const source = await readModel(join(saved, 'model.json'));
    const { model: back, detection } = bindModel(source, { aux: true });
    expect(detection.scheme).toBe('tfjs');
    await expectRoundTrip(model, back, identity);
  });

  it('reads a model built and saved by tfjs itself (auto layer names): layer/weight names in save order, values as getWeights()', async () => {
    const tf = await tfjsWasm();
    const m = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [8, 8, 3], filters: 4, kernelSize: 3, useBias: false }),
        tf.layers.batchNormalization(),
        tf.layers.flatten(),
        tf.layers.dense({ units: 5 }),
      ],
    });
    const dir = join(work, 'tfjs-native');
    await m.save(tf.io.withSaveHandler(async (a) => saveArtifacts(dir, a)));
    const source = await readModel(dir);
    expect(source.tensors.map((t) => t.name)).toEqual(m.weights.map((w) => w.originalName));
    const values = m.getWeights();
    for (const [i, t] of source.tensors.entries()) {
      expect(t.shape).toEqual(values[i].shape);
      expect(Array.from(bytesToFloat32(t.dtype, await t.read()))).toEqual(Array.from(await values[i].data()));
    }
    expect((source.structure as { modelTopology: { config: { layers: unknown[] } } }).modelTopology.config.layers.length).toBe(4);
    m.dispose();
  });
});

async function saveArtifacts(dir: string, a: import('@tensorflow/tfjs').io.ModelArtifacts) {
  mkdirSync(dir, { recursive: true });
  const data = Array.isArray(a.weightData) ? Buffer.concat(a.weightData.map((b) => Buffer.from(b))) : Buffer.from(a.weightData as ArrayBuffer);
  writeFileSync(join(dir, 'weights.bin'), data);
  const json = {
    modelTopology: a.modelTopology,
    format: a.format,
    generatedBy: a.generatedBy,
    convertedBy: a.convertedBy,
    weightsManifest: [{ paths: ['./weights.bin'], weights: a.weightSpecs }],
  };
  writeFileSync(join(dir, 'model.json'), JSON.stringify(json));
  return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' as const } };
}

/** tensorflowjs/quantization.py `quantize_weights` for uint8 / uint16 (affine, zero exact). */
function quantizeLikeConverter(data: Float32Array, dtype: 'uint8' | 'uint16'): { q: Uint8Array | Uint16Array; scale: number; min: number } {
  const qmax = dtype === 'uint8' ? 255 : 65535;
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of data) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  const q = dtype === 'uint8' ? new Uint8Array(data.length) : new Uint16Array(data.length);
  if (lo === hi) return { q, scale: 1, min: lo };
  const scale = (hi - lo) / qmax;
  const min = Math.round(lo / scale) * scale; // _get_affine_quantization_range: nudged min
  const max = min + qmax * scale;
  for (let i = 0; i < data.length; i++) q[i] = Math.round((Math.min(Math.max(data[i], min), max) - min) / scale);
  return { q, scale, min };
}

describe('tfjs reader: quantised weights (uint8, uint16)', () => {
  it.each(['uint8', 'uint16'] as const)('%s: values equal what tfjs decodes from the same bytes, within scale/2 of the originals', async (qd) => {
    const tf = await tfjsWasm();
    const model = thinModel('inception_v4', false);
    const src = join(work, `q-src-${qd}`);
    await tfjsWriter.write(model, src);
    const source = await readModel(src);
    const dir = join(work, `q-${qd}`);
    mkdirSync(dir);
    const weights = [];
    const chunks: Buffer[] = [];
    const originals = new Map<string, Float32Array>();
    for (const t of source.tensors) {
      const v = bytesToFloat32(t.dtype, await t.read()).slice();
      originals.set(t.name, v);
      const { q, scale, min } = quantizeLikeConverter(v, qd);
      chunks.push(Buffer.from(q.buffer, q.byteOffset, q.byteLength));
      weights.push({ name: t.name, shape: t.shape, dtype: 'float32', quantization: { dtype: qd, scale, min, original_dtype: 'float32' } });
    }
    const all = Buffer.concat(chunks);
    const shard = 100_000;
    const paths = [];
    for (let i = 0, n = Math.ceil(all.length / shard); i < n; i++) {
      paths.push(`group1-shard${i + 1}of${n}.bin`);
      writeFileSync(join(dir, paths[i]), all.subarray(i * shard, (i + 1) * shard));
    }
    const json = JSON.parse(readFileSync(join(src, 'model.json'), 'utf8'));
    json.weightsManifest = [{ paths, weights }];
    writeFileSync(join(dir, 'model.json'), JSON.stringify(json));

    const read = await readModel(dir);
    expect(read.metadata.quantized).toEqual({ [qd]: weights.length });
    const decoded = tf.io.decodeWeights(all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength), weights as never);
    for (const t of read.tensors) {
      expect(t.dtype).toBe('float32');
      const ours = bytesToFloat32(t.dtype, await t.read());
      const theirs = (await decoded[t.name].data()) as Float32Array;
      expect(Array.from(ours), t.name).toEqual(Array.from(theirs));
      const w = weights.find((x) => x.name === t.name)!;
      const o = originals.get(t.name)!;
      for (let i = 0; i < o.length; i++) expect(Math.abs(ours[i] - o[i])).toBeLessThanOrEqual(w.quantization.scale * 0.5001 + 1e-6);
    }
    tf.dispose(Object.values(decoded));
    // And the quantised model binds like any other.
    expect(bindModel(read).detection.scheme).toBe('tfjs');
    // tfjs loads and runs it.
    const m = await tf.loadLayersModel(await folderHandler(dir));
    const y = m.predict(tf.zeros([1, 299, 299, 3])) as import('@tensorflow/tfjs').Tensor;
    expect(y.shape).toEqual([1, 1000]);
    tf.dispose([y]);
    m.dispose();
  });
});

describe('tfjs reader: graph-models and odd weights', () => {
  it('reads a graph-model manifest with int32, bool and string weights at the offsets tfjs decodes', async () => {
    const tf = await tfjsWasm();
    const dir = join(work, 'graph-model');
    mkdirSync(dir);
    const f = new Float32Array([1.5, -2, 3.25, 4, 5, 6]);
    const i32 = new Int32Array([7, -8, 9]);
    const bools = new Uint8Array([1, 0, 1, 1]);
    const enc = new TextEncoder();
    const strings = ['ab', '', 'xyz'].map((s) => enc.encode(s));
    const strBytes = Buffer.concat(strings.flatMap((s) => [Buffer.from(new Uint32Array([s.length]).buffer), Buffer.from(s)]));
    const data = Buffer.concat([Buffer.from(f.buffer), Buffer.from(strBytes), Buffer.from(i32.buffer), Buffer.from(bools)]);
    writeFileSync(join(dir, 'group1-shard1of2.bin'), data.subarray(0, 20));
    writeFileSync(join(dir, 'group1-shard2of2.bin'), data.subarray(20));
    const weights = [
      { name: 'conv/filter', shape: [2, 3], dtype: 'float32' },
      { name: 'table/keys', shape: [3], dtype: 'string' },
      { name: 'shape/const', shape: [3], dtype: 'int32' },
      { name: 'mask', shape: [4], dtype: 'bool' },
    ];
    const modelTopology = { node: [{ name: 'x', op: 'Placeholder' }], versions: { producer: 1 } };
    writeFileSync(join(dir, 'model.json'), JSON.stringify({ format: 'graph-model', modelTopology, weightsManifest: [{ paths: ['group1-shard1of2.bin', 'group1-shard2of2.bin'], weights }] }));
    expect(tfjsReader.match(await probePath(join(dir, 'model.json')))).toBe(true);
    const source = await readModel(dir);
    expect(source.metadata).toMatchObject({ modelFormat: 'graph-model', shards: 2, skipped: ['table/keys (string)'] });
    expect(source.tensors.map((t) => [t.name, t.dtype])).toEqual([['conv/filter', 'float32'], ['shape/const', 'int32'], ['mask', 'bool']]);
    const decoded = tf.io.decodeWeights(data.buffer.slice(data.byteOffset, data.byteOffset + data.length), weights as never);
    for (const t of source.tensors) {
      const ours = Array.from(bytesToFloat32(t.dtype, await t.read()));
      expect(ours, t.name).toEqual(Array.from((await decoded[t.name].data()) as ArrayLike<number>));
    }
    // The float32 weight straddles the two shards: no single-file offset; the int32 one starts
    // 21 bytes into the second shard (24 float bytes + 17 string bytes - 20).
    expect(source.tensors[0].offset).toBeUndefined();
    expect(source.tensors[1]).toMatchObject({ offset: 21, file: join(dir, 'group1-shard2of2.bin') });
    expect((source.structure as { modelTopology: unknown }).modelTopology).toEqual(modelTopology);
  });

  it('match: a model.json or a folder holding one; not other JSON or binaries', async () => {
    const dir = join(work, 'match');
    await tfjsWriter.write(thinModel('inception_v4', false), dir);
    expect(tfjsReader.match(await probePath(dir))).toBe(true);
    expect(tfjsReader.match(await probePath(join(dir, 'model.json')))).toBe(true);
    writeFileSync(join(work, 'keras.json'), JSON.stringify({ class_name: 'Functional', config: {} }));
    expect(tfjsReader.match(await probePath(join(work, 'keras.json')))).toBe(false);
    const st = Buffer.alloc(16);
    st.writeBigUInt64LE(8n);
    st.write('{"a":1} ', 8);
    writeFileSync(join(work, 'x.safetensors'), st);
    expect(tfjsReader.match(await probePath(join(work, 'x.safetensors')))).toBe(false);
    expect(tfjsReader.match(await probePath(work))).toBe(false);
  });
});

describe('tfjs reader: errors name the file and the weight (exit code 3)', () => {
  let base: string;
  let json: { weightsManifest: { paths: string[]; weights: { name: string; shape: number[] }[] }[] };
  beforeAll(async () => {
    base = join(work, 'err-base');
    await tfjsWriter.write(thinModel('inception_v4', false), base, { shardSize: 60_000 });
    json = JSON.parse(readFileSync(join(base, 'model.json'), 'utf8'));
  });
  const copy = (name: string): string => {
    const dir = join(work, name);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir);
    for (const p of [...json.weightsManifest[0].paths, 'model.json']) writeFileSync(join(dir, p), readFileSync(join(base, p)));
    return dir;
  };
  const fails = async (dir: string) => {
    const e = await readModel(dir).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(FormatError);
    expect((e as FormatError).code).toBe(3);
    return e as FormatError;
  };
  /** The weight whose bytes cover group offset `at`, by the manifest. */
  const weightAt = (at: number): string => {
    let off = 0;
    for (const w of json.weightsManifest[0].weights) {
      off += 4 * w.shape.reduce((a, b) => a * b, 1);
      if (off > at) return w.name;
    }
    throw new Error('past the end');
  };

  it('a truncated last shard: names the weight that runs past the end and the shard', async () => {
    const dir = copy('err-trunc');
    const paths = json.weightsManifest[0].paths;
    const last = join(dir, paths.at(-1)!);
    const size = readFileSync(last).length;
    truncateSync(last, size - 10);
    const e = await fails(dir);
    const total = 60_000 * (paths.length - 1) + size;
    expect(e.file).toBe(last);
    expect(e.tensor).toBe(weightAt(total - 1));
    expect(e.message).toMatch(/truncated/);
    expect(e.message).toContain(paths.at(-1)!);
  });

  it('a truncated middle shard is the one blamed', async () => {
    const dir = copy('err-trunc-mid');
    const p = json.weightsManifest[0].paths[1];
    truncateSync(join(dir, p), 1000);
    const e = await fails(dir);
    expect(e.file).toBe(join(dir, p));
    expect(e.tensor).toBeDefined();
  });

  it('a missing shard: names the shard and the first weight that needs it', async () => {
    const dir = copy('err-missing');
    const p = json.weightsManifest[0].paths[2];
    unlinkSync(join(dir, p));
    const e = await fails(dir);
    expect(e.file).toBe(join(dir, p));
    expect(e.tensor).toBe(weightAt(2 * 60_000));
    expect(e.message).toMatch(/does not exist/);
  });

  it.each([
    ['bad JSON', (s: string) => s.slice(0, 100), /not valid JSON/],
    ['not UTF-8', () => '\xff\xfe{', /not (UTF-8|valid JSON)/],
    ['no weightsManifest', (s: string) => JSON.stringify({ ...JSON.parse(s), weightsManifest: undefined }), /no weightsManifest/],
    ['a negative dimension', (s: string) => s.replace(/"shape":\[3,3,3,2\]/, '"shape":[3,-3,3,2]'), /shape/],
    ['an unknown dtype', (s: string) => s.replace('"dtype":"float32"', '"dtype":"float64"'), /unsupported dtype/],
    ['an absolute shard path', (s: string) => s.replace('"group1-shard1of', '"/etc/group1-shard1of'), /relative/],
    ['a duplicated weight name', (s: string) => s.replace('"Conv2d_2a_3x3/kernel"', '"Conv2d_1a_3x3/kernel"'), /twice/],
    ['uint8 quantization without scale', (s: string) => s.replace('"dtype":"float32"', '"dtype":"float32","quantization":{"dtype":"uint8"}'), /scale/],
  ])('%s', async (_, mangle, why) => {
    const dir = copy('err-json');
    const text = readFileSync(join(dir, 'model.json'), 'utf8');
    const bad = mangle(text);
    writeFileSync(join(dir, 'model.json'), bad === '\xff\xfe{' ? Buffer.from([0xff, 0xfe, 0x7b]) : bad);
    const e = await fails(dir);
    expect(e.file).toBe(join(dir, 'model.json'));
    expect(e.message).toMatch(why);
  });

  it('the CLI reports a truncated shard in one line with exit code 3', () => {
    const dir = copy('err-cli');
    const last = join(dir, json.weightsManifest[0].paths.at(-1)!);
    truncateSync(last, 5);
    const r = runCli(['convert', dir, '--to', 'tfjs', '-o', join(work, 'cli-out')]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(last);
    expect(r.stderr).toMatch(/tensor '[^']+'/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('the CLI converts tfjs -> tfjs (float16), and refuses a non-empty output folder with exit code 4', () => {
    const out = join(work, 'cli-fp16');
    const ok = runCli(['convert', base, '--to', 'tfjs', '--dtype', 'float16', '-o', out]);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/tfjs naming, inception_v4/);
    const again = runCli(['convert', base, '--to', 'tfjs', '-o', out]);
    expect(again.code).toBe(4);
    expect(again.stderr).toMatch(/not empty/);
  });
});

describe('tfjs reader: fuzz', () => {
  /** A small model with two groups, float16- and uint8-quantised weights and straddling shards. */
  const makeBase = (dir: string) => {
    mkdirSync(dir, { recursive: true });
    const g1 = Buffer.alloc(4 * 12 + 2 * 8 + 5);
    for (let i = 0; i < 12; i++) g1.writeFloatLE(i / 3 - 1, 4 * i);
    for (let i = 0; i < 8; i++) g1.writeUInt16LE(float32ToFloat16Bits(i / 7), 48 + 2 * i);
    for (let i = 0; i < 5; i++) g1[64 + i] = i * 50;
    writeFileSync(join(dir, 'a1.bin'), g1.subarray(0, 32));
    writeFileSync(join(dir, 'a2.bin'), g1.subarray(32));
    const g2 = Buffer.alloc(4 * 6);
    for (let i = 0; i < 6; i++) g2.writeInt32LE(i - 3, 4 * i);
    writeFileSync(join(dir, 'b1.bin'), g2);
    const manifest = [
      {
        paths: ['a1.bin', 'a2.bin'],
        weights: [
          { name: 'dense/kernel', shape: [3, 4], dtype: 'float32' },
          { name: 'bn/gamma', shape: [8], dtype: 'float32', quantization: { dtype: 'float16' } },
          { name: 'q/w', shape: [5], dtype: 'float32', quantization: { dtype: 'uint8', scale: 0.01, min: -1 } },
        ],
      },
      { paths: ['b1.bin'], weights: [{ name: 'idx', shape: [2, 3], dtype: 'int32' }] },
    ];
    writeFileSync(join(dir, 'model.json'), JSON.stringify({ format: 'layers-model', modelTopology: { class_name: 'Functional', config: { layers: [] } }, weightsManifest: manifest }));
    return manifest;
  };

  it('truncation, bit flips, mangled manifests, missing shards: a typed error or a model, never a crash or a hang', async () => {
    const baseDir = join(work, 'fuzz-base');
    const manifest = makeBase(baseDir);
    const files = ['model.json', 'a1.bin', 'a2.bin', 'b1.bin'];
    const original = new Map(files.map((f) => [f, readFileSync(join(baseDir, f))]));
    let cases = 0;
    let opened = 0;
    let typed = 0;
    const dir = join(work, 'fuzz-case');

    const run = async (mutate: (bytes: Map<string, Buffer | undefined>) => void) => {
      cases++;
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir);
      const bytes = new Map<string, Buffer | undefined>([...original].map(([k, v]) => [k, Buffer.from(v)]));
      mutate(bytes);
      for (const [f, b] of bytes) if (b) writeFileSync(join(dir, f), b);
      const attempt = (async () => {
        const m = await tfjsReader.open(dir);
        for (const t of m.tensors) {
          const b = await t.read();
          expect(b.byteLength).toBe(t.byteLength);
          bytesToFloat32(t.dtype, b);
        }
        opened++;
      })();
      let timer: NodeJS.Timeout | undefined;
      const hang = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('hang: no answer in 5 s')), 5000);
      });
      try {
        await Promise.race([attempt, hang]);
      } catch (e) {
        if (!(e instanceof WeightportError)) throw e;
        typed++;
      } finally {
        clearTimeout(timer);
      }
    };

    const file = fc.constantFrom(...files);
    await fc.assert(
      fc.asyncProperty(file, fc.nat(), async (f, at) => {
        await run((b) => {
          const x = b.get(f)!;
          b.set(f, x.subarray(0, at % (x.length + 1)));
        });
      }),
      { numRuns: 150, seed: 1 },
    );
    await fc.assert(
      fc.asyncProperty(file, fc.nat(), fc.integer({ min: 0, max: 7 }), async (f, at, bit) => {
        await run((b) => {
          const x = b.get(f)!;
          if (x.length) x[at % x.length] ^= 1 << bit;
        });
      }),
      { numRuns: 200, seed: 2 },
    );
    const paths: string[][] = [];
    const walk = (v: unknown, path: string[]) => {
      paths.push(path);
      if (v && typeof v === 'object') for (const [k, c] of Object.entries(v)) walk(c, [...path, k]);
    };
    walk(manifest, []);
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...paths.filter((p) => p.length > 0)), fc.option(fc.jsonValue({ maxDepth: 2 }), { nil: undefined }), async (path, value) => {
        await run((b) => {
          const m = JSON.parse(original.get('model.json')!.toString());
          let o = m.weightsManifest;
          for (const k of path.slice(0, -1)) o = o[k];
          if (value === undefined) delete o[path.at(-1)!];
          else o[path.at(-1)!] = value;
          b.set('model.json', Buffer.from(JSON.stringify(m)));
        });
      }),
      { numRuns: 250, seed: 3 },
    );
    await fc.assert(
      fc.asyncProperty(fc.subarray(files.slice(1), { minLength: 1 }), async (gone) => {
        await run((b) => {
          for (const g of gone) b.set(g, undefined);
        });
      }),
      { numRuns: 20, seed: 4 },
    );
    console.log(`tfjs reader fuzz: ${cases} cases, ${opened} read fully, ${typed} typed errors, 0 crashes, 0 hangs`);
    expect(cases).toBe(620);
    expect(opened + typed).toBe(cases);
    expect(typed).toBeGreaterThan(100);
  }, 300_000);
});


