/**
 * The ONNX reader: the ways a tensor can be stored (raw_data, typed fields, external data,
 * Constant nodes, Identity aliases), lazy reads, recognition from the bytes, and one test per fault
 * (truncated protobuf, sizes that disagree, missing initializers and external files).
 */
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode, FormatError } from '../../src/errors.js';
import { buildGraph } from '../../src/graphs/index.js';
import { seededModel } from '../../src/graphs/init.js';
import { probePath } from '../../src/io/probe.js';
import { readAll } from '../../src/model.js';
import { onnxReader, openOnnx, type OnnxStructure } from '../../src/readers/onnx/index.js';
import { looksLikeOnnx, scanModelHead } from '../../src/readers/onnx/match.js';
import { bytesToFloat32 } from '../../src/tensor.js';
import { onnxWriter } from '../../src/writers/onnx/index.js';
import { runCli } from '../helpers/cli.js';
import { attrFloat, attrInts, editOnnx, floatTensor, tinyModel, type onnx } from '../helpers/onnx.js';

let dir: string;
let thin: string; // our writer's output, thin Inception-ResNet-v2
let thinExternal: string;
const graph = buildGraph('inception_resnet_v2', { widthDivisor: 16 });
const model = seededModel(graph, { seed: 3 });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'wp-onnx-read-'));
  thin = join(dir, 'thin.onnx');
  thinExternal = join(dir, 'thin-ext.onnx');
  await onnxWriter.write(model, thin);
  await onnxWriter.write(model, thinExternal, { externalData: true });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let count = 0;
const file = (bytes: Uint8Array, name = `m${count++}.onnx`): string => {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
};

async function values(path: string): Promise<Map<string, Float32Array>> {
  const src = await openOnnx(path);
  try {
    const out = new Map<string, Float32Array>();
    for (const t of src.tensors) out.set(t.name, Float32Array.from(bytesToFloat32(t.dtype, await t.read())));
    return out;
  } finally {
    await src.close();
  }
}

async function expectFormatError(p: Promise<unknown>, pattern: RegExp, where: { file?: string | RegExp; tensor?: string; offset?: boolean } = {}): Promise<FormatError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(FormatError);
  const f = e as FormatError;
  expect(f.code).toBe(ExitCode.badInput);
  expect(f.message).toMatch(pattern);
  if (where.file) expect(f.file).toMatch(where.file);
  if (where.tensor) expect(f.tensor).toBe(where.tensor);
  if (where.offset) expect(typeof f.offset).toBe('number');
  return f;
}

describe('recognition from the bytes', () => {
  it('recognises our files, PyTorch-like files and a tiny model; the name only breaks ties', async () => {
    expect(onnxReader.match(await probePath(thin))).toBe(true);
    expect(onnxReader.match(await probePath(file(await tinyModel(), 'tiny.bin')))).toBe(true);
    const facts = scanModelHead(readFileSync(thin).subarray(0, 4096), readFileSync(thin).length);
    expect(facts).toMatchObject({ irVersion: 8, hasGraph: true });
  });

  it.each([
    ['safetensors', Uint8Array.from([0x40, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0x22])],
    ['JSON (tfjs model.json)', new TextEncoder().encode('{"format": "layers-model", "modelTopology": {}}')],
    ['HDF5', Uint8Array.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0])],
    ['zip (.keras)', Uint8Array.from([0x50, 0x4b, 0x03, 0x04, 0x14, 0, 0, 0])],
    ['an SSTable (TF checkpoint index)', Uint8Array.from([0x00, 0x0e, 0x05, 0x67, 0x6c, 0x6f, 0x62, 0x61])],
    ['empty', new Uint8Array(0)],
  ])('does not take %s', (_, head) => {
    expect(looksLikeOnnx(head, head.length + 100, 'x.onnx')).toBe(false);
  });

  it('takes a lone ir_version only with the .onnx name (a tie)', () => {
    const head = Uint8Array.from([0x08, 0x08]);
    expect(looksLikeOnnx(head, 100, 'x.bin')).toBe(false);
    expect(looksLikeOnnx(head, 100, 'x.onnx')).toBe(true);
  });

  it('does not take a length that runs past the end of the file, except a truncated graph after ir_version', () => {
    expect(looksLikeOnnx(Uint8Array.from([0x08, 0x08, 0x12, 0xff, 0xff, 0x03]), 100, 'model.onnx')).toBe(false);
    expect(looksLikeOnnx(Uint8Array.from([0x3a, 0xff, 0xff, 0x03, 0x0a]), 100, 'model.onnx')).toBe(false);
    expect(scanModelHead(Uint8Array.from([0x08, 0x08, 0x3a, 0xff, 0xff, 0x03]), 100)).toMatchObject({ irVersion: 8, truncated: true });
    expect(looksLikeOnnx(Uint8Array.from([0x08, 0x08, 0x3a, 0xff, 0xff, 0x03]), 100, 'x.bin')).toBe(true);
  });
});

describe('tensors', () => {
  it('reads initializers (raw_data) as views into the model, lazily, with offsets', async () => {
    const src = await openOnnx(thin);
    try {
      const expected = await readAll(model);
      expect(src.tensors.length).toBeGreaterThan(expected.size); // + residual scale constants
      const w = src.tensors.find((t) => t.name === 'Conv2d_1a_3x3/weights')!;
      expect(w).toMatchObject({ dtype: 'float32', shape: [2, 3, 3, 3], byteLength: 2 * 27 * 4, file: thin });
      const bytes = readFileSync(thin);
      expect(new Uint8Array(bytes.buffer, bytes.byteOffset + w.offset!, w.byteLength)).toEqual(await w.read());
      const a = await w.read();
      const b = await w.read();
      expect(a.buffer).toBe(b.buffer); // no copy per read
      for (const [name, v] of expected) expect(bytesToFloat32('float32', await src.tensors.find((t) => t.name === name)!.read())).toEqual(v);
      expect(src.metadata).toMatchObject({ irVersion: 8, opset: 17, producerName: 'weightport' });
      const s = src.structure as OnnxStructure;
      expect(s.kind).toBe('onnx');
      expect(s.inputs).toEqual([{ name: 'input', shape: ['N', 3, 299, 299], elemType: 1 }]);
      expect(s.nodes.find((n) => n.opType === 'Conv')!.attributes).toMatchObject({ kernel_shape: [3, 3], strides: [2, 2] });
      expect(s.values['Repeat/block35_1/scale']?.[0]).toBeCloseTo(0.17, 7); // Constant value_float
    } finally {
      await src.close();
    }
  });

  it('reads typed fields (float_data, int32_data float16 bits, int64_data, double_data) like raw_data', async () => {
    const path = file(
      await tinyModel({
        extra: (g) => {
          g.initializer!.push(
            { name: 'tf', dims: [2, 2], dataType: 1, floatData: [1.5, -2, 3.25, 0] },
            { name: 'th', dims: [3], dataType: 10, int32Data: [0x3c00, 0xc000, 0x7bff] }, // 1, -2, 65504
            { name: 'ti', dims: [2], dataType: 7, int64Data: [-1, 2 ** 40] },
            { name: 'td', dims: [1], dataType: 11, doubleData: [0.1] },
            { name: 'tb', dims: [2], dataType: 9, int32Data: [1, 0] },
            { name: 'empty', dims: [0], dataType: 1 },
          );
        },
      }),
    );
    const v = await values(path);
    expect([...v.get('tf')!]).toEqual([1.5, -2, 3.25, 0]);
    expect([...v.get('th')!]).toEqual([1, -2, 65504]);
    expect([...v.get('ti')!]).toEqual([-1, 2 ** 40]);
    expect(v.get('td')![0]).toBeCloseTo(0.1, 7);
    expect([...v.get('tb')!]).toEqual([1, 0]);
    expect(v.get('empty')!.length).toBe(0);
    const src = await openOnnx(path);
    expect(src.tensors.find((t) => t.name === 'ti')).toMatchObject({ dtype: 'int64', shape: [2], byteLength: 16 });
    await src.close();
  });

  it('reads external data (location, offset, length) on read(), not at open', async () => {
    const src = await openOnnx(thinExternal);
    try {
      expect(src.files).toEqual([thinExternal, `${thinExternal}.data`]);
      const t = src.tensors.find((x) => x.name === 'Mixed_5b/Branch_1/Conv2d_0b_5x5/weights')!;
      expect(t.file).toBe(`${thinExternal}.data`);
      expect(t.offset! % 4096).toBe(0);
      const expected = await readAll(model);
      for (const [name, want] of expected) expect(bytesToFloat32('float32', await src.tensors.find((x) => x.name === name)!.read())).toEqual(want);
    } finally {
      await src.close();
    }
  });

  it('turns Constant nodes into tensors (value, value_float, value_floats, value_ints) and keeps Identity aliases in the structure', async () => {
    const path = file(
      await tinyModel({
        extra: (g) => {
          g.node!.unshift(
            { opType: 'Constant', name: 'k1', output: ['c_value'], attribute: [{ name: 'value', type: 4, t: floatTensor('', [2], [0.5, 0.25]) }] },
            { opType: 'Constant', name: 'k2', output: ['c_float'], attribute: [attrFloat('value_float', 0.17)] },
            { opType: 'Constant', name: 'k3', output: ['c_floats'], attribute: [{ name: 'value_floats', type: 6, floats: [1, 2, 3] }] },
            { opType: 'Constant', name: 'k4', output: ['c_ints'], attribute: [attrInts('value_ints', [1, -1])] },
            { opType: 'Identity', name: 'alias', input: ['w1'], output: ['w1_alias'] },
          );
        },
      }),
    );
    const v = await values(path);
    expect([...v.get('c_value')!]).toEqual([0.5, 0.25]);
    expect(v.get('c_float')![0]).toBeCloseTo(0.17, 7);
    expect([...v.get('c_floats')!]).toEqual([1, 2, 3]);
    expect([...v.get('c_ints')!]).toEqual([1, -1]);
    expect(v.has('w1_alias')).toBe(false); // an alias is structure, not another tensor
    const src = await openOnnx(path);
    const s = src.structure as OnnxStructure;
    expect(s.nodes.find((n) => n.name === 'alias')).toMatchObject({ opType: 'Identity', inputs: ['w1'], outputs: ['w1_alias'] });
    expect(s.nodes.find((n) => n.name === 'k1')!.attributes.value).toEqual({ tensor: 'c_value' });
    expect(s.values.c_ints).toEqual([1, -1]);
    await src.close();
  });
});

describe('bad input: FormatError naming file, tensor and offset, exit code 3', () => {
  it('truncated protobuf', async () => {
    const bytes = readFileSync(thin);
    const path = file(bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    const e = await expectFormatError(openOnnx(path), /not a valid ONNX protobuf \(truncated or corrupt\)/, { file: path, offset: true });
    expect(e.offset!).toBeGreaterThan(0);
    expect(e.offset!).toBeLessThanOrEqual(bytes.length);
  });

  it('raw_data shorter than the shape needs', async () => {
    const path = join(dir, 'short-raw.onnx');
    await editOnnx(thin, path, (m) => {
      const t = m.graph!.initializer!.find((x) => x.name === 'Logits/Logits/biases')!;
      t.rawData = t.rawData!.subarray(4);
    });
    await expectFormatError(openOnnx(path), /raw_data has 3996 bytes, the shape \[1000\] of float32 needs 4000/, { file: path, tensor: 'Logits/Logits/biases', offset: true });
  });

  it('typed values that do not fill the shape, a negative dimension, an unsupported data type, no data at all', async () => {
    const cases: [onnx.ITensorProto, RegExp][] = [
      [{ name: 'x', dims: [3], dataType: 1, floatData: [1, 2] }, /float_data holds 2 values, the shape \[3\] needs 3/],
      [{ name: 'x', dims: [-2], dataType: 1, floatData: [] }, /dimension -2 is not a valid size/],
      [{ name: 'x', dims: [1], dataType: 8, stringData: [new Uint8Array(1)] }, /unsupported data type STRING/],
      [{ name: 'x', dims: [2, 2], dataType: 1 }, /no data/],
    ];
    for (const [t, pattern] of cases) {
      const path = file(await tinyModel({ extra: (g) => void g.initializer!.push(t) }));
      await expectFormatError(openOnnx(path), pattern, { file: path, tensor: 'x' });
    }
  });

  it('a missing initializer (a node reads a value nothing defines)', async () => {
    const path = join(dir, 'missing-init.onnx');
    await editOnnx(thin, path, (m) => {
      m.graph!.initializer = m.graph!.initializer!.filter((t) => t.name !== 'Mixed_6a/Branch_0/Conv2d_1a_3x3/weights');
    });
    await expectFormatError(openOnnx(path), /reads 'Mixed_6a\/Branch_0\/Conv2d_1a_3x3\/weights', which no initializer, input or node defines/, {
      file: path,
      tensor: 'Mixed_6a/Branch_0/Conv2d_1a_3x3/weights',
    });
  });

  it('external data: file missing, file too short, length that disagrees, a location outside the folder', async () => {
    const sub = mkdtempSync(join(dir, 'ext-'));
    const path = join(sub, 'm.onnx');
    await onnxWriter.write(model, path, { externalData: true });
    const data = `${path}.data`;
    const saved = readFileSync(data);
    // too short: the last tensor runs past the end
    truncateSync(data, saved.length - 10);
    const last = await expectFormatError(openOnnx(path), /external data needs bytes \d+\.\.\d+, the file has \d+/, { file: data, offset: true });
    expect(last.tensor).toBe('Logits/Logits/biases');
    // missing
    rmSync(data);
    await expectFormatError(openOnnx(path), /external data file is missing/, { file: data, tensor: 'Conv2d_1a_3x3/weights' });
    writeFileSync(data, saved);
    const edit = async (name: string, f: (e: onnx.IStringStringEntryProto[]) => void) => {
      const out = join(sub, name);
      await editOnnx(path, out, (m) => f(m.graph!.initializer!.find((t) => t.name === 'Conv2d_1a_3x3/weights')!.externalData!));
      return out;
    };
    const setEntry = (e: onnx.IStringStringEntryProto[], key: string, value: string) => {
      const x = e.find((y) => y.key === key);
      if (x) x.value = value;
      else e.push({ key, value });
    };
    await expectFormatError(openOnnx(await edit('len.onnx', (e) => setEntry(e, 'length', '12'))), /external data length 12 does not match the shape \[2,3,3,3\]/, {
      tensor: 'Conv2d_1a_3x3/weights',
    });
    await expectFormatError(openOnnx(await edit('up.onnx', (e) => setEntry(e, 'location', '../secret.data'))), /leaves the model's folder/, { tensor: 'Conv2d_1a_3x3/weights' });
    await expectFormatError(openOnnx(await edit('abs.onnx', (e) => setEntry(e, 'location', '/etc/passwd'))), /must be a relative path/, { tensor: 'Conv2d_1a_3x3/weights' });
    await expectFormatError(openOnnx(await edit('off.onnx', (e) => setEntry(e, 'offset', '-4'))), /offset '-4' is not a byte count/);
  });

  it('a file that is removed or shortened after open fails on read, naming the file and the offset', async () => {
    const sub = mkdtempSync(join(dir, 'late-'));
    const path = join(sub, 'm.onnx');
    await onnxWriter.write(model, path, { externalData: true });
    const src = await openOnnx(path);
    try {
      truncateSync(`${path}.data`, 100);
      const t = src.tensors.filter((x) => x.file === `${path}.data`).at(-1)!;
      await expectFormatError(t.read(), /external data ends after 0 of \d+ bytes/, { file: `${path}.data`, tensor: t.name, offset: true });
    } finally {
      await src.close();
    }
  });

  it('no such file, a folder', async () => {
    await expectFormatError(openOnnx(join(dir, 'nope.onnx')), /cannot read/);
    await expectFormatError(openOnnx(dir), /is a folder/);
  });
});

describe('bad input through the CLI: one line naming the file, exit code 3', () => {
  it.each([
    ['truncated', (b: Uint8Array) => b.subarray(0, Math.floor(b.length / 3)), /^port: onnx: .*trunc\.onnx, byte \d+: not a valid ONNX protobuf/],
    ['not an Inception', async () => tinyModel(), /^port: onnx scheme: .*tiny\.onnx: the ONNX graph is not Inception-v4 or Inception-ResNet-v2/],
  ] as const)('%s', async (name, make, pattern) => {
    const path = join(dir, name === 'truncated' ? 'trunc.onnx' : 'tiny.onnx');
    writeFileSync(path, await make(readFileSync(thin)));
    const r = runCli([path, '--to', 'safetensors', '-o', join(dir, `${name}.safetensors`), '--no-check']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(pattern);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});

