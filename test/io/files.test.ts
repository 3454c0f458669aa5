import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readModel } from '../../src/api.js';
import { FormatError } from '../../src/errors.js';
import { openRegular, openRegularSync, readRegularFile } from '../../src/io/files.js';
import { readNpy } from '../../src/io/npy.js';
import { runCli } from '../helpers/cli.js';

// A named pipe opened for reading waits for a writer: before io/files, every reader hung on one.
const work = mkdtempSync(join(tmpdir(), 'wp-files-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const fifo = join(work, 'model.h5');
let hasFifo = process.platform !== 'win32';
try {
  if (hasFifo) execFileSync('mkfifo', [fifo]);
} catch {
  hasFifo = false;
}

describe.skipIf(!hasFifo)('files that are not regular files (mkfifo; not on Windows)', () => {
  it('openRegular, openRegularSync and readRegularFile refuse a named pipe and a device at once (ENOTREG), and read a file', async () => {
    for (const path of [fifo, '/dev/null']) {
      await expect(openRegular(path)).rejects.toMatchObject({ code: 'ENOTREG', message: /not a regular file/ });
      await expect(readRegularFile(path)).rejects.toMatchObject({ code: 'ENOTREG' });
      expect(() => openRegularSync(path)).toThrow(/not a regular file/);
    }
    await expect(openRegular(work)).rejects.toMatchObject({ code: 'ENOTREG', message: /a folder/ });
    const file = join(work, 'plain.bin');
    writeFileSync(file, 'bytes');
    expect((await readRegularFile(file)).toString()).toBe('bytes');
  });

  it.each(['auto', 'keras', 'tf', 'onnx', 'safetensors', 'tfjs'] as const)('readModel --from %s: a typed error naming the pipe, no hang', async (from) => {
    const error = await readModel(fifo, { from }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FormatError);
    expect((error as Error).message).toContain(fifo);
    expect((error as Error).message).toMatch(/named pipe, not a regular file/);
  }, 10_000);

  it('a reference .npy that is a pipe: a typed error', async () => {
    await expect(readNpy(fifo)).rejects.toBeInstanceOf(FormatError);
  });

  it('port inspect on a pipe: exit code 3, one line', () => {
    const r = runCli(['inspect', fifo]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/named pipe, not a regular file/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
