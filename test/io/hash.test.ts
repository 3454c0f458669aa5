import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sha256FileInBackground } from '../../src/io/hash.js';

const work = mkdtempSync(join(tmpdir(), 'wp-hash-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('sha256FileInBackground', () => {
  it('gives the SHA-256 of the whole file (several read chunks)', async () => {
    const bytes = new Uint8Array((9 << 20) + 5).map((_, i) => (i * 31) & 255);
    const path = join(work, 'f.bin');
    writeFileSync(path, bytes);
    const h = sha256FileInBackground(path);
    expect(await h.digest).toBe(createHash('sha256').update(bytes).digest('hex'));
    await h.stop();
  });

  it('rejects for a missing file; stop() ends a running worker', async () => {
    await expect(sha256FileInBackground(join(work, 'missing')).digest).rejects.toThrow(/ENOENT/);
    const path = join(work, 'g.bin');
    writeFileSync(path, new Uint8Array(1 << 20));
    const h = sha256FileInBackground(path);
    await h.stop();
    await expect(h.digest).rejects.toThrow(/stopped|exit/);
  });
});
