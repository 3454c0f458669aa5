import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

describe('port graph', () => {
  it.each([
    ['inception_v4', 42_679_816, 12.25e9],
    ['inception_resnet_v2', 55_843_464, 13.16e9],
  ] as const)('%s --json prints the published figures', (arch, params, macs) => {
    const r = runCli(['graph', arch, '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ arch, params, inputShape: [1, 3, 299, 299], outputShape: [1, 1000] });
    expect(Math.abs(out.macs - macs) / macs).toBeLessThan(0.01);
    expect(out.nodes.length).toBeGreaterThan(400);
  });

  it('keras counting and 1001 classes', () => {
    const out = JSON.parse(runCli(['graph', 'inception_resnet_v2', '--count', 'keras', '--json']).stdout);
    expect(out.params).toBe(55_873_736);
    expect(JSON.parse(runCli(['graph', 'inception_v4', '--classes', '1001', '--json']).stdout).outputShape).toEqual([1, 1001]);
  });

  it('prints a per-block table with totals', () => {
    const r = runCli(['graph', 'inception_resnet_v2']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Mixed_7a\s+2080x8x8\s/m);
    expect(r.stdout).toMatch(/55,843,464 parameters/);
  });
});

describe('usage errors: one line, exit code 2', () => {
  it.each([
    [['graph', 'resnet50']],
    [['graph', 'inception_v4', '--bogus']],
    [['graph', 'inception_v4', '--classes', '10']],
    [['in.h5', '--to', 'onnx']], // no -o
    [['in.h5', '-o', 'x', '--to', 'caffe']],
    [[]],
  ])('port %j', (args) => {
    const r = runCli(args);
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n')[0]).toMatch(/^port: /);
    expect(r.stderr).not.toMatch(/\bat .*\.js:\d+/); // no stack trace
  });

  it('a missing input file is a bad input (exit code 3), with no stack trace', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wp-cli-'));
    const r = runCli([join(dir, 'nope.h5'), '--to', 'onnx', '-o', join(dir, 'out.onnx')]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/nope\.h5/);
    expect(r.stderr).not.toMatch(/\bat .*\.js:\d+/);
  });
});

describe('start-up', () => {
  it('--version is the package\'s, from any working folder', () => {
    const { version } = JSON.parse(readFileSync(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8')) as { version: string };
    for (const cwd of [tmpdir(), fileURLToPath(new URL('../../fixtures/', import.meta.url))]) {
      const r = runCli(['--version'], { cwd });
      expect(r.code).toBe(0);
      expect(r.stdout.trim()).toBe(version);
    }
  });

  it('--help lists every command and loads no heavy module', () => {
    const trace = join(mkdtempSync(join(tmpdir(), 'wp-trace-')), 'imports.txt');
    const hook = fileURLToPath(new URL('../helpers/trace-imports.mjs', import.meta.url));
    const r = runCli(['--help'], { nodeArgs: ['--import', hook], env: { WEIGHTPORT_TRACE_IMPORTS: trace } });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/port graph <arch>/);
    expect(r.stdout).toMatch(/Exit codes: 0 ok, 1 parity failure, 2 usage error, 3 bad input file, 4 output refused/);
    const loaded = readFileSync(trace, 'utf8');
    expect(loaded).toMatch(/dist\/port\.cjs/); // the trace works (the bundled CLI; engines stay outside it)
    expect(loaded).not.toMatch(/onnxruntime|tfjs|h5wasm|protobufjs|onnx-proto/);
  });

  it('--help wraps its descriptions between words, at the width it is given', () => {
    const r = runCli(['--help']); // not a terminal: 100 columns
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThanOrEqual(100);
    // a description that takes two lines reads whole once its lines are joined at a space
    const joined = r.stdout.replace(/\s+/g, ' ');
    expect(joined).toContain('run a model in real engines and compare its outputs with an independent execution, another model or reference outputs');
    expect(joined).toContain('print the canonical graph: per-block output shapes, parameters and multiply-adds');
  });
});

describe('yargs help caching (skipHelpCaching)', () => {
  // yargs 17 lays out a named command's whole help text each time one runs; main() turns that off.
  // This reaches into yargs' internals: if an upgrade moves them, the first test says so.
  const run = async (skip: boolean) => {
    const { default: yargs } = await import('yargs');
    const { skipHelpCaching } = await import('../../src/cli/main.js');
    let ran = false;
    const cli = yargs(['go', 'x'])
      .command('go <what>', 'a command', (y) => y.positional('what', { type: 'string' }), () => void (ran = true))
      .exitProcess(false);
    if (skip) skipHelpCaching(cli);
    await cli.parseAsync();
    const usage = (cli as unknown as { getInternalMethods(): { getUsageInstance(): { hasCachedHelpMessage(): boolean } } })
      .getInternalMethods()
      .getUsageInstance();
    return { ran, cached: usage.hasCachedHelpMessage() };
  };

  it('yargs caches the help text when a named command runs (what main() turns off)', async () => {
    expect(await run(false)).toEqual({ ran: true, cached: true });
  });

  it('skipHelpCaching: the command runs and no help text is laid out', async () => {
    expect(await run(true)).toEqual({ ran: true, cached: false });
  });

  it('port convert --help still prints the command\'s help', () => {
    const r = runCli(['convert', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^port convert <input>/m);
    expect(r.stdout).toMatch(/--to/);
  });
});
