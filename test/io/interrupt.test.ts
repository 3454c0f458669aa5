import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { onInterrupt } from '../../src/io/interrupt.js';

const work = mkdtempSync(join(tmpdir(), 'wp-interrupt-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'];
const counts = () => SIGNALS.map((s) => process.listenerCount(s));

describe('onInterrupt', () => {
  it('listens while a clean-up is registered, and only then', () => {
    const before = counts();
    const a = onInterrupt(() => undefined);
    const b = onInterrupt(() => undefined);
    expect(counts()).toEqual(before.map((n) => n + 1)); // one listener for all clean-ups
    a();
    expect(counts()).toEqual(before.map((n) => n + 1));
    b();
    b(); // idempotent
    expect(counts()).toEqual(before);
  });

  it('the parity check\'s scratch folder is removed by Ctrl-C in the middle of the check', async () => {
    // A child runs the check on the thin Keras fixture with its scratch folder here; the test
    // waits for the folder to hold the model written for the check, then interrupts the child.
    const scratch = mkdtempSync(join(work, 'parity-'));
    const check = new URL('../../src/parity/check.ts', import.meta.url).href;
    const model = new URL('../../fixtures/keras/v4.h5', import.meta.url).pathname;
    const script = `
      const { checkParity } = await import('${check}');
      await checkParity(${JSON.stringify(model)}, { workDir: ${JSON.stringify(scratch)}, engines: 'ort' });
      console.log('finished before the signal');`;
    const p = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    const ended = new Promise<NodeJS.Signals | null>((resolve) => p.on('exit', (_code, signal) => resolve(signal)));
    let seen: string[] = [];
    for (let i = 0; i < 2000 && p.exitCode === null; i++) {
      const dirs = readdirSync(scratch).filter((d) => d.startsWith('weightport-parity-'));
      seen = dirs.flatMap((d) => readdirSync(join(scratch, d)));
      if (seen.length > 0) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    p.kill('SIGINT');
    const signal = await ended;
    expect(out).not.toMatch(/finished/);
    expect(seen.length).toBeGreaterThan(0); // the check had written into its folder
    expect(signal).toBe('SIGINT');
    expect(readdirSync(scratch)).toEqual([]);
    expect(existsSync(scratch)).toBe(true);
  }, 60_000);
});
