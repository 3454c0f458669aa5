/**
 * The safetensors reader: round trips with the writer, lazy reads, and validation like the
 * reference implementation (huggingface/safetensors `tensor.rs`): one test per fault from crafted
 * bytes, and a fuzz test (truncation, bit flips, mangled headers, random bytes).
 */
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bindModel, readModel, writeModel } from '../../src/api.js';
import { FormatError } from '../../src/errors.js';
import { buildGraph, type Arch } from '../../src/graphs/index.js';
import { seededModel } from '../../src/graphs/init.js';
import { probePath } from '../../src/io/probe.js';
import { readAll } from '../../src/model.js';
import { READERS } from '../../src/readers/index.js';
import { openSafetensors, safetensorsReader } from '../../src/readers/safetensors/index.js';
import { MAX_HEADER_BYTES } from '../../src/readers/safetensors/spec.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'wp-st-read-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const enc = new TextEncoder();

/** A file: u64 LE length of `header` (or `length` when given), the header bytes, then `data`. */
function craft(header: string | Uint8Array, data: Uint8Array | number = 0, length?: bigint): Uint8Array {
  const h = typeof header === 'string' ? enc.encode(header) : header;
  const d = typeof data === 'number' ? new Uint8Array(data).map((_, i) => i & 0xff) : data;
  const out = new Uint8Array(8 + h.byteLength + d.byteLength);
  new DataView(out.buffer).setBigUint64(0, length ?? BigInt(h.byteLength), true);
  out.set(h, 8);
  out.set(d, 8 + h.byteLength);
  return out;
}

let fileCount = 0;
function file(bytes: Uint8Array): string {
  const path = join(dir, `f${fileCount++}.safetensors`);
  writeFileSync(path, bytes);
  return path;
}

const entry = (dtype: string, shape: number[], begin: number, end: number) => ({ dtype, shape, data_offsets: [begin, end] });

/** A small valid file: four dtypes, metadata. */
function validBytes(): Uint8Array {
  const header = JSON.stringify({
    __metadata__: { format: 'pt', note: 'x' },
    steps: entry('I64', [], 0, 8),
    w: entry('F32', [2, 3], 8, 32),
    h: entry('F16', [4], 32, 40),
    mask: entry('BOOL', [3], 40, 43),
  });
  return craft(header, 43);
}

async function failure(bytes: Uint8Array): Promise<FormatError> {
  const path = file(bytes);
  try {
    const m = await openSafetensors(path);
    await m.close();
  } catch (e) {
    expect(e).toBeInstanceOf(FormatError);
    const f = e as FormatError;
    expect(f.code).toBe(3);
    expect(f.file).toBe(path);
    expect(f.message.startsWith(`safetensors: ${path}`)).toBe(true);
    return f;
  }
  throw new Error('expected a FormatError');
}

describe('safetensors reader: round trips', () => {
  it.each([
    ['inception_v4', 'canonical'],
    ['inception_v4', 'timm'],
    ['inception_resnet_v2', 'canonical'],
    ['inception_resnet_v2', 'timm'],
  ] as const)('%s, %s naming: writer -> reader -> scheme gives the canonical model bit for bit', async (arch: Arch, naming) => {
    const model = seededModel(buildGraph(arch, { widthDivisor: 16, classes: naming === 'canonical' ? 1001 : 1000 }), { seed: 3 });
    const path = join(dir, `${arch}-${naming}.safetensors`);
    await writeModel(model, path, { to: 'safetensors', naming });
    const source = await readModel(path);
    try {
      expect(source.format).toBe('safetensors');
      const { model: back, detection } = bindModel(source);
      expect(detection.scheme).toBe(naming);
      expect(back.params.map((p) => p.name)).toEqual(model.params.map((p) => p.name));
      const [a, b] = [await readAll(model), await readAll(back)];
      for (const [name, v] of a) {
        const w = b.get(name)!;
        expect(Buffer.from(w.buffer, w.byteOffset, w.byteLength).equals(Buffer.from(v.buffer, v.byteOffset, v.byteLength)), name).toBe(true);
      }
      const meta = source.metadata.__metadata__ as Record<string, string>;
      expect(meta).toMatchObject({ format: 'pt', arch, naming, width_divisor: '16' });
    } finally {
      await source.close();
    }
  });

  it('is the reader auto-detection picks, and match() looks only at the first bytes', async () => {
    const path = file(validBytes());
    expect(READERS).toContain(safetensorsReader);
    expect(safetensorsReader.match(await probePath(path))).toBe(true);
    const other = file(enc.encode('PK\x03\x04 not safetensors at all'));
    expect(safetensorsReader.match(await probePath(other))).toBe(false);
    expect(safetensorsReader.match(await probePath(file(craft('[]', 0))))).toBe(false);
    expect(safetensorsReader.match(await probePath(file(craft('{}', 0, 1n << 40n))))).toBe(false);
    expect((await readModel(path)).format).toBe('safetensors');
  });

  it('exposes tensors in data order with dtypes, shapes, offsets and the metadata', async () => {
    const path = file(validBytes());
    const m = await openSafetensors(path);
    try {
      const headerLength = (m.metadata.headerLength as number);
      expect(m.tensors.map((t) => [t.name, t.dtype, t.shape, t.byteLength, t.offset])).toEqual([
        ['steps', 'int64', [], 8, 8 + headerLength],
        ['w', 'float32', [2, 3], 24, 16 + headerLength],
        ['h', 'float16', [4], 8, 40 + headerLength],
        ['mask', 'bool', [3], 3, 48 + headerLength],
      ]);
      expect(m.metadata.__metadata__).toEqual({ format: 'pt', note: 'x' });
      expect([...(await m.tensors[2].read())]).toEqual([32, 33, 34, 35, 36, 37, 38, 39]);
    } finally {
      await m.close();
      await m.close(); // twice is fine
    }
    await expect(m.tensors[0].read()).rejects.toBeInstanceOf(FormatError);
  });

  it('reads lazily: opening a 4 GiB sparse file reads the header only, read() just its range', async () => {
    const size = 4 * 2 ** 30;
    const header = JSON.stringify({ big: entry('F32', [size / 4 - 2], 0, size - 8), tail: entry('U8', [8], size - 8, size) });
    const h = craft(header, 0);
    const path = join(dir, 'sparse.safetensors');
    const fd = openSync(path, 'w');
    writeSync(fd, h, 0, h.byteLength, 0);
    writeSync(fd, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]), 0, 8, h.byteLength + size - 8);
    closeSync(fd);
    const rss = process.memoryUsage().rss;
    const t = performance.now();
    const m = await openSafetensors(path);
    try {
      expect(m.tensors[0].byteLength).toBe(size - 8);
      expect([...(await m.tensors[1].read())]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
      expect(performance.now() - t).toBeLessThan(1000);
      expect(process.memoryUsage().rss - rss).toBeLessThan(64 << 20);
    } finally {
      await m.close();
      rmSync(path);
    }
  });
});

describe('safetensors reader: validation (one fault each, crafted bytes) -> FormatError, exit code 3', () => {
  const ok = (extra: object = {}) => JSON.stringify({ a: entry('F32', [2], 0, 8), b: entry('F32', [1], 8, 12), ...extra });

  it.each<[string, () => Uint8Array, RegExp, { tensor?: string; offset?: number }]>([
    ['a file shorter than the length field', () => new Uint8Array([1, 0, 0]), /too small for the 8-byte header length/, { offset: 0 }],
    ['a huge header length (2^63)', () => craft(ok(), 12, 1n << 63n), /header length 9223372036854775808 is over the 100000000-byte limit/, { offset: 0 }],
    ['a header length just over the 100 MB cap', () => craft(ok(), 12, BigInt(MAX_HEADER_BYTES + 1)), /over the 100000000-byte limit/, { offset: 0 }],
    ['a header that runs past the end of the file', () => craft(ok(), 12, 5000n), /header length 5000 runs past the end of the \d+-byte file/, { offset: 0 }],
    ['a header that is not UTF-8', () => craft(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), 0), /not valid UTF-8/, { offset: 8 }],
    ['a header that is not JSON', () => craft('{"a": {"dtype": "F32",', 0), /not valid JSON/, { offset: 8 }],
    ['a header that does not start with {', () => craft(' {}', 0), /does not start with '\{'/, { offset: 8 }],
    ['an entry that is not an object', () => craft('{"a": 3}', 0), /the entry is not an object/, { tensor: 'a', offset: 8 }],
    ['an entry without a dtype', () => craft(JSON.stringify({ a: { shape: [1], data_offsets: [0, 4] } }), 4), /dtype is missing/, { tensor: 'a' }],
    ['an unknown dtype', () => craft(JSON.stringify({ a: entry('F31', [2], 0, 8) }), 8), /unknown dtype "F31"/, { tensor: 'a', offset: 8 }],
    ['a dtype of the format that weightport does not convert', () => craft(JSON.stringify({ a: entry('U64', [1], 0, 8) }), 8), /dtype U64 is not supported/, { tensor: 'a' }],
    ['a negative dimension', () => craft(JSON.stringify({ a: entry('F32', [-2], 0, 8) }), 8), /shape \[-2\] is not a list of non-negative integers/, { tensor: 'a' }],
    ['a fractional dimension', () => craft(JSON.stringify({ a: entry('F32', [1.5], 0, 6) }), 6), /not a list of non-negative integers/, { tensor: 'a' }],
    ['malformed data_offsets', () => craft(JSON.stringify({ a: { dtype: 'F32', shape: [2], data_offsets: [0] } }), 8), /data_offsets \[0\] is not a pair/, { tensor: 'a' }],
    ['offsets that end before they begin', () => craft(JSON.stringify({ a: entry('U8', [0], 8, 0) }), 8), /end before they begin/, { tensor: 'a' }],
    ['offsets out of range (past the end of the file)', () => craft(ok({ c: entry('F32', [1], 12, 16) }), 12), /data_offsets \[12, 16\] run past the end of the file/, { tensor: 'c' }],
    ['overlapping tensors', () => craft(JSON.stringify({ a: entry('F32', [2], 0, 8), b: entry('F32', [2], 4, 12) }), 12), /overlaps the previous tensor/, { tensor: 'b' }],
    ['a hole between tensors', () => craft(JSON.stringify({ a: entry('F32', [1], 0, 4), b: entry('F32', [1], 8, 12) }), 12), /leaves a hole: begins at 8, the previous tensor ended at 4/, { tensor: 'b' }],
    ['a hole at the start of the data', () => craft(JSON.stringify({ a: entry('F32', [1], 4, 8) }), 8), /leaves a hole: begins at 4/, { tensor: 'a' }],
    ['trailing bytes after the last tensor', () => craft(ok(), 20), /8 trailing bytes after the last tensor/, { tensor: 'b' }],
    ['a span that does not fit the shape and dtype', () => craft(JSON.stringify({ a: entry('F32', [3], 0, 8) }), 8), /span 8 bytes, F32 \[3\] needs 12/, { tensor: 'a' }],
    ['a shape whose size overflows', () => craft(JSON.stringify({ a: entry('F64', [2 ** 30, 2 ** 30, 2 ** 30], 0, 8) }), 8), /is too large/, { tensor: 'a' }],
    ['__metadata__ with a non-string value', () => craft(JSON.stringify({ __metadata__: { epoch: 3 } }), 0), /__metadata__ must map strings to strings/, {}],
  ])('%s', async (_name, bytes, message, where) => {
    const e = await failure(bytes());
    expect(e.message).toMatch(message);
    if (where.tensor !== undefined) expect(e.tensor).toBe(where.tensor);
    if (where.offset !== undefined) expect(e.offset).toBe(where.offset);
    expect(e.message).toContain(e.tensor === undefined ? 'safetensors: ' : `tensor '${e.tensor}'`);
  });

  it('names the byte offset of a misplaced tensor in the file', async () => {
    const header = JSON.stringify({ a: entry('F32', [1], 0, 4), b: entry('F32', [1], 8, 12) });
    const e = await failure(craft(header, 12));
    expect(e.offset).toBe(8 + enc.encode(header).byteLength + 8);
    expect(e.message).toMatch(new RegExp(`tensor 'b', byte ${e.offset}: `));
  });

  it('accepts empty tensors and an empty header object', async () => {
    for (const bytes of [craft('{}', 0), craft(JSON.stringify({ e: entry('F32', [0, 3], 0, 0), a: entry('U8', [2], 0, 2) }), 2)]) {
      const m = await openSafetensors(file(bytes));
      await m.close();
    }
  });
});

/**
 * Fuzzing: mutated files must either open (and every tensor then reads its exact byte count) or
 * fail with a FormatError; no other exception, no hang, no allocation beyond the file's size.
 */
describe('safetensors reader: fuzz', () => {
  const base = validBytes();
  const headerEnd = 8 + Number(new DataView(base.buffer).getBigUint64(0, true));
  const cases = { total: 0, opened: 0, rejected: 0 };
  let peakArrayBuffers = 0;

  async function check(bytes: Uint8Array): Promise<void> {
    cases.total++;
    const path = join(dir, 'fuzz.safetensors');
    writeFileSync(path, bytes);
    const t = performance.now();
    try {
      const m = await openSafetensors(path);
      try {
        let sum = 0;
        for (const tensor of m.tensors) sum += (await tensor.read()).byteLength;
        expect(m.metadata.dataOffset as number + sum).toBe(bytes.byteLength);
      } finally {
        await m.close();
      }
      cases.opened++;
    } catch (e) {
      if (!(e instanceof FormatError)) throw e;
      cases.rejected++;
    }
    expect(performance.now() - t).toBeLessThan(2000);
    peakArrayBuffers = Math.max(peakArrayBuffers, process.memoryUsage().arrayBuffers);
  }

  const runs = 1500;

  it('truncation at every length fails with a FormatError', async () => {
    for (let n = 0; n < base.byteLength; n++) {
      const before = cases.rejected;
      await check(base.slice(0, n));
      expect(cases.rejected).toBe(before + 1);
    }
  });

  it('bit flips anywhere', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.nat(base.byteLength - 1), fc.nat(7)), { minLength: 1, maxLength: 8 }), async (flips) => {
        const bytes = base.slice();
        for (const [i, bit] of flips) bytes[i] ^= 1 << bit;
        await check(bytes);
      }),
      { numRuns: runs, seed: 1 },
    );
  });

  it('mangled headers (random text spliced into the JSON, length kept or fixed up)', async () => {
    const text = new TextDecoder().decode(base.subarray(8, headerEnd));
    const json = fc.string({ unit: fc.constantFrom(...'{}[]":,0123456789-.eE FIU86BOLdtypeshapdaoffs_metn\\\u00e9\ud83d'.split('')), maxLength: 24 });
    await fc.assert(
      fc.asyncProperty(fc.nat(text.length), fc.nat(12), json, fc.boolean(), fc.nat(64), async (at, cut, insert, fixLength, dataLen) => {
        const header = text.slice(0, at) + insert + text.slice(at + cut);
        const h = enc.encode(header);
        await check(craft(h, dataLen, fixLength ? undefined : BigInt(headerEnd - 8)));
      }),
      { numRuns: runs, seed: 2 },
    );
  });

  it('random bytes, and random lengths in front of a valid header', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 256 }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), async (bytes, length) => {
        await check(bytes);
        const b = base.slice();
        new DataView(b.buffer).setBigUint64(0, length, true);
        await check(b);
      }),
      { numRuns: runs, seed: 3 },
    );
  });

  afterAll(() => {
    console.log(`safetensors fuzz: ${cases.total} cases, ${cases.opened} opened, ${cases.rejected} rejected with FormatError; peak arrayBuffers ${(peakArrayBuffers / 2 ** 20).toFixed(1)} MiB`);
    expect(peakArrayBuffers).toBeLessThan(256 << 20);
  });
});
