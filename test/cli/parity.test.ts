/**
 * `port parity` and `port convert --check` on the built CLI, with a model made by the real
 * producer: timm's own thin Inception-ResNet-v2 (fixtures/timm_fixtures.py, width / 16), its
 * safetensors file and timm's logits on the default parity input as the reference.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeNpy, readNpy } from '../../src/io/npy.js';
import { runCli } from '../helpers/cli.js';
import { python } from '../helpers/python.js';
import { defaultInputNpy, TIMM_SCRIPT } from '../helpers/timm.js';

const dir = mkdtempSync(join(tmpdir(), 'weightport-parity-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('port parity: usage', () => {
  it('--help lists the options and loads no engine', () => {
    const trace = join(dir, 'imports.txt');
    const hook = fileURLToPath(new URL('../helpers/trace-imports.mjs', import.meta.url));
    const r = runCli(['parity', '--help'], { nodeArgs: ['--import', hook], env: { WEIGHTPORT_TRACE_IMPORTS: trace } });
    expect(r.code).toBe(0);
    for (const o of ['--against', '--reference', '--input', '--engine', '--atol', '--layers', '--report']) expect(r.stdout).toContain(o);
    const loaded = readFileSync(trace, 'utf8');
    expect(loaded).toMatch(/dist\/port\.cjs/); // the trace works (the bundled CLI; engines stay outside it)
    expect(loaded).not.toMatch(/onnxruntime|tfjs|webgpu|pngjs|jpeg-js|h5wasm|protobufjs/);
  });
  it.each([
    [['parity', 'm.onnx', '--engine', 'cuda']],
    [['parity', 'm.onnx', '--report', 'r.txt']],
    [['parity', 'm.onnx', '--atol', '-1']],
  ])('port %j is a usage error (exit code 2)', (args) => {
    const r = runCli(args, { cwd: dir });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr.split('\n')[0]).toMatch(/^port: /);
  });
});

describe('port parity and convert --check on timm weights', () => {
  const py = python('torch');
  const thin = join(dir, 'timm_inception_resnet_v2_d16.safetensors');
  const logits = join(dir, 'timm_inception_resnet_v2_d16.logits.npy');
  let input = '';
  beforeAll(async () => {
    if (!py.ok) return;
    input = await defaultInputNpy(dir);
    py.run(TIMM_SCRIPT, ['make', '--arch', 'inception_resnet_v2', '--width-divisor', '16', '--out', dir, '--input', input]);
  }, 600_000);

  it.skipIf(!py.ok)(`a safetensors file, written as ONNX and run in onnxruntime, matches timm's own logits ${py.reason}`, () => {
    expect(existsSync(thin), `made by ${TIMM_SCRIPT}`).toBe(true);
    const r = runCli(['parity', thin, '--reference', logits, '--input', input, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.verdict).toBe('pass');
    expect(report.reference.kind).toBe('npy');
    expect(report.comparisons[0].output.maxAbs).toBeLessThan(1e-4);
    expect(report.comparisons[0].output.top5Agrees).toBe(true);
    expect(report.warnings).toEqual([]);
  });

  it.skipIf(!py.ok)(`independent check: ONNX in onnxruntime against tfjs in tfjs-wasm, with all three reports ${py.reason}`, () => {
    const reports = ['r.json', 'r.xml', 'r.html'].map((f) => join(dir, f));
    const r = runCli(['parity', thin, ...reports.flatMap((f) => ['--report', f])]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^PASS ort \(onnx\) vs tfjs-wasm \(tfjs\); max \|diff\| /m);
    expect(r.stdout).toMatch(/^PASS \(atol 0\.0001\)/m);
    for (const f of reports) expect(existsSync(f)).toBe(true);
    expect(JSON.parse(readFileSync(reports[0], 'utf8')).verdict).toBe('pass');
    expect(readFileSync(reports[1], 'utf8')).toMatch(/<testsuite [^>]*failures="0"/);
    // Reports are outputs: not overwritten without --force.
    expect(runCli(['parity', thin, '--report', reports[0]]).code).toBe(4);
  });

  it.skipIf(!py.ok)(`convert --check passes for ONNX, tfjs and float16; a wrong reference fails with exit code 1 ${py.reason}`, async () => {
    for (const [to, out, extra] of [
      ['onnx', 'm.onnx', []],
      ['tfjs', 'm.tfjs', []],
      ['onnx', 'm16.onnx', ['--dtype', 'float16']],
      ['tfjs', 'm16.tfjs', ['--dtype', 'float16']],
    ] as const) {
      const r = runCli(['--to', to, thin, '-o', join(dir, out), '--check', ...extra]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^parity PASS/m);
    }
    // The check is on by default; --no-check skips it.
    const json = JSON.parse(runCli(['--to', 'onnx', thin, '-o', join(dir, 'j.onnx'), '--json']).stdout);
    expect(json.parity.verdict).toBe('pass');
    const unchecked = runCli(['--to', 'onnx', thin, '-o', join(dir, 'n.onnx'), '--no-check']);
    expect(unchecked.code).toBe(0);
    expect(unchecked.stdout).not.toMatch(/^parity /m);

    // The written ONNX against timm's logits with one class changed: exit code 1, one line.
    const ref = (await readNpy(logits)).data.slice();
    ref[7] += 0.5;
    writeFileSync(join(dir, 'wrong.npy'), encodeNpy(ref, [1, ref.length]));
    const bad = runCli(['parity', join(dir, 'm.onnx'), '--reference', join(dir, 'wrong.npy'), '--input', input]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/^FAIL ort \(onnx\) vs wrong\.npy; max \|diff\| 0\.5, .*5\.00e-1 > atol 0\.0001$/m);
    expect(bad.stderr).toMatch(/^port: parity check failed: /);
    // --layers on the written ONNX (no block outputs of its own) against the source.
    const layers = runCli(['parity', join(dir, 'm.onnx'), '--against', thin, '--layers', '--json']);
    expect(layers.code, layers.stderr).toBe(0);
    const rep = JSON.parse(layers.stdout);
    expect(rep.comparisons[0].layers.length).toBe(53);
    expect(rep.comparisons[0].firstDivergence).toBeUndefined();
  });

  it.skipIf(!py.ok)(`--engine all runs every available engine and reports the others as unavailable ${py.reason}`, () => {
    const r = runCli(['parity', join(dir, 'm.tfjs'), '--engine', 'all', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    const status = Object.fromEntries(report.engines.map((e: { engine: string; role: string; status: string }) => [`${e.engine}/${e.role}`, e.status]));
    expect(status).toMatchObject({ 'ort/reference': 'ran', 'tfjs-wasm/checked': 'ran', 'webgpu/checked': 'ran' });
    for (const e of report.engines) if (e.status === 'unavailable') expect(e.reason).toMatch(/not installed|no NVIDIA GPU|CUDA provider/);
    expect(report.comparisons.map((c: { name: string }) => c.name)).toEqual(expect.arrayContaining(['tfjs-wasm (tfjs)', 'webgpu (tfjs)']));
  });
});
