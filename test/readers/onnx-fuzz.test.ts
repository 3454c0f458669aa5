/**
 * Fuzzing the ONNX reader and topology scheme (fast-check): valid files cut short, with flipped
 * bits, with varints and lengths overwritten by huge values, with bytes inserted or removed. Every
 * case must end in success or a typed error (FormatError, SchemeError: exit code 3), never another
 * exception, never a hang, never a large allocation.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bindModel } from '../../src/api.js';
import { WeightportError } from '../../src/errors.js';
import { buildGraph } from '../../src/graphs/index.js';
import { seededModel } from '../../src/graphs/init.js';
import { readAll } from '../../src/model.js';
import { openOnnx } from '../../src/readers/onnx/index.js';
import { onnxWriter } from '../../src/writers/onnx/index.js';
import { tinyModel } from '../helpers/onnx.js';

/** A case may take this long at most (a thin model decodes and binds in well under a second). */
const CASE_MS = 10_000;
/** Memory a case may add (arrayBuffers + heap), far below what a length field could ask for. */
const CASE_BYTES = 256 * 2 ** 20;

let dir: string;
const bases: { name: string; bytes: Uint8Array; path: string }[] = [];
const stats = { cases: 0, ok: 0, formatErrors: 0, schemeErrors: 0, slowestMs: 0 };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'wp-onnx-fuzz-'));
  const tiny = join(dir, 'tiny.onnx');
  writeFileSync(tiny, await tinyModel());
  const thin = join(dir, 'thin.onnx');
  await onnxWriter.write(seededModel(buildGraph('inception_v4', { widthDivisor: 16, aux: true })), thin);
  const ext = join(dir, 'ext.onnx');
  await onnxWriter.write(seededModel(buildGraph('inception_resnet_v2', { widthDivisor: 16 })), ext, { externalData: true, foldBn: true });
  for (const [name, path] of [['tiny', tiny], ['thin Inception-v4', thin], ['thin IRv2, external data', ext]] as const)
    bases.push({ name, path, bytes: new Uint8Array(readFileSync(path)) }); // a copy: Buffer.slice would share
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  console.log(
    `onnx fuzz: ${stats.cases} cases, ${stats.ok} read and bound, ${stats.formatErrors} FormatError, ${stats.schemeErrors} SchemeError, slowest ${stats.slowestMs.toFixed(0)} ms`,
  );
});

/** Opens, reads every tensor, binds; returns how it ended. Anything but a WeightportError throws. */
async function exercise(bytes: Uint8Array, base: string): Promise<void> {
  // the external data file sits beside the original: keep the mutated model in the same folder
  const path = join(dir, `case.onnx`);
  writeFileSync(path, bytes);
  if (base.endsWith('ext.onnx')) writeFileSync(`${path}.data`, readFileSync(`${base}.data`));
  const t0 = performance.now();
  const m0 = process.memoryUsage();
  stats.cases++;
  try {
    const src = await openOnnx(path);
    try {
      for (const t of src.tensors) await t.read();
      const { model } = bindModel(src, { aux: true });
      await readAll(model);
      stats.ok++;
    } finally {
      await src.close();
    }
  } catch (e) {
    if (!(e instanceof WeightportError)) throw e;
    expect(e.code).toBe(3);
    if (e.name === 'SchemeError') stats.schemeErrors++;
    else stats.formatErrors++;
  }
  const ms = performance.now() - t0;
  stats.slowestMs = Math.max(stats.slowestMs, ms);
  expect(ms).toBeLessThan(CASE_MS);
  const m1 = process.memoryUsage();
  expect(m1.arrayBuffers - m0.arrayBuffers + (m1.heapUsed - m0.heapUsed)).toBeLessThan(CASE_BYTES);
}

/**
 * A position in the file: fast-check's integers lean towards the bounds (the framing near the
 * start); three in four spread evenly over the file, most of which is tensor data.
 */
const position = (max: number) => fc.oneof({ arbitrary: fc.integer({ min: 0, max }), weight: 1 }, { arbitrary: fc.noBias(fc.integer({ min: 0, max })), weight: 3 });

/** Mutations of a valid file. */
const mutation = (size: number) =>
  fc.oneof(
    fc.record({ kind: fc.constant('truncate' as const), at: position(size - 1) }),
    fc.record({ kind: fc.constant('flip' as const), bits: fc.array(position(size * 8 - 1), { minLength: 1, maxLength: 8 }) }),
    // a varint or length overwritten with a huge value (5-10 continuation bytes)
    fc.record({ kind: fc.constant('varint' as const), at: position(size - 1), len: fc.integer({ min: 1, max: 10 }) }),
    fc.record({ kind: fc.constant('insert' as const), at: position(size), byte: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant('delete' as const), at: position(size - 1), count: fc.integer({ min: 1, max: 16 }) }),
    fc.record({ kind: fc.constant('random' as const), at: position(size - 1), bytes: fc.uint8Array({ minLength: 1, maxLength: 32 }) }),
  );

type Mutation =
  | { kind: 'truncate'; at: number }
  | { kind: 'flip'; bits: number[] }
  | { kind: 'varint'; at: number; len: number }
  | { kind: 'insert'; at: number; byte: number }
  | { kind: 'delete'; at: number; count: number }
  | { kind: 'random'; at: number; bytes: Uint8Array };

function apply(src: Uint8Array, m: Mutation): Uint8Array {
  switch (m.kind) {
    case 'truncate':
      return src.slice(0, m.at);
    case 'flip': {
      const out = src.slice();
      for (const b of m.bits) out[b >> 3] ^= 1 << (b & 7);
      return out;
    }
    case 'varint': {
      const out = src.slice();
      for (let i = 0; i < m.len && m.at + i < out.length; i++) out[m.at + i] = i === m.len - 1 ? 0x0f : 0xff;
      return out;
    }
    case 'insert':
      return Uint8Array.from([...src.subarray(0, m.at), m.byte, ...src.subarray(m.at)]);
    case 'delete':
      return Uint8Array.from([...src.subarray(0, m.at), ...src.subarray(m.at + m.count)]);
    case 'random': {
      const out = src.slice();
      out.set(m.bytes.subarray(0, out.length - m.at), m.at);
      return out;
    }
  }
}

describe('onnx reader fuzz: typed errors only, no hang, no huge allocation', () => {
  it('the unmodified bases read and bind', async () => {
    for (const b of bases) await exercise(b.bytes, b.path);
    expect(stats.ok).toBe(3 - 1); // the tiny model is not an Inception: SchemeError
  });

  it('tiny model: every mutation', async () => {
    const b = bases[0];
    await fc.assert(fc.asyncProperty(mutation(b.bytes.length), async (m) => exercise(apply(b.bytes, m as Mutation), b.path)), { numRuns: 1500 });
  }, 600_000);

  it('thin Inception-v4 (inline weights, aux head): every mutation', async () => {
    const b = bases[1];
    await fc.assert(fc.asyncProperty(mutation(b.bytes.length), async (m) => exercise(apply(b.bytes, m as Mutation), b.path)), { numRuns: 200 });
  }, 900_000);

  it('thin Inception-ResNet-v2 with external data: mutations of the model file (offsets, lengths, locations)', async () => {
    const b = bases[2];
    await fc.assert(fc.asyncProperty(mutation(b.bytes.length), async (m) => exercise(apply(b.bytes, m as Mutation), b.path)), { numRuns: 300 });
  }, 900_000);

  it('truncation at every 1/64 of each file', async () => {
    for (const b of bases) for (let k = 0; k < 64; k++) await exercise(b.bytes.subarray(0, Math.floor((b.bytes.length * k) / 64)), b.path);
  }, 600_000);
});
