import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { checkCrc32c, offerChecksWorker, startBackgroundChecks } from '../../src/io/background.js';
import { startBlankWorker } from '../../src/io/worker-start.js';
import { crc32c, maskCrc } from '../../src/io/crc32c.js';

const work = mkdtempSync(join(tmpdir(), 'wp-background-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

// 9 MiB + 5: several of the worker's 4 MiB reads, and a ragged end
const bytes = new Uint8Array((9 << 20) + 5).map((_, i) => (i * 31 + (i >> 9)) & 255);
const path = join(work, 'f.bin');
writeFileSync(path, bytes);

describe('background checks', () => {
  it.each([true, false])('SHA-256 of the whole file, and CRC-32C of ranges (across read chunks, unaligned), as computed here (WebAssembly CRC: %s)', async (wasm) => {
    const checks = startBackgroundChecks({ wasm });
    try {
      const ranges = [[0, 0], [0, 9], [3, 1000], [(4 << 20) - 7, 20], [1, bytes.length - 1], [bytes.length - 5, 5]];
      const [digest, ...crcs] = await Promise.all([checks.sha256(path), ...ranges.map(([o, n]) => checks.crc32c(path, o, n))]);
      expect(digest).toBe(createHash('sha256').update(bytes).digest('hex'));
      expect(checks.sha256(path) === checks.sha256(path)).toBe(true); // asked again: the same pass
      expect(crcs).toEqual(ranges.map(([o, n]) => crc32c(bytes.subarray(o, o + n))));
      await checks.settle();
    } finally {
      await checks.stop();
    }
  });

  it('a worker started ahead (the launcher\'s) is the one used; one that has ended is replaced', async () => {
    const blank = startBlankWorker();
    offerChecksWorker(blank);
    const checks = startBackgroundChecks();
    try {
      const digest = await checks.sha256(path);
      expect(digest).toBe(createHash('sha256').update(bytes).digest('hex'));
      expect(blank.alive).toBe(true);
    } finally {
      await checks.stop();
    }
    expect(blank.alive).toBe(false); // stop() ended that very thread

    const ended = startBlankWorker();
    await ended.worker.terminate();
    offerChecksWorker(ended);
    const fresh = startBackgroundChecks();
    try {
      expect(await fresh.crc32c(path, 3, 1000)).toBe(crc32c(bytes.subarray(3, 1003)));
    } finally {
      await fresh.stop();
    }
  });

  it('a worker started ahead says when it has started (the launcher then sets V8\'s flags), or has ended', async () => {
    const blank = startBlankWorker();
    await blank.started;
    expect(blank.alive).toBe(true);
    offerChecksWorker(blank);
    const checks = startBackgroundChecks(); // its first message, already sent, is not taken for a result
    try {
      expect(await checks.sha256(path)).toBe(createHash('sha256').update(bytes).digest('hex'));
    } finally {
      await checks.stop();
    }
    const ended = startBlankWorker();
    const terminated = ended.worker.terminate();
    await ended.started;
    await terminated;
    expect(ended.alive).toBe(false);
  });

  it('a worker started ahead and never used keeps no process alive', () => {
    const url = new URL('../../src/io/worker-start.ts', import.meta.url).href;
    const script = `import { startBlankWorker } from '${url}'; const w = startBlankWorker(); console.log(w.alive);`;
    // a process the worker kept alive would be killed at the timeout: status null
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('true');
  });

  it('a missing file, or a range past the end, rejects its task', async () => {
    const checks = startBackgroundChecks();
    try {
      await expect(checks.sha256(join(work, 'missing'))).rejects.toThrow(/ENOENT/);
      await checks.settle(); // tasks are not checks: what fails is for their caller to report
      const late = startBackgroundChecks();
      await expect(late.crc32c(path, bytes.length - 3, 10)).rejects.toThrow(/ends at byte/);
      await late.stop();
    } finally {
      await checks.stop();
    }
  });

  it('checkCrc32c: a mismatch fails settle() with its error; inline without a worker', async () => {
    const good = crc32c(bytes.subarray(100, 200));
    const at = { path, offset: 100, bytes: bytes.subarray(100, 200) };
    const fail = (found: number | Error) => new Error(typeof found === 'number' ? `mismatch 0x${found.toString(16)}` : `unreadable: ${found.message}`);
    expect(() => checkCrc32c(undefined, at, good, fail)).not.toThrow();
    expect(() => checkCrc32c(undefined, at, good ^ 1, fail)).toThrow(`mismatch 0x${good.toString(16)}`);

    const checks = startBackgroundChecks();
    try {
      checkCrc32c(checks, at, good, fail); // returns at once; checked on the worker
      await checks.settle();
      checkCrc32c(checks, at, good ^ 1, fail);
      await expect(checks.settle()).rejects.toThrow(`mismatch 0x${good.toString(16)}`);
    } finally {
      await checks.stop();
    }
    const again = startBackgroundChecks();
    try {
      checkCrc32c(again, { ...at, path: join(work, 'gone') }, good, fail);
      await expect(again.settle()).rejects.toThrow(/unreadable: ENOENT/);
    } finally {
      await again.stop();
    }
  });

  it.each([true, false])('blockCrcs: every block against its stored CRC in one pass with the hash; the first bad one (WebAssembly CRC: %s)', async (wasm) => {
    // blocks (contents + type byte, then 4 bytes of masked CRC) at gaps, one straddling the 4 MiB
    // read chunk, one whose trailer does
    const file = new Uint8Array(bytes);
    const chunk = 4 << 20;
    const blocks = [
      { offset: 10, length: 1000 },
      { offset: chunk - 500, length: 1000 },
      { offset: 2 * chunk - 1002, length: 1000 },
      { offset: file.length - 200, length: 196 },
    ];
    for (const b of blocks) new DataView(file.buffer).setUint32(b.offset + b.length, maskCrc(crc32c(file.subarray(b.offset, b.offset + b.length))), true);
    const good = join(work, `blocks-${wasm}.bin`);
    writeFileSync(good, file);
    file[2 * chunk - 100] ^= 1; // inside the third block
    file[file.length - 3] ^= 1; // the last block's stored CRC
    const bad = join(work, `blocks-bad-${wasm}.bin`);
    writeFileSync(bad, file);
    const checks = startBackgroundChecks({ wasm });
    try {
      const ok = checks.blockCrcs(good, [...blocks].reverse()); // any order
      expect(await checks.sha256(good)).toBe(createHash('sha256').update(readFileSync(good)).digest('hex'));
      expect(await ok).toBeUndefined();
      const found = checks.blockCrcs(bad, blocks);
      await checks.settle(); // runs the pass (no hash asked for)
      const third = blocks[2];
      expect(await found).toEqual({ offset: third.offset, stored: crc32c(bytes.subarray(third.offset, third.offset + third.length)), computed: crc32c(file.subarray(third.offset, third.offset + third.length)) });
    } finally {
      await checks.stop();
    }
  });

  it('stop() ends a running task (it rejects) and may be called twice', async () => {
    const checks = startBackgroundChecks();
    const digest = checks.sha256(path);
    await checks.stop();
    await checks.stop();
    await expect(digest).rejects.toThrow(/stopped/);
    await expect(checks.crc32c(path, 0, 4)).rejects.toThrow(/stopped/);
  });
});
