import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openSink, readAhead } from '../../src/io/stream.js';

const work = mkdtempSync(join(tmpdir(), 'wp-stream-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('readAhead', () => {
  it('yields in order while later tasks run, within the bytes in flight', async () => {
    let running = 0;
    let most = 0;
    const tasks = Array.from({ length: 12 }, (_, i) => async () => {
      most = Math.max(most, ++running);
      await delay(12 - i); // later tasks finish first: order must still hold
      running--;
      return i;
    });
    const got: number[] = [];
    for await (const v of readAhead(tasks, tasks.map(() => 10), 30)) got.push(v);
    expect(got).toEqual([...Array(12).keys()]);
    expect(most).toBe(3); // 30 bytes of 10-byte tasks
  });

  it('always runs one task, even one larger than the limit', async () => {
    const got: string[] = [];
    for await (const v of readAhead([async () => 'big', async () => 'next'], [100, 100], 10)) got.push(v);
    expect(got).toEqual(['big', 'next']);
  });

  it('throws a failed task at its turn, after the ones before it, without an unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      const tasks = [async () => { await delay(20); return 0; }, async () => { throw new Error('bad tensor'); }, async () => 2];
      const got: number[] = [];
      await expect(async () => {
        for await (const v of readAhead(tasks, [1, 1, 1])) got.push(v);
      }).rejects.toThrow('bad tensor');
      expect(got).toEqual([0]);
      await delay(10);
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});

describe('openSink', () => {
  it('writes the pieces in order, pads, and overwrites a header written first', async () => {
    const path = join(work, 'sink.bin');
    const sink = await openSink(path);
    await sink.put(new Uint8Array([1, 2, 3]));
    await sink.padTo(8);
    const big = new Uint8Array(9 << 20).fill(7); // over one batch: written behind
    await sink.put(big);
    await sink.put(new Uint8Array([9]));
    expect(sink.position).toBe(8 + big.length + 1);
    expect(await sink.flush()).toBe(8 + big.length + 1);
    await sink.overwrite(new Uint8Array([4, 5]), 1);
    await expect(sink.overwrite(new Uint8Array(4), 8 + big.length)).rejects.toThrow(/past the end/);
    await expect(sink.padTo(3)).rejects.toThrow(/pad back/);
    await sink.close();
    await sink.close();
    const bytes = readFileSync(path);
    expect(bytes.length).toBe(8 + big.length + 1);
    expect([...bytes.subarray(0, 8)]).toEqual([1, 4, 5, 0, 0, 0, 0, 0]);
    expect(bytes[8]).toBe(7);
    expect(bytes[8 + big.length - 1]).toBe(7);
    expect(bytes.at(-1)).toBe(9);
  });

  it('runs a piece\'s written callback only once its bytes are on disk', async () => {
    const path = join(work, 'callbacks.bin');
    const sink = await openSink(path);
    const calls: string[] = [];
    await sink.put(new Uint8Array(16).fill(1), () => calls.push('small'));
    expect(calls).toEqual([]); // still gathered, not written
    await sink.put(new Uint8Array(9 << 20).fill(2), () => calls.push(`big: ${readFileSync(path).length} bytes on disk`));
    await sink.flush();
    expect(calls).toEqual(['small', `big: ${16 + (9 << 20)} bytes on disk`]);
    await sink.close();
  });
});

describe('openSink, write calls', () => {
  it('writes batches larger than one write call (1 MiB each) byte for byte, whatever the pieces straddle', async () => {
    const sizes = [(3 << 20) + 5, 17, 1 << 20, (2 << 20) - 3, 0, 9 << 20, 1];
    let seed = 7;
    const pieces = sizes.map((n) => Uint8Array.from({ length: n }, () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24));
    const path = join(work, 'calls.bin');
    const sink = await openSink(path);
    for (const p of pieces) await sink.put(p);
    await sink.close();
    const back = readFileSync(path);
    const want = Buffer.concat(pieces);
    expect(back.length).toBe(want.length);
    expect(back.equals(want)).toBe(true); // (a boolean: a failure would print megabytes)
  });
});
