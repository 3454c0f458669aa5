/** `convert` when the source cannot be hashed (removed while converting): typed error, no output. */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';

// the real background checks, but hashing fails as for a file removed meanwhile
vi.mock('../../src/io/background.js', async (original) => {
  const real = await original<typeof import('../../src/io/background.js')>();
  return {
    ...real,
    startBackgroundChecks: () => {
      const checks = real.startBackgroundChecks();
      return { ...checks, sha256: () => checks.sha256('/nonexistent/gone') };
    },
  };
});

const { convert, writeModel } = await import('../../src/api.js');
const { FormatError } = await import('../../src/errors.js');
const { buildGraph } = await import('../../src/graphs/index.js');
const { seededModel } = await import('../../src/graphs/init.js');

const work = mkdtempSync(join(tmpdir(), 'wp-convert-hash-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('convert: the source hash fails', () => {
  it.each(['onnx', 'safetensors', 'tfjs'] as const)('to %s: a FormatError naming the source, and no output', async (to) => {
    const src = join(work, `src-${to}.safetensors`);
    await writeModel(seededModel(buildGraph('inception_v4', { widthDivisor: 16 }), { seed: 1 }), src, { to: 'safetensors' });
    const out = join(work, `out-${to}`);
    const err = await convert(src, out, { to }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FormatError);
    expect((err as Error).message).toContain(src);
    expect((err as Error).message).toMatch(/hash/);
    expect(existsSync(out) && readdirSync(out).length > 0).toBe(false);
    expect(readdirSync(work).filter((f) => f.startsWith('.'))).toEqual([]);
  });
});
