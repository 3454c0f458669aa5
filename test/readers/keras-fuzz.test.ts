/**
 * Fuzzing the Keras reader (fast-check) on the thin fixtures: truncations, bit flips (biased to
 * the HDF5 metadata near the start and the end), mangled attributes (layer_names, weight_names,
 * chunked attributes) and mangled datasets (shapes and dtypes), written with h5wasm. Every case
 * must end, within the reader's time limit, in success or a WeightportError: no crash, no hang, no
 * untyped error, even when h5wasm aborts (its worker is replaced). The number of cases run and
 * their outcomes are printed.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bindModel } from '../../src/api.js';
import { WeightportError } from '../../src/errors.js';
import { openKeras } from '../../src/readers/keras/index.js';
import { shutdownHdf5Workers } from '../../src/readers/keras/hdf5.js';
import { COMMITTED, thinFixtures } from '../helpers/keras.js';

/** Per HDF5 call; a case that hangs fails with a typed time-out instead. */
const TIMEOUT_MS = 20_000;
const outcomes = new Map<string, number>();
let cases = 0;
let dir: string;
let base: Uint8Array;
let keras: Uint8Array | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'wp-keras-fuzz-'));
  base = new Uint8Array(readFileSync(join(COMMITTED, 'v4.h5')));
  const thin = await thinFixtures();
  if (thin.ok) keras = new Uint8Array(readFileSync(join(thin.dir, 'v4.keras')));
}, 30 * 60_000);
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await shutdownHdf5Workers();
  console.log(`Keras fuzz: ${cases} cases: ${[...outcomes].map(([k, n]) => `${n} ${k}`).join(', ')}`);
});

/** Opens, binds and reads every parameter; returns the outcome, or rethrows an untyped error. */
async function outcome(path: string, verify = true): Promise<string> {
  cases++;
  let result: string;
  try {
    const src = await openKeras(path, { timeoutMs: TIMEOUT_MS, verify });
    try {
      const { model } = bindModel(src);
      for (const p of model.params) await p.read();
      result = 'read fine';
    } finally {
      await src.close();
    }
  } catch (e) {
    if (!(e instanceof WeightportError)) throw e;
    result = e.name;
  }
  outcomes.set(result, (outcomes.get(result) ?? 0) + 1);
  return result;
}

let n = 0;
const write = (bytes: Uint8Array, ext = '.h5') => {
  const path = join(dir, `case${n++}${ext}`);
  writeFileSync(path, bytes);
  return path;
};

/** A position: in the first or last 64 KB (superblock, root group, heaps) or anywhere. */
const position = (size: number) =>
  fc.oneof(fc.integer({ min: 0, max: Math.min(size, 65536) - 1 }), fc.integer({ min: Math.max(0, size - 65536), max: size - 1 }), fc.integer({ min: 0, max: size - 1 }));

describe('fuzz: no crash, hang or untyped error', () => {
  it('truncation', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.integer({ min: 0, max: 4096 }), fc.integer({ min: 0, max: base.length - 1 })), async (len) => {
        await outcome(write(base.subarray(0, len)));
      }),
      { numRuns: 30, seed: 1 },
    );
  }, 600_000);

  it('bit flips', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(position(base.length), fc.integer({ min: 0, max: 7 })), { minLength: 1, maxLength: 12 }), async (flips) => {
        const b = new Uint8Array(base);
        for (const [at, bit] of flips) b[at] ^= 1 << bit;
        await outcome(write(b));
      }),
      { numRuns: 120, seed: 2 },
    );
  }, 900_000);

  it('bit flips in a .keras archive (zip and in-memory HDF5)', async () => {
    if (!keras) return void console.log('skipped: no thin .keras fixture (Python unavailable)');
    const k = keras;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(position(k.length), fc.integer({ min: 0, max: 7 })), { minLength: 1, maxLength: 8 }), async (flips) => {
        const b = new Uint8Array(k);
        for (const [at, bit] of flips) b[at] ^= 1 << bit;
        // without the CRC check, so that the flips reach the zip directory and the in-memory HDF5
        await outcome(write(b, '.keras'), false);
      }),
      { numRuns: 30, seed: 3 },
    );
  }, 900_000);

  type H5 = typeof import('h5wasm');
  let h5: H5;
  /** Edits a copy of v4.h5 with h5wasm (in this process: only valid files are edited). */
  async function edit(change: (f: InstanceType<H5['File']>) => void): Promise<string> {
    h5 ??= (await import('h5wasm/node')) as unknown as H5;
    await h5.ready;
    const path = join(dir, `case${n++}.h5`);
    copyFileSync(join(COMMITTED, 'v4.h5'), path);
    const f = new h5.File(path, 'a');
    try {
      change(f);
    } finally {
      f.close();
    }
    return path;
  }
  const group = (f: InstanceType<H5['File']>, p: string) => f.get(p) as InstanceType<H5['Group']>;
  const layerNames = () => (JSON.parse(readFileSync(join(COMMITTED, 'layers.json'), 'utf8')) as Record<string, [string, string, number[][]][]>).inception_v4.map((l) => l[0]);
  const weighted = ['conv2d', 'batch_normalization_7', 'conv2d_40', 'predictions', 'batch_normalization_100'];

  it('mangled attributes (layer_names, weight_names, chunks)', async () => {
    const names = layerNames();
    const junk = fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('', '/', '..', 'conv2d/conv2d', 'predictions', 'top_level_model_weights', 'x'.repeat(300)));
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('layer_names'), keep: fc.array(fc.boolean(), { minLength: names.length, maxLength: names.length }), add: fc.array(junk, { maxLength: 3 }) }),
      fc.record({ kind: fc.constant('weight_names'), layer: fc.constantFrom(...weighted), names: fc.array(junk, { maxLength: 4 }) }),
      fc.record({ kind: fc.constant('chunks'), parts: fc.integer({ min: 1, max: 4 }), gap: fc.boolean() }),
      fc.record({ kind: fc.constant('numbers'), layer: fc.constantFrom('/', ...weighted) }),
    );
    await fc.assert(
      fc.asyncProperty(mutation, async (m) => {
        const path = await edit((f) => {
          if (m.kind === 'layer_names') {
            f.delete_attribute('layer_names');
            f.create_attribute('layer_names', [...names.filter((_, i) => m.keep[i]), ...m.add].length ? [...names.filter((_, i) => m.keep[i]), ...m.add] : ['']);
          } else if (m.kind === 'weight_names') {
            group(f, m.layer).delete_attribute('weight_names');
            group(f, m.layer).create_attribute('weight_names', m.names.length ? m.names : ['']);
          } else if (m.kind === 'chunks') {
            // Keras' chunking, possibly with a missing chunk
            f.delete_attribute('layer_names');
            const size = Math.ceil(names.length / m.parts);
            for (let k = 0; k < m.parts; k++) if (!(m.gap && k === 1)) f.create_attribute(`layer_names${k}`, names.slice(k * size, (k + 1) * size));
          } else {
            const g = m.layer === '/' ? f : group(f, m.layer);
            const attr = m.layer === '/' ? 'layer_names' : 'weight_names';
            g.delete_attribute(attr);
            g.create_attribute(attr, new Float64Array([1, 2, 3]));
          }
        });
        await outcome(path);
      }),
      { numRuns: 40, seed: 4 },
    );
  }, 900_000);

  it('mangled datasets (shapes and dtypes)', async () => {
    const mutation = fc.record({
      layer: fc.constantFrom(...weighted),
      shape: fc.array(fc.integer({ min: 0, max: 9 }), { maxLength: 5 }),
      dtype: fc.constantFrom('<f', '<d', '<i', '<B', '<h'), // h5wasm writes no big-endian
    });
    await fc.assert(
      fc.asyncProperty(mutation, async (m) => {
        const path = await edit((f) => {
          const size = m.shape.reduce((a, b) => a * b, 1);
          const data = m.dtype === '<d' ? new Float64Array(size) : m.dtype === '<i' ? new Int32Array(size) : m.dtype === '<B' ? new Uint8Array(size) : m.dtype === '<h' ? new Int16Array(size) : new Float32Array(size).fill(0.5);
          const g = group(f, `${m.layer}/${m.layer}`);
          g.create_dataset({ name: 'fuzzed', data, shape: m.shape, dtype: m.dtype });
          const names = group(f, m.layer).attrs.weight_names.value as string[];
          group(f, m.layer).delete_attribute('weight_names');
          group(f, m.layer).create_attribute('weight_names', [`${m.layer}/fuzzed`, ...names.slice(1)]);
        });
        await outcome(path);
      }),
      { numRuns: 30, seed: 5 },
    );
  }, 900_000);

  it('after all that, a good file still reads (a fresh worker replaces any aborted one)', async () => {
    expect(await outcome(join(COMMITTED, 'v4.h5'))).toBe('read fine');
  });
});
