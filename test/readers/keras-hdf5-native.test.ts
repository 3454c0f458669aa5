/**
 * The built-in HDF5 reader (src/readers/keras/hdf5-native.ts) against HDF5's own library (h5wasm,
 * the HDF Group's C code): on every Keras fixture (committed, thin in every format, `.keras`
 * archives from memory, the full-size Inception-ResNet-v2 from the cache folder) and on files h5py wrote
 * with every feature the reader decodes (fixtures/hdf5_features.py), both list exactly the same
 * objects (paths, kinds, attributes, members, dataset info) and read byte-identical datasets.
 * Big-endian datasets read the same as little-endian ones through the Keras reader.
 * Files with features it leaves to h5wasm (chunked and compressed datasets, booleans, libver
 * latest, creation order, soft links) fall back and still read right. Corrupt bytes end in an
 * Hdf5Error, never another exception, a hang or a huge allocation (a fast-check fuzz run on the
 * built-in reader alone prints its case count).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { unzipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Hdf5Error, Hdf5Unsupported, openHdf5, shutdownHdf5Workers, type Hdf5File, type Hdf5Source } from '../../src/readers/keras/hdf5.js';
import { openKeras } from '../../src/readers/keras/index.js';
import { COMMITTED, fullFixtures, thinFixtures, type Fixtures } from '../helpers/keras.js';
import { python } from '../helpers/python.js';

let dir: string;
let thin: Fixtures;
let features: { ok: boolean; reason: string; dir: string };
let h5wasm: typeof import('h5wasm') | undefined;
const V4 = join(COMMITTED, 'v4.h5');

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'wp-hdf5-native-'));
  thin = await thinFixtures();
  const py = python('tf');
  features = { ok: py.ok, reason: py.reason, dir: join(dir, 'features') };
  if (py.ok) py.run('fixtures/hdf5_features.py', [features.dir]);
}, 30 * 60_000);
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await shutdownHdf5Workers();
});

/** The weights of a `.keras` archive, as the Keras reader hands them to openHdf5. */
const weightsOf = (keras: string): Uint8Array => unzipSync(readFileSync(keras), { filter: (f) => f.name === 'model.weights.h5' })['model.weights.h5'];

/**
 * Opens a file with both engines; expects the same nodes in the same order and byte-identical
 * datasets. `source` is called once per engine (h5wasm takes over the bytes of a memory source).
 */
async function expectSameAsH5wasm(source: () => Hdf5Source): Promise<{ nodes: number; datasets: number; bytes: number }> {
  const native = await openHdf5(source(), { engine: 'native' });
  const wasm = await openHdf5(source(), { engine: 'h5wasm' });
  try {
    expect([...native.nodes.keys()]).toEqual([...wasm.nodes.keys()]);
    for (const [path, node] of wasm.nodes) if (!isDeepStrictEqual(native.nodes.get(path), node)) expect(native.nodes.get(path), path).toStrictEqual(node);
    let datasets = 0;
    let bytes = 0;
    for (const [path, node] of wasm.nodes) {
      if (node.kind !== 'dataset') continue;
      const [a, b] = await Promise.all([native.read(path, 2 ** 31), wasm.read(path, 2 ** 31)]);
      if (Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) !== 0)
        expect.fail(`${path}: the built-in reader gave other bytes than h5wasm`);
      datasets++;
      bytes += a.byteLength;
    }
    return { nodes: wasm.nodes.size, datasets, bytes };
  } finally {
    await native.close();
    await wasm.close();
  }
}

describe('the built-in HDF5 reader lists and reads exactly what h5wasm does', () => {
  it('the committed thin Inception-v4 (legacy weights-only .h5)', async () => {
    const r = await expectSameAsH5wasm(() => ({ path: V4 }));
    expect(r.datasets).toBeGreaterThan(500);
  }, 120_000);

  it('every thin fixture: legacy weights-only and whole-model .h5, Keras 2, TF-slim names, nested, Keras 3 .weights.h5', async (t) => {
    if (!thin.ok) return t.skip(`no thin fixtures: ${thin.reason}`);
    const files = readdirSync(thin.dir).filter((f) => f.endsWith('.h5'));
    expect(files.length).toBeGreaterThanOrEqual(10);
    for (const f of files) await expectSameAsH5wasm(() => ({ path: join(thin.dir, f) }));
  }, 600_000);

  it('every thin .keras archive (its weights opened from memory)', async (t) => {
    if (!thin.ok) return t.skip(`no thin fixtures: ${thin.reason}`);
    const files = readdirSync(thin.dir).filter((f) => f.endsWith('.keras'));
    expect(files.length).toBeGreaterThanOrEqual(2);
    for (const f of files) {
      const bytes = weightsOf(join(thin.dir, f));
      await expectSameAsH5wasm(() => ({ bytes: bytes.slice(), name: 'model.weights.h5' }));
    }
  }, 600_000);

  // Made here when the cache lacks them (a cold cache ran this file before the one that used them).
  it('full-size Inception-ResNet-v2 (.h5 and .weights.h5, made by Keras into the cache)', async (t) => {
    const full = await fullFixtures();
    if (!full.ok) return t.skip(`no full-size Keras files: ${full.reason}`);
    for (const f of ['irv2_full.h5', 'irv2_full.weights.h5'].map((name) => join(full.dir, name))) {
      const r = await expectSameAsH5wasm(() => ({ path: f }));
      expect(r.datasets).toBe(898);
      expect(r.bytes).toBe(55_873_736 * 4);
    }
  }, 60 * 60_000);

  it('h5py libver latest (superblock v3, object header v2, checksums) and creation-order groups (listed in creation order when indexed)', async (t) => {
    if (!features.ok) return t.skip(`no Python: ${features.reason}`);
    for (const f of ['latest.h5', 'track_order.h5']) await expectSameAsH5wasm(() => ({ path: join(features.dir, f) }));
    const h5 = await openHdf5({ path: join(features.dir, 'track_order.h5') }, { engine: 'native' });
    expect(h5.nodes.get('/')!.children).toEqual(['z', 'a', 'tracked_only']);
    expect(h5.nodes.get('/tracked_only')!.children).toEqual(['b', 'm', 'x']);
    await h5.close();
  }, 60_000);

  it('a dataset that h5wasm added to a Keras file (an object header v2 in a v0 file)', async () => {
    h5wasm ??= (await import('h5wasm/node')) as unknown as typeof import('h5wasm');
    await h5wasm.ready;
    const path = join(dir, 'edited.h5');
    writeFileSync(path, readFileSync(V4));
    const f = new h5wasm.File(path, 'a');
    (f.get('conv2d/conv2d') as InstanceType<typeof h5wasm.Group>).create_dataset({ name: 'added', data: new Float32Array([1, 2, 3, 4, 5, 6]), shape: [2, 3], dtype: '<f' });
    f.close();
    const r = await expectSameAsH5wasm(() => ({ path }));
    expect(r.datasets).toBe(599);
  }, 60_000);

  it('h5py features: every attribute type, compact / empty / scalar / never-written / big-endian datasets, a user block, hard links, a two-level B-tree', async (t) => {
    if (!features.ok) return t.skip(`no Python: ${features.reason}`);
    const file = join(features.dir, 'supported.h5');
    const r = await expectSameAsH5wasm(() => ({ path: file }));
    expect(r.nodes).toBeGreaterThan(300);
    const h5 = await openHdf5({ path: file }, { engine: 'native' });
    try {
      const attrs = h5.nodes.get('/')!.attrs;
      const v = (name: string) => attrs[name].value;
      expect(v('vlen_ascii')).toBe('tensorflow');
      expect(v('vlen_utf8')).toBe('h\u00e9llo \u2713');
      expect(v('vlen_list')).toEqual(['a', 'bb', '']);
      expect(v('fixed_list')).toEqual(['conv2d', 'batch_normalization', 'x']);
      expect(v('fixed_scalar')).toBe('scalar');
      expect(v('fixed_utf8')).toEqual(['\u00e9t\u00e9']);
      expect(v('empty_list')).toEqual(new Float64Array(0));
      expect(v('i64')).toEqual(new BigInt64Array([-(2n ** 40n), 2n ** 40n]));
      expect(v('u64_scalar')).toBe(2n ** 63n);
      expect(v('f64_scalar')).toBe(3.25);
      expect(v('i32_scalar')).toBe(-7);
      expect(v('matrix')).toEqual(new Float32Array([0, 1, 2, 3, 4, 5]));
      expect(v('null')).toBeNull();
      expect(h5.nodes.get('/names')!.children).toEqual(['Beta', 'Zeta', '_under', 'a1', 'a10', 'a2', 'alpha', '\u00e9']);
      expect(h5.nodes.get('/many')!.children).toHaveLength(300);
      const f32 = async (p: string) => Array.from(new Float32Array((await h5.read(p, 1e6)).slice().buffer));
      expect(await f32('/layer/big_endian')).toEqual([0, 1, 2, 3, 4]);
      expect(h5.nodes.get('/layer/big_endian')!.dataset!.littleEndian).toBe(false);
      expect(await f32('/layer/unwritten')).toEqual([0, 0, 0, 0, 0, 0]);
      expect(await f32('/layer/scalar')).toEqual([1.5]);
      expect(h5.nodes.get('/layer/scalar')!.dataset!.shape).toEqual([]);
      expect(Array.from(new Int16Array((await h5.read('/layer/compact', 1e6)).slice().buffer))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      expect(await f32('/layer/kernel:0')).toEqual(Array.from({ length: 24 }, (_, i) => i));
      // one positional read into memory of its own (io/pool), not a view of a cache: overwriting
      // one read changes no other (booleans in expect(): a failure would print a 32 MiB slab)
      const a = await h5.read('/layer/kernel:0', 1e6);
      const b = await h5.read('/layer/kernel:0', 1e6);
      const apart = a.buffer !== b.buffer || a.byteOffset + a.byteLength <= b.byteOffset || b.byteOffset + b.byteLength <= a.byteOffset;
      expect(apart).toBe(true);
      a.fill(0xff);
      expect(b.some((x) => x !== 0xff)).toBe(true);
      await expect(h5.read('/layer/kernel:0', 95)).rejects.toThrow(/exceeds the limit of 95/);
      await expect(h5.read('/layer', 1e6)).rejects.toThrow(Hdf5Error);
    } finally {
      await h5.close();
    }
    await expect(h5.read('/layer/kernel:0', 1e6)).rejects.toThrow(/closed/);
  }, 120_000);
});

describe('big-endian datasets through the Keras reader', () => {
  it('a big-endian copy of the committed v4.h5 gives the same tensors as the original, with either engine', async (t) => {
    const py = python('tf');
    if (!py.ok) return t.skip(`no Python: ${py.reason}`);
    const be = join(dir, 'v4.big-endian.h5');
    py.run('fixtures/hdf5_features.py', ['bigendian', V4, be]);
    const original = await openKeras(V4);
    try {
      for (const engine of ['native', 'h5wasm'] as const) {
        const swapped = await openKeras(be, { engine });
        try {
          expect(swapped.tensors.map((x) => [x.name, x.dtype, x.shape])).toEqual(original.tensors.map((x) => [x.name, x.dtype, x.shape]));
          for (let i = 0; i < original.tensors.length; i++) {
            const [a, b] = await Promise.all([original.tensors[i].read(), swapped.tensors[i].read()]);
            if (Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) !== 0)
              expect.fail(`${engine}: ${original.tensors[i].name} differs in the big-endian copy`);
          }
        } finally {
          await swapped.close();
        }
      }
    } finally {
      await original.close();
    }
  }, 120_000);
});

describe('files outside the built-in subset fall back to h5wasm', () => {
  const cases: [string, RegExp][] = [
    ['chunked.h5', /filter pipeline/],
    ['bool_attr.h5', /datatype class 8/],
    ['dense.h5', /dense link storage/],
    ['softlink.h5', /soft link/],
  ];
  it.each(cases)('%s: the built-in reader says Hdf5Unsupported (%s); openHdf5 reads it with h5wasm', async (name, why, ) => {
    if (!features.ok) return void console.log(`skipped: no Python: ${features.reason}`);
    const file = join(features.dir, name);
    const e = await openHdf5({ path: file }, { engine: 'native' }).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(Hdf5Unsupported);
    expect((e as Error).message).toMatch(why);
    // the default engine opens it all the same, as h5wasm does
    const auto = await openHdf5({ path: file });
    const wasm = await openHdf5({ path: file }, { engine: 'h5wasm' });
    try {
      expect([...auto.nodes.values()]).toStrictEqual([...wasm.nodes.values()]);
      if (name === 'chunked.h5') {
        const data = new Float32Array((await auto.read('/data', 1e6)).slice().buffer);
        expect(Array.from(data)).toEqual(Array.from({ length: 10000 }, (_, i) => i));
        expect(auto.nodes.get('/data')!.dataset!.chunks).toEqual([10, 10]);
        expect(auto.nodes.get('/')!.attrs.name.value).toBe('chunked');
      }
    } finally {
      await auto.close();
      await wasm.close();
    }
  }, 120_000);

  it('a cycle of hard links stops at the nesting limit with an Hdf5Error, as with h5wasm', async (t) => {
    if (!features.ok) return t.skip(`no Python: ${features.reason}`);
    const file = join(features.dir, 'cycle.h5');
    for (const engine of ['native', 'h5wasm'] as const) {
      const e = await openHdf5({ path: file }, { engine }).then(
        () => undefined,
        (x: unknown) => x,
      );
      expect(e).toBeInstanceOf(Hdf5Error);
      expect(e).not.toBeInstanceOf(Hdf5Unsupported);
      expect((e as Error).message).toMatch(/nested deeper than 64 \(or a cycle of links\)/);
    }
  }, 60_000);
});

describe('corrupt bytes: an Hdf5Error from the built-in reader, nothing else', () => {
  const base = new Uint8Array(readFileSync(V4));
  const outcomes = new Map<string, number>();
  let cases = 0;
  afterAll(() => console.log(`built-in HDF5 reader fuzz: ${cases} cases: ${[...outcomes].map(([k, n]) => `${n} ${k}`).join(', ')}`));

  /** Opens the bytes with the built-in reader and reads every dataset; the outcome, or throws an untyped error. */
  async function outcome(bytes: Uint8Array): Promise<string> {
    cases++;
    // the reader is synchronous on bytes in memory: let vitest's own messages through
    await new Promise((resolve) => setImmediate(resolve));
    let result: string;
    let h5: Hdf5File | undefined;
    try {
      h5 = await openHdf5({ bytes, name: 'fuzz.h5' }, { engine: 'native' });
      let failed = 0;
      for (const [path, node] of h5.nodes)
        if (node.kind === 'dataset')
          await h5.read(path, bytes.length).catch((e: unknown) => {
            if (!(e instanceof Hdf5Error)) throw e;
            failed++;
          });
      result = failed ? 'opened, some datasets failed' : 'read fine';
    } catch (e) {
      if (!(e instanceof Hdf5Error)) throw e;
      result = e instanceof Hdf5Unsupported ? 'unsupported (h5wasm would take it)' : 'Hdf5Error';
    } finally {
      await h5?.close();
    }
    outcomes.set(result, (outcomes.get(result) ?? 0) + 1);
    return result;
  }

  const find = (sig: string, from = 0) => Buffer.from(base).indexOf(sig, from);
  const setU64 = (b: Uint8Array, at: number, v: bigint) => new DataView(b.buffer, b.byteOffset).setBigUint64(at, v, true);

  it.each([
    ['no signature', (b: Uint8Array) => void (b[1] = 0), /no HDF5 superblock signature/],
    ['a truncated file', (b: Uint8Array) => b.subarray(0, b.length >> 1), /truncated file/],
    ['a local heap of 2^50 bytes', (b: Uint8Array) => setU64(b, find('HEAP') + 8, 2n ** 50n), /beyond the end of the file|limit/],
    ['a B-tree node with 65535 children', (b: Uint8Array) => void new DataView(b.buffer).setUint16(find('TREE') + 6, 0xffff, true), /more than 2K/],
    ['a broken SNOD signature', (b: Uint8Array) => void (b[find('SNOD')] = 0x78), /SNOD signature/],
    ['a B-tree child pointing to itself', (b: Uint8Array) => setU64(b, find('TREE') + 24 + 8, BigInt(find('TREE'))), /cycle|SNOD signature/],
  ] as [string, (b: Uint8Array) => Uint8Array | void, RegExp][])('%s', async (_, edit, message) => {
    const copy = new Uint8Array(base);
    const bytes = edit(copy) ?? copy;
    const e = await openHdf5({ bytes, name: 'bad.h5' }, { engine: 'native' }).then(
      async (f) => {
        for (const [path, node] of f.nodes) if (node.kind === 'dataset') await f.read(path, bytes.length);
        await f.close();
      },
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(Hdf5Error);
    expect(e).not.toBeInstanceOf(Hdf5Unsupported);
    expect((e as Error).message).toMatch(message);
  });

  it('a global heap collection of 2^40 bytes: the string attributes in it cannot be read (as with h5wasm), the rest opens', async () => {
    const b = new Uint8Array(base);
    setU64(b, find('GCOL') + 8, 2n ** 40n);
    const h5 = await openHdf5({ bytes: b, name: 'bad.h5' }, { engine: 'native' });
    try {
      expect(h5.nodes.get('/')!.attrs.backend).toEqual({ error: expect.stringMatching(/global heap collection of \d+ bytes/) });
      expect(h5.nodes.size).toBe(1392);
      expect((await h5.read('/conv2d/conv2d/kernel', 1e6)).byteLength).toBe(3 * 3 * 3 * 4 * 4);
    } finally {
      await h5.close();
    }
  });

  it('version 2 metadata: a flipped bit fails its checksum', async (t) => {
    if (!features.ok) return t.skip(`no Python: ${features.reason}`);
    const good = new Uint8Array(readFileSync(join(features.dir, 'latest.h5')));
    const ohdr = Buffer.from(good).indexOf('OHDR');
    for (const at of [12, ohdr + 6]) {
      const b = new Uint8Array(good);
      b[at] ^= 4;
      const e = await openHdf5({ bytes: b, name: 'bad.h5' }, { engine: 'native' }).then(
        () => undefined,
        (x: unknown) => x,
      );
      expect(e).toBeInstanceOf(Hdf5Error);
      expect((e as Error).message).toMatch(/wrong checksum/);
    }
  });

  it('bit flips in version 2 metadata (libver latest, creation order)', async (t) => {
    if (!features.ok) return t.skip(`no Python: ${features.reason}`);
    for (const [name, seed] of [['latest.h5', 9], ['track_order.h5', 10]] as const) {
      const good = new Uint8Array(readFileSync(join(features.dir, name)));
      await fc.assert(
        fc.asyncProperty(fc.array(fc.tuple(fc.integer({ min: 0, max: good.length - 1 }), fc.integer({ min: 0, max: 7 })), { minLength: 1, maxLength: 4 }), async (flips) => {
          const b = new Uint8Array(good);
          for (const [at, bit] of flips) b[at] ^= 1 << bit;
          await outcome(b);
        }),
        { numRuns: 250, seed },
      );
    }
  }, 300_000);

  it('every truncation of the first 8 KB and a sample of the rest', async () => {
    for (let len = 0; len < 8192; len += 61) expect(await outcome(base.subarray(0, len))).toBe('Hdf5Error');
    for (let len = 8192; len < base.length; len += 99_991) expect(await outcome(base.subarray(0, len))).toBe('Hdf5Error');
  }, 120_000);

  /** A position: in the first or last 64 KB (superblock, root group, heaps) or anywhere. */
  const position = fc.oneof(fc.integer({ min: 0, max: 65535 }), fc.integer({ min: base.length - 65536, max: base.length - 1 }), fc.integer({ min: 0, max: base.length - 1 }));

  it('bit flips and byte overwrites (fast-check)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(position, fc.integer({ min: 0, max: 7 }), fc.boolean()), { minLength: 1, maxLength: 16 }), async (edits) => {
        const b = new Uint8Array(base);
        for (const [at, bit, byte] of edits) b[at] = byte ? [0, 0xff, 0x80, 0x7f, 1, 0x10, 0x40, 0xfe][bit] : b[at] ^ (1 << bit);
        await outcome(b);
      }),
      { numRuns: 2000, seed: 7 },
    );
  }, 600_000);

  it('edits inside the metadata structures (signatures, versions, counts, addresses)', async () => {
    // the offsets of every metadata structure the reader follows
    const starts: number[] = [];
    for (const sig of ['TREE', 'SNOD', 'HEAP', 'GCOL']) for (let at = find(sig); at >= 0; at = find(sig, at + 1)) starts.push(at);
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...starts), fc.integer({ min: 0, max: 63 }), fc.integer({ min: 0, max: 255 }), async (at, off, value) => {
        const b = new Uint8Array(base);
        if (at + off < b.length) b[at + off] = value;
        await outcome(b);
      }),
      { numRuns: 1000, seed: 8 },
    );
  }, 600_000);
});
