/**
 * The TensorFlow checkpoint reader: its pieces against known answers, the real producer's files
 * (TensorFlow 2.21: V1, V2, sharded V2 with partitioned variables, SavedModel), the converted
 * models run in onnxruntime against independent references (TF ops at every size, timm at full
 * size), crafted bad inputs through the CLI, and a fuzz test.
 */
import { copyFileSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { bindModel, readModel, writeModel, type BindModelOptions } from '../../src/api.js';
import { FormatError } from '../../src/errors.js';
import { readNpy } from '../../src/io/npy.js';
import { defaultInput } from '../../src/parity/input.js';
import { runOnnx } from '../../src/parity/ort.js';
import { READERS } from '../../src/readers/index.js';
import { crc32c, crc32cExtend, crc32cInWasm, crc32cModuleBytes, crc32cTables, crc32cWith, LITTLE_ENDIAN, maskCrc, unmaskCrc, type Crc32cWasmExports } from '../../src/io/crc32c.js';
import { giveBack } from '../../src/io/pool.js';
import { memoryFile, openRangeFile } from '../../src/readers/tf-checkpoint/file.js';
import { tfCheckpointReader } from '../../src/readers/tf-checkpoint/index.js';
import { decodeSavedTensorSlices } from '../../src/readers/tf-checkpoint/protos.js';
import { encodeTensorNameSlice } from '../../src/readers/tf-checkpoint/slices.js';
import { snappyDecompress } from '../../src/readers/tf-checkpoint/snappy.js';
import { openTable } from '../../src/readers/tf-checkpoint/sstable.js';
import { WRITERS } from '../../src/writers/index.js';
import { runCli } from '../helpers/cli.js';
import { ROOT } from '../helpers/python.js';
import { bytesOf, bytesToFloat32 } from '../../src/tensor.js';
import { createHash } from 'node:crypto';
import { bundleEntry, bundleHeader, table, varint } from '../helpers/sstable.js';
import { COMMITTED, fullFixture, KIND_PATH, thinFixture, type Kind, type TfFixture } from '../helpers/tf-fixtures.js';

const TMP = mkdtempSync(join(tmpdir(), 'wp-tf-'));
afterAll(() => rmSync(TMP, { recursive: true, force: true }));

const HAVE_ONNX = WRITERS.some((w) => w.format === 'onnx');
const NO_ONNX = 'the ONNX writer is not registered yet (src/writers/onnx)';
const [IRV2, V4] = COMMITTED;

// --- pieces ----------------------------------------------------------------------------------

describe('CRC32C', () => {
  it('matches the standard check values (RFC 3720 B.4, "123456789")', () => {
    expect(crc32c(new TextEncoder().encode('123456789'))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i))).toBe(0x46dd794e);
  });

  it('extends in pieces and masks as LevelDB does', () => {
    const data = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7919) & 0xff);
    expect(crc32cExtend(crc32cExtend(0, data.subarray(0, 333)), data.subarray(333))).toBe(crc32c(data));
    const c = crc32c(data);
    expect(maskCrc(c)).toBe(((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0);
    expect(unmaskCrc(maskCrc(c))).toBe(c);
    expect(maskCrc(c)).not.toBe(c);
  });

  it('equals the bit-by-bit definition at every alignment and length (word-wise fast path)', () => {
    const bitwise = (bytes: Uint8Array) => {
      let c = 0xffffffff;
      for (const b of bytes) {
        c ^= b;
        for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
      }
      return ~c >>> 0;
    };
    const data = Uint8Array.from({ length: 64 }, (_, i) => (i * 2654435761) >>> 24);
    for (let offset = 0; offset < 8; offset++)
      for (let length = 0; length + offset <= 40; length++) {
        const piece = data.subarray(offset, offset + length);
        expect(crc32c(piece), `offset ${offset}, length ${length}`).toBe(bitwise(piece));
      }
  });

  it('the WebAssembly module (the checks worker\'s) equals it too, at every alignment and length, and continues a CRC', () => {
    const { exports } = new WebAssembly.Instance(new WebAssembly.Module(crc32cModuleBytes)) as unknown as {
      exports: { memory: WebAssembly.Memory; crc: (p: number, n: number, crc: number) => number };
    };
    new Uint32Array(exports.memory.buffer, 0, 2048).set(crc32cTables());
    const at = 8192;
    const data = Uint8Array.from({ length: 64 }, (_, i) => (i * 2654435761) >>> 24);
    new Uint8Array(exports.memory.buffer, at, 64).set(data);
    for (let offset = 0; offset < 8; offset++)
      for (let length = 0; length + offset <= 40; length++)
        expect(exports.crc(at + offset, length, 0) >>> 0, `offset ${offset}, length ${length}`).toBe(crc32c(data.subarray(offset, offset + length)));
    expect(exports.crc(at + 13, 51, crc32c(data.subarray(0, 13))) >>> 0).toBe(crc32c(data));
  });

  it('long runs on the calling thread (through the module, 1 MiB at a time) equal the JS loop, continued or not', () => {
    const tables = crc32cTables();
    const data = Uint8Array.from({ length: (3 << 20) + 41 }, (_, i) => (Math.imul(i, 2246822519) >>> 21) & 255);
    for (const [from, to] of [[0, 65536], [5, 65536 + 77], [3, (1 << 20) + 3], [1, data.length]]) {
      const piece = data.subarray(from, to); // unaligned views on purpose
      expect(crc32cExtend(0, piece), `[${from}, ${to})`).toBe(crc32cWith(tables, LITTLE_ENDIAN, 0, piece));
      expect(crc32cExtend(0xdeadbeef, piece), `[${from}, ${to}) continued`).toBe(crc32cWith(tables, LITTLE_ENDIAN, 0xdeadbeef, piece));
    }
  });

  it('three registers at once, joined (long runs in the worker), equal the plain loop at every length around the split', () => {
    const exports = new WebAssembly.Instance(new WebAssembly.Module(crc32cModuleBytes)).exports as unknown as Crc32cWasmExports & { memory: WebAssembly.Memory };
    exports.memory.grow(17);
    new Uint32Array(exports.memory.buffer, 0, 2048).set(crc32cTables());
    const at = 65536 + 3; // unaligned on purpose
    const data = Uint8Array.from({ length: 1 << 20 }, (_, i) => (Math.imul(i, 2654435761) >>> 19) & 255);
    new Uint8Array(exports.memory.buffer, at, data.length).set(data);
    const crcAt = crc32cInWasm(exports);
    // 16 KiB and up take the three runs; the tail (n mod 24) goes through the plain loop
    for (const n of [16383, 16384, 16385, 16407, 16408, 16409, 100_000, 1 << 20, (1 << 20) - 23]) {
      expect(crcAt(0, at, n), `${n} bytes`).toBe(crc32c(data.subarray(0, n)));
      const head = crc32c(data.subarray(0, 7));
      expect(crcAt(head, at + 7, n - 7), `${n} bytes, continued`).toBe(crc32c(data.subarray(0, n)));
    }
  });
});

describe('Snappy', () => {
  // vectors written from google/snappy format_description.txt
  it.each([
    ['a literal', [0x05, 0x10, 104, 101, 108, 108, 111], 'hello'],
    ['a literal, a 1-byte-offset copy, a literal', [0x0d, 0x0c, 97, 98, 99, 100, 0x11, 0x04, 0x00, 88], 'abcdabcdabcdX'],
    ['an overlapping copy (run of one byte)', [0x0a, 0x00, 122, 0x15, 0x01], 'zzzzzzzzzz'],
    ['a 2-byte-offset copy', [0x08, 0x0c, 119, 120, 121, 122, 0x0e, 0x04, 0x00], 'wxyzwxyz'],
    ['a 4-byte-offset copy', [0x06, 0x08, 49, 50, 51, 0x0b, 0x03, 0x00, 0x00, 0x00], '123123'],
  ])('%s', (_, bytes, text) => {
    expect(new TextDecoder().decode(snappyDecompress(Uint8Array.from(bytes)))).toBe(text);
  });

  it('a literal longer than 60 bytes (length in the next byte)', () => {
    const text = 'x'.repeat(100);
    const out = snappyDecompress(Uint8Array.from([100, 0xf0, 99, ...new TextEncoder().encode(text)]));
    expect(new TextDecoder().decode(out)).toBe(text);
  });

  it.each([
    ['a copy before any output', [0x04, 0x11, 0x04]],
    ['a copy reaching past the output', [0x08, 0x04, 97, 0x11, 0x05]],
    ['a literal past the input', [0x05, 0x10, 104]],
    ['more output than declared', [0x02, 0x10, 104, 101, 108, 108, 111]],
    ['less output than declared', [0x09, 0x10, 104, 101, 108, 108, 111]],
    ['an impossible declared length', [0xff, 0xff, 0xff, 0xff, 0x0f, 0x00, 97]],
    ['a truncated length varint', [0xff]],
  ])('refuses %s', (_, bytes) => {
    expect(() => snappyDecompress(Uint8Array.from(bytes))).toThrow();
  });

  it('reads a Snappy-compressed table block', async () => {
    // an all-literal Snappy stream of the block (the simplest valid compression)
    const literal = (b: Uint8Array) => {
      const out = [...varint(b.length)];
      for (let i = 0; i < b.length; i += 60) {
        const chunk = b.subarray(i, i + 60);
        out.push((chunk.length - 1) << 2, ...chunk);
      }
      return Uint8Array.from(out);
    };
    const bytes = table([['a', [1, 2, 3]], ['b', [4]]], { compression: 1, compress: literal });
    const t = await openTable(memoryFile('mem', bytes));
    const got = [];
    for await (const e of t.entries()) got.push([new TextDecoder().decode(e.key), [...e.value]]);
    expect(got).toEqual([['a', [1, 2, 3]], ['b', [4]]]);
  });
});

describe('SSTable and V1 slice keys', () => {
  it('every data key of a real V1 file is EncodeTensorNameSlice(name, slice) of its entry', async () => {
    const path = join(IRV2.dir, KIND_PATH.v1);
    const bytes = new Uint8Array(readFileSync(path));
    const t = await openTable(memoryFile(path, bytes));
    let n = 0;
    let partitioned = 0;
    for await (const e of t.entries()) {
      if (e.key.length === 0) continue;
      const d = decodeSavedTensorSlices(e.value).data!;
      expect(Buffer.from(encodeTensorNameSlice(d.name, d.slice)).equals(Buffer.from(e.key))).toBe(true);
      if (d.slice.some((x) => x.length !== undefined)) partitioned++;
      n++;
    }
    expect(n).toBeGreaterThan(900);
    expect(partitioned).toBe(5); // 3 row slices of Logits/Logits/weights, 2 of a conv kernel
  });

  it('a crafted table: prefix-compressed keys across restarts', async () => {
    const keys = Array.from({ length: 40 }, (_, i) => `InceptionV4/Mixed_6${String.fromCharCode(98 + (i % 7))}/w${String(i).padStart(3, '0')}`).sort();
    const bytes = table(keys.map((k, i) => [k, [i]]));
    const t = await openTable(memoryFile('mem', bytes));
    const got: string[] = [];
    for await (const e of t.entries()) got.push(new TextDecoder().decode(e.key));
    expect(got).toEqual(keys);
    expect([...(await t.get(new TextEncoder().encode(keys[17])))!.value]).toEqual([17]);
    expect(await t.get(new TextEncoder().encode('nope'))).toBeUndefined();
  });

  it('withValue: a value alone in its block may take the block (read into io/pool memory); the table reads it again afterwards, never the changed memory', async () => {
    const key = (k: string) => new TextEncoder().encode(k);
    const value = Uint8Array.from({ length: 3000 }, (_, i) => (i * 7) & 255);
    const one = join(TMP, 'one-entry.table');
    writeFileSync(one, table([['k', value]]));
    const file = await openRangeFile(one);
    const t = await openTable(file);
    const taken = await t.withValue(key('k'), undefined, (v, _block, take) => {
      const raw = take();
      // the block from its start: the value lies inside it
      return raw && { raw, inside: v.buffer === raw.buffer && v.byteOffset >= raw.byteOffset && v.byteOffset + v.length <= raw.byteOffset + raw.length };
    });
    expect(taken?.inside).toBe(true);
    taken!.raw.fill(0); // the taker's to change
    expect(Buffer.from((await t.withValue(key('k'), undefined, (v) => v.slice()))!).equals(Buffer.from(value))).toBe(true);
    // held by readBlock (its views are handed out): never taken
    await t.readBlock(t.index[0].handle);
    expect(await t.withValue(key('k'), undefined, (_v, _b, take) => take() === undefined)).toBe(true);
    await file.close();

    // a block of two entries is never taken
    const two = join(TMP, 'two-entries.table');
    writeFileSync(two, table([['a', [1, 2, 3]], ['b', [4]]]));
    const file2 = await openRangeFile(two);
    const t2 = await openTable(file2);
    expect(await t2.withValue(key('a'), undefined, (_v, _b, take) => take() === undefined)).toBe(true);
    expect([...(await t2.withValue(key('b'), undefined, (v) => v.slice()))!]).toEqual([4]);
    await file2.close();
  });
});

// --- the real producer's files ---------------------------------------------------------------

const listed = (f: TfFixture, kind: Kind) => f.listing[kind].filter((v) => v.name !== '_CHECKPOINTABLE_OBJECT_GRAPH');

async function expectListing(f: TfFixture, kind: Kind, path = join(f.dir, KIND_PATH[kind])) {
  const m = await readModel(path, { from: 'tf' });
  try {
    const keys = (m.metadata.checkpointKeys ?? {}) as Record<string, string>;
    const got = m.tensors.map((t) => [keys[t.name] ?? t.name, t.shape.join('x'), t.dtype].join(' ')).sort();
    const want = listed(f, kind).map((v) => [v.name, v.shape.join('x'), v.dtype].join(' ')).sort();
    expect(got).toEqual(want);
    if (kind === 'savedmodel') for (const t of m.tensors) expect(f.listing.savedmodel_keys![keys[t.name]] ?? t.name).toBe(t.name);
    let bytes = 0;
    for (const t of m.tensors) {
      const b = await t.read();
      expect(b.byteLength).toBe(t.byteLength);
      bytes += b.byteLength;
    }
    return { model: m.tensors.length, bytes };
  } finally {
    await m.close();
  }
}

describe('committed fixtures (TensorFlow 2.21, widthDivisor 16)', () => {
  it('V1: tensors read all at once (blocks leaving the cache meanwhile) equal tensors read one by one whose memory was given back', async () => {
    const path = join(IRV2.dir, KIND_PATH.v1);
    const one = await readModel(path, { from: 'tf' });
    const alone = new Map<string, Buffer>();
    for (const t of one.tensors) {
      const bytes = await t.read();
      alone.set(t.name, Buffer.from(bytes.slice()));
      giveBack(bytes); // as a writer does: the next reads land in this memory
    }
    await one.close();
    const all = await readModel(path, { from: 'tf' });
    const together = await Promise.all(all.tensors.map((t) => t.read())); // blocks leave the cache while others are still copied out
    await all.close();
    expect(together.length).toBeGreaterThan(100);
    const differ = all.tensors.filter((t, i) => !Buffer.from(together[i]).equals(alone.get(t.name)!)).map((t) => t.name);
    expect(differ).toEqual([]);
  });

  it('V1: the same tensors, shapes and dtypes as tf.train.list_variables; every CRC verified; partitioned variables reassembled', async () => {
    const r = await expectListing(IRV2, 'v1');
    expect(r.model).toBe(917);
  });

  it('sharded V2 (3 shards): same listing, given as the prefix, the .index file or any .data file', async () => {
    const prefix = join(V4.dir, KIND_PATH.v2_sharded);
    for (const p of [prefix, `${prefix}.index`, `${prefix}.data-00001-of-00003`]) await expectListing(V4, 'v2_sharded', p);
    const m = await readModel(prefix);
    expect(m.format).toBe('tf');
    expect(m.files.map((f) => basename(f))).toEqual(['model.ckpt.index', 'model.ckpt.data-00000-of-00003', 'model.ckpt.data-00001-of-00003', 'model.ckpt.data-00002-of-00003']);
    expect(m.metadata).toMatchObject({ version: 'V2', shards: 3 });
    await m.close();
  });

  it('auto-detection (readModel without --from) recognises each form', async () => {
    expect(READERS.some((r) => r.format === 'tf')).toBe(true);
    for (const p of [join(IRV2.dir, KIND_PATH.v1), join(V4.dir, KIND_PATH.v2_sharded), join(V4.dir, `${KIND_PATH.v2_sharded}.index`)]) {
      const m = await readModel(p);
      expect(m.format).toBe('tf');
      await m.close();
    }
  });

  it('reads lazily: a corrupt tensor fails only when that tensor is read', async () => {
    const dir = join(TMP, 'lazy');
    cpSync(join(V4.dir, 'v2_sharded'), dir, { recursive: true });
    const m = await readModel(join(dir, 'model.ckpt'));
    const victim = m.tensors.find((t) => t.name.endsWith('Mixed_6b/Branch_0/Conv2d_0a_1x1/weights'))!;
    const other = m.tensors.find((t) => t.name.endsWith('Mixed_7d/Branch_3/Conv2d_0b_1x1/weights'))!;
    await m.close();
    const bytes = readFileSync(victim.file!);
    bytes[victim.offset! + 5] ^= 0x40;
    writeFileSync(victim.file!, bytes);
    const again = await readModel(join(dir, 'model.ckpt'));
    const byName = new Map(again.tensors.map((t) => [t.name, t]));
    await expect(byName.get(other.name)!.read()).resolves.toHaveLength(other.byteLength);
    await expect(byName.get(victim.name)!.read()).rejects.toThrow(/CRC32C mismatch/);
    await again.close();
    // and with verification off, the bytes come through as stored
    const loose = await readModel(join(dir, 'model.ckpt'), { verify: false });
    await expect(loose.tensors.find((t) => t.name === victim.name)!.read()).resolves.toHaveLength(victim.byteLength);
    await loose.close();
  });
});

describe('dtypes (fixtures/tf/dtypes, written by TensorFlow)', () => {
  const dir = join(ROOT, 'fixtures/tf/dtypes');
  const expected = JSON.parse(readFileSync(join(dir, 'values.json'), 'utf8')) as Record<string, { dtype: string; shape: number[]; values: (number | string)[] }>;
  const TF_DTYPE: Record<string, string> = { float32: 'float32', half: 'float16', float16: 'float16', bfloat16: 'bfloat16', float64: 'float64', int32: 'int32', int64: 'int64' };

  it.each(['v1', 'v2'])('%s: float32, float16, bfloat16 (V2 only: V1 cannot save it), float64, int32, int64, a scalar, a partitioned float16', async (kind) => {
    const m = await readModel(join(dir, kind, 'model.ckpt'), { from: 'tf' });
    const names = m.tensors.map((t) => t.name).sort();
    expect(names).toEqual(Object.keys(expected).filter((k) => !(kind === 'v1' && k === 'bf16')).sort());
    for (const t of m.tensors) {
      const want = expected[t.name];
      expect(t.dtype, t.name).toBe(TF_DTYPE[want.dtype]);
      expect(t.shape).toEqual(want.shape);
      const bytes = await t.read();
      if (t.dtype === 'int64') expect([...new BigInt64Array(bytes.slice().buffer)].map(String), t.name).toEqual(want.values);
      else if (t.dtype === 'int32') expect([...new Int32Array(bytes.slice().buffer)], t.name).toEqual(want.values);
      else if (t.dtype === 'float64') expect([...new Float64Array(bytes.slice().buffer)], t.name).toEqual(want.values);
      else expect([...bytesToFloat32(t.dtype, bytes)], t.name).toEqual(want.values);
    }
    await m.close();
  });

  it.each(['v1', 'v2'])('%s: a complex64 (or string) variable is refused by name', async (kind) => {
    const err = await readModel(join(dir, 'unsupported', kind, 'model.ckpt'), { from: 'tf' }).catch((e) => e);
    expect(err).toBeInstanceOf(FormatError);
    expect(err.message).toMatch(/tensor 'c64', byte \d+: unsupported dtype DT_COMPLEX64/);
  });
});

// --- numbers: converted to ONNX, run in onnxruntime, against independent references ---------------

const TOP = 5;
const topK = (a: Float32Array, k = TOP) => [...a].map((v, i) => [v, i] as const).sort((x, y) => y[0] - x[0]).slice(0, k).map((x) => x[1]);

function expectMatches(got: Float32Array, ref: Float32Array, atol = 1e-4) {
  expect(got.length).toBe(ref.length);
  let max = 0;
  for (let i = 0; i < ref.length; i++) max = Math.max(max, Math.abs(got[i] - ref[i]));
  expect(max).toBeLessThanOrEqual(atol);
  expect(topK(got)).toEqual(topK(ref));
  // not degenerate: spread out, distinct top-5 values
  const mean = ref.reduce((a, b) => a + b, 0) / ref.length;
  const std = Math.sqrt(ref.reduce((a, b) => a + (b - mean) ** 2, 0) / ref.length);
  expect(std).toBeGreaterThan(0.1);
  expect(new Set(topK(ref).map((i) => ref[i])).size).toBe(TOP);
  return max;
}

let onnxCount = 0;
async function runConverted(path: string, options: BindModelOptions = {}): Promise<{ logits: Float32Array; aux?: Float32Array }> {
  const source = await readModel(path);
  try {
    const { model } = bindModel(source, options);
    const out = join(TMP, `model-${onnxCount++}.onnx`);
    await writeModel(model, out, { to: 'onnx' });
    const outputs = [...(await runOnnx(out, defaultInput(model.graph.options.inputSize))).outputs.values()];
    rmSync(out, { force: true });
    return { logits: outputs[0].data, ...(outputs[1] ? { aux: outputs[1].data } : {}) };
  } finally {
    await source.close();
  }
}

const ref = async (f: TfFixture, file: string) => (await readNpy(join(f.dir, file))).data;

it('the references were computed on exactly the default parity input (the Python formula matches src/parity/input.ts bit for bit)', () => {
  const mine = createHash('sha256').update(bytesOf(defaultInput().data)).digest('hex');
  for (const f of COMMITTED) expect(readFileSync(join(f.dir, 'input.sha256'), 'utf8').trim(), f.dir).toBe(mine);
});

describe.skipIf(!HAVE_ONNX)(`committed fixtures to ONNX, in onnxruntime, against TensorFlow${HAVE_ONNX ? '' : ` (skipped: ${NO_ONNX})`}`, () => {
  it.each([
    ['Inception-ResNet-v2 V1', IRV2, 'v1'],
    ['Inception-v4 sharded V2', V4, 'v2_sharded'],
  ] as const)('%s: logits within 1e-4, same top-5', async (_, f, kind) => {
    const { logits } = await runConverted(join(f.dir, KIND_PATH[kind]));
    expectMatches(logits, await ref(f, 'ref_logits.npy'));
  });

  it.each([
    ['Inception-ResNet-v2 V1', IRV2, 'v1'],
    ['Inception-v4 sharded V2', V4, 'v2_sharded'],
  ] as const)('%s --ema takes the ExponentialMovingAverage values', async (_, f, kind) => {
    const { logits } = await runConverted(join(f.dir, KIND_PATH[kind]), { ema: true });
    expectMatches(logits, await ref(f, 'ref_ema_logits.npy'));
    const plain = await ref(f, 'ref_logits.npy');
    expect(Math.max(...logits.map((v, i) => Math.abs(v - plain[i])))).toBeGreaterThan(1e-3); // the shadows differ
  });

  it('--aux keeps the auxiliary head; its output matches TensorFlow', async () => {
    const { logits, aux } = await runConverted(join(V4.dir, KIND_PATH.v2_sharded), { aux: true });
    expectMatches(logits, await ref(V4, 'ref_logits.npy'));
    expectMatches(aux!, await ref(V4, 'ref_aux.npy'));
  });

  it('--classes 1000 drops the background class', async () => {
    const { logits } = await runConverted(join(IRV2.dir, KIND_PATH.v1), { classes: 1000 });
    expectMatches(logits, (await ref(IRV2, 'ref_logits.npy')).slice(1));
  });
});

describe('thin fixtures of every kind (widthDivisor 8, made into the cache by TensorFlow)', () => {
  for (const arch of ['inception_resnet_v2', 'inception_v4'] as const) {
    const f = thinFixture(arch);
    const skip = 'skip' in f ? f.skip : !HAVE_ONNX ? NO_ONNX : '';
    it.skipIf(!!skip)(`${arch}: V1, V2, sharded V2, SavedModel list as TensorFlow does, hold the same bytes, and match TensorFlow in onnxruntime${skip ? ` (skipped: ${skip})` : ''}`, async () => {
      const fx = f as TfFixture;
      const bytesOf = async (kind: Kind) => {
        const m = await readModel(join(fx.dir, KIND_PATH[kind]));
        const out = new Map<string, Buffer>();
        for (const t of m.tensors) out.set(t.name, Buffer.from(await t.read()));
        await m.close();
        return out;
      };
      const v2 = await bytesOf('v2');
      for (const kind of fx.kinds) {
        await expectListing(fx, kind);
        const mine = await bytesOf(kind);
        for (const [name, b] of mine) expect(b.equals(v2.get(name)!), `${kind} ${name}`).toBe(true);
        const { logits } = await runConverted(join(fx.dir, KIND_PATH[kind]));
        expectMatches(logits, await ref(fx, 'ref_logits.npy'));
      }
    }, 600_000);
  }
});

describe('full size: V1 and V2 against TensorFlow and timm (cache; made once)', () => {
  for (const arch of ['inception_resnet_v2', 'inception_v4'] as const) {
    const f = fullFixture(arch);
    const skip = 'skip' in f ? f.skip : !HAVE_ONNX ? NO_ONNX : '';
    it.skipIf(!!skip)(`${arch}${skip ? ` (skipped: ${skip})` : ''}`, async () => {
      const fx = f as TfFixture & { timm: string };
      const tfRef = await ref(fx, 'ref_logits.npy');
      const timm = (await readNpy(fx.timm)).data;
      // the fixture's TF-op network and timm agree: the reference is independent and right
      expectMatches(tfRef.slice(1), timm);
      for (const kind of ['v1', 'v2'] as const) {
        expect(existsSync(join(fx.dir, KIND_PATH[kind] + (kind === 'v2' ? '.index' : '')))).toBe(true);
        const { logits } = await runConverted(join(fx.dir, KIND_PATH[kind]), { classes: 1000 });
        expectMatches(logits, timm);
        expectMatches(logits, tfRef.slice(1));
      }
    }, 900_000);
  }
});

// --- bad input -----------------------------------------------------------------------------

/** A copy of a committed fixture folder to break. */
function copyOf(f: TfFixture, name: string): string {
  const dir = join(TMP, name);
  cpSync(f.dir, dir, { recursive: true });
  return dir;
}

const flip = (path: string, at: number, mask = 0x01) => {
  const b = readFileSync(path);
  b[at < 0 ? b.length + at : at] ^= mask;
  writeFileSync(path, b);
};

/** A crafted V2 bundle: one shard holding `data`, index entries as given. */
function bundle(name: string, entries: [string, number[]][], data: Uint8Array, shards = 1): string {
  const dir = mkdtempSync(join(TMP, `${name}-`));
  const prefix = join(dir, 'ckpt');
  writeFileSync(`${prefix}.index`, table([['', bundleHeader(shards)], ...entries]));
  for (let k = 0; k < shards; k++) writeFileSync(`${prefix}.data-${String(k).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}`, k === 0 ? data : new Uint8Array(0));
  return prefix;
}

const f32 = (...v: number[]) => new Uint8Array(Float32Array.from(v).buffer);

/** Where the stem's kernel lives in the committed sharded V2 fixture. */
const V4_STEM = await (async () => {
  const m = await readModel(join(V4.dir, KIND_PATH.v2_sharded), { from: 'tf' });
  const t = m.tensors.find((x) => x.name === 'InceptionV4/Conv2d_1a_3x3/weights')!;
  await m.close();
  return { file: t.file!, offset: t.offset! };
})();

/** A byte in the middle of the values of the largest tensor of the network (`aux`: of the auxiliary head, which a conversion leaves out) in the committed thin IRv2 V1 file. */
const irv2V1ValueAt = async (aux: boolean) => {
  const m = await readModel(join(IRV2.dir, KIND_PATH.v1), { from: 'tf' });
  // a kernel (not an optimizer slot, whose values may repeat the kernel's)
  const big = m.tensors.filter((t) => t.name.endsWith('/weights') && t.name.includes('AuxLogits') === aux).reduce((a, b) => (b.byteLength > a.byteLength ? b : a));
  const bytes = await big.read();
  await m.close();
  const middle = Math.floor(bytes.length / 2);
  const at = readFileSync(join(IRV2.dir, KIND_PATH.v1)).indexOf(Buffer.from(bytes.subarray(middle, middle + 32)));
  if (at < 0) throw new Error('the tensor values are not stored raw');
  return at + 16;
};
const IRV2_V1_VALUE_AT = await irv2V1ValueAt(false);
const IRV2_V1_AUX_VALUE_AT = await irv2V1ValueAt(true);

describe('bad input: a typed error naming file, tensor and byte offset; exit code 3; no output', () => {
  const cases: [string, () => string, RegExp][] = [
    ['bad footer magic', () => {
      const dir = copyOf(V4, 'magic');
      flip(join(dir, 'v2_sharded/model.ckpt.index'), -3);
      return join(dir, 'v2_sharded/model.ckpt');
    }, /model\.ckpt\.index, byte \d+: bad footer magic/],
    ['a block whose CRC does not match (V1)', () => {
      const dir = copyOf(IRV2, 'blockcrc');
      flip(join(dir, 'v1/model.ckpt'), 300);
      return join(dir, 'v1/model.ckpt');
    }, /model\.ckpt, (tensor '[^']+', )?byte \d+: block CRC32C mismatch/],
    ['a flipped bit in the values of a tensor (V1): the block decodes, its CRC (checked beside the conversion) fails', () => {
      const dir = copyOf(IRV2, 'valuecrc');
      flip(join(dir, 'v1/model.ckpt'), IRV2_V1_VALUE_AT, 0x10);
      return join(dir, 'v1/model.ckpt');
    }, /model\.ckpt, tensor '[^']+', byte \d+: block CRC32C mismatch/],
    ['a flipped bit in the auxiliary head (V1), which the conversion leaves out: every block is checked', () => {
      const dir = copyOf(IRV2, 'auxcrc');
      flip(join(dir, 'v1/model.ckpt'), IRV2_V1_AUX_VALUE_AT, 0x10);
      return join(dir, 'v1/model.ckpt');
    }, /model\.ckpt, byte \d+: block CRC32C mismatch/],
    ['a tensor whose CRC does not match (V2)', () => {
      const dir = copyOf(V4, 'datacrc');
      // a byte inside a tensor of the network (a left-out tensor is never read)
      const entry = V4_STEM;
      flip(join(dir, 'v2_sharded', basename(entry.file)), entry.offset + 7);
      return join(dir, 'v2_sharded/model.ckpt');
    }, /data-0000\d-of-00003, tensor 'InceptionV4\/Conv2d_1a_3x3\/weights', byte \d+: CRC32C mismatch/],
    ['a missing shard', () => {
      const dir = copyOf(V4, 'noshard');
      rmSync(join(dir, 'v2_sharded/model.ckpt.data-00002-of-00003'));
      return join(dir, 'v2_sharded/model.ckpt');
    }, /data-00002-of-00003, tensor '[^']+', byte \d+: data shard 3 of 3 is missing/],
    ['a truncated V1 file', () => {
      const dir = copyOf(IRV2, 'truncv1');
      truncateSync(join(dir, 'v1/model.ckpt'), 1_000_000);
      return join(dir, 'v1/model.ckpt');
    }, /model\.ckpt, byte 999992: bad footer magic/],
    ['a truncated data shard', () => {
      const dir = copyOf(V4, 'truncdata');
      truncateSync(join(dir, 'v2_sharded/model.ckpt.data-00001-of-00003'), 1000);
      return join(dir, 'v2_sharded/model.ckpt');
    }, /data-00001-of-00003, tensor '[^']+', byte \d+: \d+ bytes at \d+ run past the end of the 1000-byte shard/],
    ['a truncated index', () => {
      const dir = copyOf(V4, 'truncindex');
      truncateSync(join(dir, 'v2_sharded/model.ckpt.index'), 30);
      return join(dir, 'v2_sharded/model.ckpt');
    }, /model\.ckpt\.index, byte 0: 30 bytes is too short/],
    ['an offset past the end', () => bundle('offset', [['w', bundleEntry({ dtype: 1, shape: [2], offset: 4096, size: 8 })]], f32(1, 2)), /ckpt\.data-00000-of-00001, tensor 'w', byte 4096: 8 bytes at 4096 run past the end/],
    ['an unknown dtype', () => bundle('dtype', [['names', bundleEntry({ dtype: 7, shape: [2], offset: 0, size: 8 })]], f32(1, 2)), /ckpt\.index, tensor 'names', byte \d+: unsupported dtype DT_STRING/],
    ['a dtype number TensorFlow does not have', () => bundle('dtype999', [['w', bundleEntry({ dtype: 999, shape: [2], offset: 0, size: 8 })]], f32(1, 2)), /tensor 'w', byte \d+: unsupported dtype DataType 999/],
    ['a size that does not fit the shape', () => bundle('size', [['w', bundleEntry({ dtype: 1, shape: [3], offset: 0, size: 8 })]], f32(1, 2)), /tensor 'w', byte 0: 8 bytes stored, shape \[3\] of float32 needs 12/],
  ];

  it.each(cases)('%s', (_, make, message) => {
    const input = make();
    const out = join(TMP, `out-${basename(input)}-${Math.random().toString(36).slice(2)}.safetensors`);
    const r = runCli([input, '--from', 'tf', '--to', 'safetensors', '-o', out]);
    expect(r.stderr).toMatch(message);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(existsSync(out)).toBe(false);
  });

  it('each is a FormatError in the library too', async () => {
    const input = cases[10][1]();
    const err = await readModel(input, { from: 'tf' }).catch((e) => e);
    expect(err).toBeInstanceOf(FormatError);
    expect(err).toMatchObject({ code: 3, tensor: 'names' });
    expect(err.file).toMatch(/ckpt\.index$/);
    expect(typeof err.offset).toBe('number');
  });
});

// --- fuzz ------------------------------------------------------------------------------------

/** Opens and reads everything; resolves with 'ok', or the error's class name. */
async function readAll(path: string, verify: boolean): Promise<string> {
  try {
    const m = await tfCheckpointReader.open(path, { verify });
    try {
      for (const t of m.tensors) {
        const b = await t.read();
        if (b.byteLength !== t.byteLength) return 'wrong length';
      }
    } finally {
      await m.close();
    }
    return 'ok';
  } catch (e) {
    return (e as Error).constructor.name;
  }
}

type Mutation =
  | { kind: 'truncate'; at: number }
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'varint'; at: number; len: number }
  | { kind: 'length'; at: number; value: number };

function mutate(src: Buffer, m: Mutation): Buffer {
  if (m.kind === 'truncate') return src.subarray(0, m.at);
  const b = Buffer.from(src);
  if (m.kind === 'flip') b[m.at] ^= 1 << m.bit;
  else if (m.kind === 'varint') b.fill(0xff, m.at, Math.min(b.length, m.at + m.len)); // a never-ending varint
  else b.writeUInt32LE(m.value >>> 0, Math.min(m.at, b.length - 4)); // a huge or odd length / offset
  return b;
}

/** Mutations of a file of `size` bytes; positions favour the structure at both ends. */
function mutation(size: number): fc.Arbitrary<Mutation> {
  const at = fc.oneof(fc.integer({ min: 0, max: size - 1 }), fc.integer({ min: 0, max: Math.min(size - 1, 4095) }), fc.integer({ min: Math.max(0, size - 4096), max: size - 1 }));
  return fc.oneof(
    fc.record({ kind: fc.constant('truncate' as const), at }),
    fc.record({ kind: fc.constant('flip' as const), at, bit: fc.integer({ min: 0, max: 7 }) }),
    fc.record({ kind: fc.constant('varint' as const), at, len: fc.integer({ min: 1, max: 12 }) }),
    fc.record({ kind: fc.constant('length' as const), at, value: fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.constantFrom(0x7fffffff, 0xffffffff, 0x80000000, 1 << 30)) }),
  );
}

describe('fuzz: corrupt thin fixtures never crash, hang or allocate from a corrupt length', () => {
  const targets: [string, TfFixture, string, string][] = [
    ['V2 index', V4, 'v2_sharded/model.ckpt.index', 'v2_sharded/model.ckpt'],
    ['V2 data shard', V4, 'v2_sharded/model.ckpt.data-00002-of-00003', 'v2_sharded/model.ckpt'],
    ['V1 file', IRV2, 'v1/model.ckpt', 'v1/model.ckpt'],
  ];
  const runs = { 'V2 index': 300, 'V2 data shard': 100, 'V1 file': 120 } as Record<string, number>;
  const outcomes: Record<string, Record<string, number>> = {};
  afterAll(() => console.log('tf fuzz cases (outcome counts):', JSON.stringify(outcomes)));

  it.each(targets)('%s', async (label, f, file, open) => {
    const dir = join(TMP, `fuzz-${label.replace(/\W/g, '')}`);
    cpSync(f.dir, dir, { recursive: true });
    const victim = join(dir, file);
    const original = readFileSync(victim);
    const counts: Record<string, number> = {};
    let peak = 0;
    await fc.assert(
      fc.asyncProperty(mutation(original.length), fc.boolean(), async (m, verify) => {
        writeFileSync(victim, mutate(original, m));
        const before = process.memoryUsage().arrayBuffers;
        const t0 = performance.now();
        const outcome = await readAll(join(dir, open), verify);
        const ms = performance.now() - t0;
        peak = Math.max(peak, process.memoryUsage().arrayBuffers - before);
        counts[outcome] = (counts[outcome] ?? 0) + 1;
        // either it reads (a flip in float data with verify off), or a FormatError: nothing else
        expect(['ok', 'FormatError']).toContain(outcome);
        expect(ms).toBeLessThan(5000);
      }),
      { numRuns: runs[label], seed: 42 },
    );
    copyFileSync(join(f.dir, file), victim);
    outcomes[label] = counts;
    // the whole fixture is a few MB: nothing read may come near a corrupt 32-bit length
    expect(peak).toBeLessThan(256 << 20);
    expect(counts.FormatError).toBeGreaterThan(0);
  }, 600_000);
});
