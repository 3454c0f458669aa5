import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { convert, writeModel } from '../../src/api.js';
import { buildGraph } from '../../src/graphs/index.js';
import { seededModel } from '../../src/graphs/init.js';
import { arenaLentBytes, arenaMemory, giveBack, lendPrefix, takeBuffer, takeFloats } from '../../src/io/pool.js';
import { cacheDir } from '../helpers/python.js';

const work = mkdtempSync(join(tmpdir(), 'wp-pool-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('io/pool', () => {
  // (booleans, not buffers, in expect(): a failure would print 32 MiB slabs)
  const same = (x: ArrayBufferView, y: ArrayBufferView) => x.buffer === y.buffer && x.byteOffset === y.byteOffset;

  const arena = () => arenaMemory()!.buffer;
  /** Takes all of the arena that is free (in 16 MiB and smaller requests), for the slab tests; returns what to give back. */
  const fillArena = () => {
    const taken: Uint8Array[] = [];
    for (let size = 16 << 20; size >= 64; ) {
      const x = takeBuffer(size);
      if (x.buffer === arena()) taken.push(x);
      else {
        giveBack(x);
        size >>= 1;
      }
    }
    return taken;
  };

  it('arena: the lowest free 64-byte aligned place of one WebAssembly memory, used again once given back; anything else ignored', () => {
    const a = takeBuffer(1000);
    expect(a.byteLength).toBe(1000);
    expect(a.buffer === arena() && a.byteOffset === 0).toBe(true); // nothing else lent: the start
    giveBack(a);
    const b = takeBuffer(1000);
    expect(same(a, b)).toBe(true);
    const c = takeBuffer(3000);
    expect(c.buffer === arena() && c.byteOffset === 1024).toBe(true); // right after b, aligned
    giveBack(b);
    giveBack(b); // twice: once
    giveBack(c.subarray(8)); // a part of it: ignored
    giveBack(new Uint8Array(2000)); // not lent: ignored
    const d = takeBuffer(2000);
    expect(d.byteOffset).toBe(1024 + 3008); // b's place is too small for it: after c
    const e = takeBuffer(1000);
    expect(same(e, b)).toBe(true); // b's place fits this one
    giveBack(new Float32Array(c.buffer, c.byteOffset, 750)); // the same memory as floats: taken back
    expect(same(takeBuffer(3000), c)).toBe(true);
    for (const x of [c, d, e]) giveBack(x);
    const f = takeBuffer(5000);
    expect(f.byteOffset).toBe(0); // all back
    giveBack(f);
  });

  it('arena full: slabs, used again once all their views came back; large requests get buffers of their own, reused by size', () => {
    const held = fillArena();
    expect(held.reduce((n, x) => n + x.byteLength, 0)).toBe(64 << 20);
    const first = Array.from({ length: 40 }, () => takeBuffer(1 << 20)); // more than one 32 MiB slab
    expect(first.some((x) => x.buffer === arena())).toBe(false);
    expect(new Set(first.map((x) => x.buffer)).size).toBeGreaterThan(1);
    for (const x of first) giveBack(x);
    const again = Array.from({ length: 40 }, () => takeBuffer(1 << 20));
    const slabsBefore = new Set(first.map((x) => x.buffer));
    expect(again.every((x) => slabsBefore.has(x.buffer))).toBe(true);
    for (const x of again) giveBack(x);

    const big = takeBuffer(9 << 20);
    expect(big.byteOffset === 0 && big.buffer.byteLength === 9 << 20).toBe(true);
    giveBack(big);
    const big2 = takeBuffer(9 << 20);
    expect(same(big, big2)).toBe(true);
    expect(same(takeBuffer(9 << 20), big2)).toBe(false); // big2 still holds it
    const floats = takeFloats(10);
    expect(floats.length === 10 && floats.byteOffset % 64 === 0 && floats.buffer !== arena()).toBe(true);
    held.forEach(giveBack);
    const huge = takeBuffer((16 << 20) + 1); // more than the arena serves at once
    expect(huge.buffer !== arena() && huge.byteOffset === 0).toBe(true);
    const room = takeBuffer(16 << 20);
    expect(room.buffer === arena()).toBe(true); // the arena has room again
    giveBack(room);
  });

  it('lendPrefix: a buffer lent from then on as its first bytes, which giveBack takes (arena, slab views, own buffers); anything else refused', () => {
    // arena: the rest of the place is free again
    const a0 = takeBuffer(64);
    const a = takeBuffer(5000);
    const after = takeBuffer(64);
    const pa = lendPrefix(a, 100)!;
    expect(pa.buffer === arena() && pa.byteOffset === a.byteOffset && pa.byteLength === 100).toBe(true);
    giveBack(a); // the old, longer view: no longer what is lent, ignored
    const inGap = takeBuffer(1000);
    expect(inGap.byteOffset).toBe(a.byteOffset + 128);
    giveBack(pa);
    expect(same(takeBuffer(100), a)).toBe(true);
    for (const x of [a0, after, inGap]) giveBack(x);

    const held = fillArena();
    let x = takeBuffer(8 << 20);
    while (x.byteOffset !== 0) x = takeBuffer(8 << 20); // the start of a slab (the views before stay lent)
    const s = takeBuffer(5000);
    const p = lendPrefix(s, 4000)!;
    expect(p.buffer === s.buffer && p.byteOffset === s.byteOffset && p.byteLength === 4000).toBe(true);
    giveBack(x);
    giveBack(s); // the old, longer view: ignored
    const y = takeBuffer(100);
    expect(y.buffer === x.buffer && y.byteOffset > s.byteOffset).toBe(true); // p is still lent: the slab goes on
    giveBack(y);
    giveBack(p);
    expect(same(takeBuffer(100), x)).toBe(true); // every view back: used again from its start

    const big = takeBuffer((9 << 20) + 5);
    const bigPrefix = lendPrefix(big, 9 << 20)!;
    expect(bigPrefix.byteLength).toBe(9 << 20);
    giveBack(big);
    expect(same(takeBuffer((9 << 20) + 5), big)).toBe(false);
    giveBack(bigPrefix);
    expect(same(takeBuffer((9 << 20) + 5), big)).toBe(true); // kept by its buffer's size
    held.forEach(giveBack);

    expect(lendPrefix(new Uint8Array(100), 50)).toBeUndefined(); // not lent by the pool
    const c = takeBuffer(100);
    expect(c.buffer === arena()).toBe(true);
    expect(lendPrefix(c.subarray(10), 50)).toBeUndefined(); // not the view lent
    expect(lendPrefix(c, 101)).toBeUndefined(); // longer than it
    giveBack(c);
  });

  it('conversions that reuse buffers give the same bytes every time, in one process', async () => {
    const src = join(work, 'src.safetensors');
    await writeModel(seededModel(buildGraph('inception_resnet_v2', { widthDivisor: 16 }), { seed: 9 }), src, { to: 'safetensors' });
    const outputs = (tag: string) => ({ onnx: join(work, `${tag}.onnx`), slim: join(work, `${tag}.slim.safetensors`), tfjs: join(work, `${tag}.tfjs`) });
    for (const tag of ['a', 'b']) {
      const o = outputs(tag);
      await convert(src, o.onnx, { to: 'onnx' });
      await convert(src, o.slim, { to: 'safetensors', naming: 'slim' });
      await convert(src, o.tfjs, { to: 'tfjs' });
      // and back: the slim file (HWIO) read with layout changes in place, written again
      await convert(o.slim, join(work, `${tag}.back.safetensors`), { to: 'safetensors' });
    }
    const a = outputs('a');
    const b = outputs('b');
    expect(readFileSync(b.onnx).equals(readFileSync(a.onnx))).toBe(true);
    expect(readFileSync(b.slim).equals(readFileSync(a.slim))).toBe(true);
    expect(readFileSync(join(b.tfjs, 'group1-shard1of1.bin')).equals(readFileSync(join(a.tfjs, 'group1-shard1of1.bin')))).toBe(true);
    // The round trip through the slim layout gives back the source's tensor bytes.
    const data = (f: string) => {
      const bytes = readFileSync(f);
      const n = Number(bytes.readBigUInt64LE(0));
      return { header: JSON.parse(bytes.subarray(8, 8 + n).toString()), data: bytes.subarray(8 + n) };
    };
    const orig = data(src);
    const back = data(join(work, 'b.back.safetensors'));
    for (const [name, entry] of Object.entries(orig.header)) {
      if (name === '__metadata__') continue;
      const [s, e] = (entry as { data_offsets: [number, number] }).data_offsets;
      const [s2, e2] = (back.header[name] as { data_offsets: [number, number] }).data_offsets;
      expect(back.data.subarray(s2, e2).equals(orig.data.subarray(s, e)), name).toBe(true);
    }
  });

  it('conversions give back every place of the arena they take (float32 and float16 sources, layout changes, every writer)', async () => {
    const graph = buildGraph('inception_resnet_v2', { widthDivisor: 16 });
    const f32 = join(work, 'leak32.safetensors');
    const f16 = join(work, 'leak16.safetensors');
    await writeModel(seededModel(graph, { seed: 4 }), f32, { to: 'safetensors' });
    await writeModel(seededModel(graph, { seed: 4 }), f16, { to: 'safetensors', dtype: 'float16' });
    const before = arenaLentBytes();
    for (const src of [f32, f16]) {
      const slim = join(work, `leak-${basename(src)}.slim.safetensors`);
      await convert(src, slim, { to: 'safetensors', naming: 'slim', force: true }); // OIHW -> HWIO
      await convert(slim, join(work, 'leak.onnx'), { to: 'onnx', force: true }); // HWIO -> OIHW
      await convert(slim, join(work, 'leak.tfjs'), { to: 'tfjs', force: true });
      await convert(src, join(work, 'leak16.onnx'), { to: 'onnx', dtype: 'float16', force: true });
      expect(arenaLentBytes(), src).toBe(before);
    }
    // the readers of the committed fixtures: Keras (HDF5), TF V1 (SSTable blocks, some taken as
    // tensors' memory), TF V2 with partitioned variables (slices copied into one array)
    const fixture = (p: string) => new URL(`../../fixtures/${p}`, import.meta.url).pathname;
    for (const src of [fixture('keras/v4.h5'), fixture('tf/inception_resnet_v2_d16/v1/model.ckpt'), fixture('tf/inception_v4_d16/v2_sharded/model.ckpt')]) {
      await convert(src, join(work, 'leak-fixture.onnx'), { to: 'onnx', force: true });
      await convert(src, join(work, 'leak-fixture.safetensors'), { to: 'safetensors', naming: 'slim', force: true });
      expect(arenaLentBytes(), src).toBe(before);
    }
    // through the transforms: classes and softmax (api), folded batch norm (ONNX), gamma folded
    // into the variance (a naming without gamma): what they read is still given back
    const v1 = fixture('tf/inception_resnet_v2_d16/v1/model.ckpt'); // 1001 classes, gamma stored
    await convert(v1, join(work, 'leak-t.onnx'), { to: 'onnx', classes: 1000, softmax: true, foldBn: true, force: true });
    expect(arenaLentBytes(), 'classes + softmax + foldBn').toBe(before);
    await convert(v1, join(work, 'leak-t.safetensors'), { to: 'safetensors', naming: 'keras', force: true });
    expect(arenaLentBytes(), 'unit gamma').toBe(before);
  });

  it('full size: buffers are reused (read-ahead is 16 MB of 214) and every byte survives a round trip through HWIO', async () => {
    const src = join(cacheDir('pool'), 'seeded_irv2.safetensors');
    if (!existsSync(src)) await writeModel(seededModel(buildGraph('inception_resnet_v2'), { seed: 2 }), src, { to: 'safetensors' });
    const slim = join(work, 'full.slim.safetensors');
    const back = join(work, 'full.back.safetensors');
    await convert(src, slim, { to: 'safetensors', naming: 'slim' }); // OIHW -> HWIO in the arrays read
    await convert(slim, back, { to: 'safetensors' }); // HWIO -> OIHW in the arrays read
    const tensors = (f: string) => {
      const bytes = readFileSync(f);
      const n = Number(bytes.readBigUInt64LE(0));
      const header = JSON.parse(bytes.subarray(8, 8 + n).toString()) as Record<string, { data_offsets: [number, number] }>;
      delete header.__metadata__;
      return { header, data: bytes.subarray(8 + n) };
    };
    const a = tensors(src);
    const b = tensors(back);
    expect(Object.keys(b.header).sort()).toEqual(Object.keys(a.header).sort());
    const differ = Object.keys(a.header).filter((name) => {
      const [s, e] = a.header[name].data_offsets;
      const [s2, e2] = b.header[name].data_offsets;
      return !b.data.subarray(s2, e2).equals(a.data.subarray(s, e));
    });
    expect(differ).toEqual([]);
  }, 120_000);

  it('full size, weights held in memory: laid out in pooled arrays, every value written as held', async () => {
    const { createModel, readAll } = await import('../../src/model.js');
    const { bindModel, readModel } = await import('../../src/api.js');
    const seeded = seededModel(buildGraph('inception_resnet_v2'), { seed: 3 });
    const values = await readAll(seeded);
    const held = createModel(seeded.graph, values, seeded.provenance); // not the writer's to overwrite
    const out = join(work, 'held.slim.safetensors');
    await writeModel(held, out, { to: 'safetensors', naming: 'slim', force: true }); // HWIO into pooled arrays
    const source = await readModel(out);
    try {
      const back = await readAll(bindModel(source).model);
      const differ = [...values].filter(([name, v]) => !Buffer.from(back.get(name)!.buffer, back.get(name)!.byteOffset, v.byteLength).equals(Buffer.from(v.buffer, v.byteOffset, v.byteLength)));
      expect(differ.map(([n]) => n)).toEqual([]);
    } finally {
      await source.close();
    }
  }, 120_000);
});
