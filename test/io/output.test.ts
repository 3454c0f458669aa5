import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { OutputError } from '../../src/errors.js';
import { writeOutputs } from '../../src/io/output.js';

const work = mkdtempSync(join(tmpdir(), 'wp-output-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('writeOutputs', () => {
  it('replaces an existing file with force, leaving no temporary or set-aside file', async () => {
    const dir = join(work, 'replace');
    mkdirSync(dir);
    const target = join(dir, 'model.onnx');
    writeFileSync(target, 'old');
    await expect(writeOutputs([target], {}, async (tmp) => writeFile(tmp(target), 'new'))).rejects.toBeInstanceOf(OutputError);
    expect(readFileSync(target, 'utf8')).toBe('old');
    await writeOutputs([target], { force: true }, async (tmp) => writeFile(tmp(target), 'new'));
    expect(readFileSync(target, 'utf8')).toBe('new');
    expect(readdirSync(dir)).toEqual(['model.onnx']);
  });

  it('never removes a folder that is in the way, even with force', async () => {
    const target = join(work, 'a-folder');
    mkdirSync(target);
    writeFileSync(join(target, 'keep.txt'), 'precious');
    let filled = false;
    const fill = async (tmp: (t: string) => string) => {
      filled = true;
      await writeFile(tmp(target), 'x');
    };
    for (const force of [true, false]) {
      const error = await writeOutputs([target], { force }, fill).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OutputError);
      // said before the conversion starts, not by the rename once everything is written
      expect((error as Error).message).toMatch(/a-folder: is a folder: give the path of the file to write/);
    }
    expect(filled).toBe(false);
    expect(readFileSync(join(target, 'keep.txt'), 'utf8')).toBe('precious');
    expect(readdirSync(work).filter((f) => f.startsWith('.'))).toEqual([]);
  });

  it('leaves the old file and no temporary file when filling fails', async () => {
    const target = join(work, 'kept.safetensors');
    writeFileSync(target, 'old');
    await expect(
      writeOutputs([target], { force: true }, async (tmp) => {
        await writeFile(tmp(target), 'half');
        throw new Error('read failed');
      }),
    ).rejects.toThrow('read failed');
    expect(readFileSync(target, 'utf8')).toBe('old');
    expect(existsSync(join(work, '.kept.safetensors'))).toBe(false);
    expect(readdirSync(work).filter((f) => f.startsWith('.kept'))).toEqual([]);
  });
});
