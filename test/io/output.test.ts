import { spawn, spawnSync } from 'node:child_process';
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

describe('writeOutputs and signals', () => {
  // A child writes its outputs' temporary files, says so on stdout, then waits; the test signals it.
  const child = (dir: string, hostListener: boolean) => {
    const url = new URL('../../src/io/output.ts', import.meta.url).href;
    const script = `
      import { writeFile } from 'node:fs/promises';
      import { join } from 'node:path';
      import { writeOutputs } from '${url}';
      const dir = ${JSON.stringify(dir)};
      ${hostListener ? `process.on('SIGTERM', () => { console.log('host'); process.exit(7); });` : ''}
      const targets = [join(dir, 'model.json'), join(dir, 'shard.bin')];
      await writeOutputs(targets, {}, async (tmp) => {
        for (const t of targets) await writeFile(tmp(t), Buffer.alloc(1 << 20));
        console.log('written');
        await new Promise(() => setInterval(() => {}, 1000));
      });`;
    return spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  };
  const run = async (signal: NodeJS.Signals, hostListener = false) => {
    const dir = mkdtempSync(join(work, 'signal-'));
    const p = child(dir, hostListener);
    let out = '';
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => p.on('exit', (code, sig) => resolve({ code, signal: sig })));
    await new Promise<void>((resolve, reject) => {
      p.stdout.on('data', (d) => {
        out += d;
        if (out.includes('written')) resolve();
      });
      p.on('exit', () => reject(new Error(`the child ended first: ${err}`)));
    });
    const before = readdirSync(dir);
    p.kill(signal);
    const end = await ended;
    return { before, after: readdirSync(dir), end, out };
  };

  it.each(['SIGINT', 'SIGTERM', 'SIGHUP'] as const)('%s while writing: the temporary files are removed and the signal ends the process', async (signal) => {
    const r = await run(signal);
    expect(r.before).toHaveLength(2); // both temporary files were there
    expect(r.before.every((f) => f.includes('.tmp-'))).toBe(true);
    expect(r.after).toEqual([]);
    expect(r.end.signal).toBe(signal);
  }, 30_000);

  it("with the program's own listener: the files are removed and that listener decides", async () => {
    const r = await run('SIGTERM', true);
    expect(r.before).toHaveLength(2);
    expect(r.after).toEqual([]);
    expect(r.out).toMatch(/host/);
    expect(r.end.code).toBe(7);
  }, 30_000);

  it('listens only while writing', async () => {
    const counts = () => ['SIGINT', 'SIGTERM', 'SIGHUP'].map((s) => process.listenerCount(s));
    const before = counts();
    const target = join(work, 'listen.bin');
    let during: number[] = [];
    await writeOutputs([target], { force: true }, async (tmp) => {
      during = counts();
      await writeFile(tmp(target), 'x');
    });
    expect(during).toEqual(before.map((n) => n + 1));
    expect(counts()).toEqual(before);
    await expect(writeOutputs([target], { force: true }, async () => Promise.reject(new Error('failed')))).rejects.toThrow('failed');
    expect(counts()).toEqual(before);
  });
});

describe('writeOutputs: a signal while the old file is being replaced', () => {
  // The child's fs/promises rename signals the process right after the step named, then never
  // returns (module.syncBuiltinESMExports carries the patch into src/io/output.ts's import).
  const replaceInterrupted = (after: 'set-aside' | 'new-in-place') => {
    const dir = mkdtempSync(join(work, 'replace-signal-'));
    const target = join(dir, 'model.onnx');
    writeFileSync(target, 'old');
    const url = new URL('../../src/io/output.ts', import.meta.url).href;
    const script = `
      import { createRequire, syncBuiltinESMExports } from 'node:module';
      import { writeFile } from 'node:fs/promises';
      const fsp = createRequire(import.meta.url)('node:fs/promises');
      const rename = fsp.rename;
      fsp.rename = async (from, to) => {
        await rename(from, to);
        const hit = ${JSON.stringify(after)} === 'set-aside' ? to.endsWith('.old') : to === ${JSON.stringify(target)};
        if (!hit) return;
        process.kill(process.pid, 'SIGTERM');
        await new Promise(() => setInterval(() => {}, 1000));
      };
      syncBuiltinESMExports();
      const { writeOutputs } = await import('${url}');
      await writeOutputs([${JSON.stringify(target)}], { force: true }, (tmp) => writeFile(tmp(${JSON.stringify(target)}), 'new'));`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
    return { r, content: readFileSync(target, 'utf8'), files: readdirSync(dir) };
  };

  it('after the old file was set aside: it is put back', () => {
    const { r, content, files } = replaceInterrupted('set-aside');
    expect(r.signal, r.stderr).toBe('SIGTERM');
    expect(content).toBe('old');
    expect(files).toEqual(['model.onnx']);
  });

  it('after the new file was renamed into place: the old one set aside is removed', () => {
    const { r, content, files } = replaceInterrupted('new-in-place');
    expect(r.signal, r.stderr).toBe('SIGTERM');
    expect(content).toBe('new');
    expect(files).toEqual(['model.onnx']);
  });
});
