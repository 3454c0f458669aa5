/**
 * The headline path through the real `port` binary: `port --from keras --to onnx model.h5 -o
 * model.onnx`, and the same with `--from auto`; the written ONNX reproduces Keras' output in
 * onnxruntime. Also `--to safetensors --naming keras`, and that `port --help` loads no h5wasm.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readNpy } from '../../src/io/npy.js';
import { defaultInput } from '../../src/parity/input.js';
import { runOnnx } from '../../src/parity/ort.js';
import { runCli } from '../helpers/cli.js';
import { COMMITTED } from '../helpers/keras.js';
import { maxAbsDiff, topK } from '../helpers/timm.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'wp-cli-keras-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const V4 = join(COMMITTED, 'v4.h5');

async function expectKerasOutput(onnx: string): Promise<void> {
  const run = await runOnnx(onnx, defaultInput());
  const y = [...run.outputs.values()][0].data;
  const ref = (await readNpy(join(COMMITTED, 'v4.probs.npy'))).data;
  expect(maxAbsDiff(y, ref)).toBeLessThan(1e-4);
  expect(topK(y)).toEqual(topK(ref));
}

describe('port --from keras --to onnx model.h5 -o model.onnx', () => {
  it.each([['--from', 'keras'], ['--from', 'auto'], []])('port %s ...: exit 0, a model that reproduces Keras', async (...from) => {
    const out = join(dir, `model${from.join('')}.onnx`);
    const r = runCli([...from, '--to', 'onnx', V4, '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/v4\.h5: keras, keras naming, inception_v4 \(1000 classes, width \/ 8\)/);
    expect(r.stdout).toMatch(/wrote .*\.onnx/);
    await expectKerasOutput(out);
  });

  it('--json reports the detection (layer order, softmax)', () => {
    const out = join(dir, 'json.onnx');
    const r = runCli([V4, '--to', 'onnx', '-o', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.source).toMatchObject({ format: 'keras', tensors: 598 });
    expect(j.detection).toMatchObject({ scheme: 'keras', arch: 'inception_v4', options: { classes: 1000, widthDivisor: 8, softmax: true } });
    expect(j.detection.reason).toMatch(/by their order.*'predictions'/);
  });

  it('refuses to overwrite without --force (exit 4), and overwrites with it', () => {
    const out = join(dir, 'twice.onnx');
    expect(runCli([V4, '--to', 'onnx', '-o', out]).code).toBe(0);
    const again = runCli([V4, '--to', 'onnx', '-o', out]);
    expect(again.code).toBe(4);
    expect(runCli([V4, '--to', 'onnx', '-o', out, '--force']).code).toBe(0);
  });

  it('--to safetensors --naming keras writes Keras names, and they read back', () => {
    const out = join(dir, 'v4.safetensors');
    const r = runCli([V4, '--to', 'safetensors', '--naming', 'keras', '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    const bytes = readFileSync(out);
    const header = JSON.parse(bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString('utf8'));
    expect(header['conv2d/kernel'].shape).toEqual([3, 3, 3, 4]);
    expect(header['predictions/bias'].shape).toEqual([1000]);
    const back = join(dir, 'back.onnx');
    const r2 = runCli([out, '--to', 'onnx', '-o', back, '--json']);
    expect(r2.code, r2.stderr).toBe(0);
    expect(JSON.parse(r2.stdout).detection.scheme).toBe('keras');
    expect(existsSync(back)).toBe(true);
  });

  it('the library reads Keras from `node --input-type=module -e` too (the HDF5 worker does not inherit that flag)', () => {
    const dist = new URL('../../dist/index.js', import.meta.url).href;
    const r = spawnSync(
      process.execPath,
      ['--input-type=module', '-e', `const { readModel } = await import(${JSON.stringify(dist)}); const s = await readModel(${JSON.stringify(V4)}); console.log(s.tensors.length); await s.close();`],
      { encoding: 'utf8', timeout: 120_000 },
    );
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('598');
  });

  it('port --help loads no h5wasm (nor any engine)', () => {
    const trace = join(dir, 'imports.txt');
    const hook = fileURLToPath(new URL('../helpers/trace-imports.mjs', import.meta.url));
    const r = runCli(['--help'], { nodeArgs: ['--import', hook], env: { WEIGHTPORT_TRACE_IMPORTS: trace } });
    expect(r.code).toBe(0);
    const loaded = readFileSync(trace, 'utf8');
    expect(loaded).toMatch(/dist\/port\.cjs/); // the trace works (the bundled CLI; engines stay outside it)
    expect(loaded).not.toMatch(/h5wasm|fflate|onnxruntime/);
  });
});
