// Parity engines on full-size Inception-v4 and Inception-ResNet-v2 (seeded weights written once as
// ONNX, tfjs and safetensors into the cache folder, reused when present):
// - each available engine's warm inference per image (median of repeated runs after the first),
//   against the time the multiply-adds would take at this CPU's fp32 peak (400 GFLOP/s measured on
//   the 2-core machines, DESIGN.md); its GFLOP/s (multiply-adds x 2 / time): onnxruntime's target
//   is >= 300; its session creation (model loading) against its inference;
// - the whole `port parity model.onnx` (the CLI: start-up, reading the ONNX back, writing the tfjs
//   model for tfjs-wasm, both engines, the comparison) against the engines' own session creation
//   + inference in that same run; target <= 1.5x;
// - the parity check of `port convert` (default on): the conversion with the check minus the one
//   with --no-check, against the check's engines' own session creation + inference; target <= 1.5x.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { buildGraph, countGraph, seededModel, writeModel } from '../../dist/index.js';
import { ENGINES } from '../../dist/parity/engines.js';
import { defaultInput } from '../../dist/parity/input.js';
import { CACHE, CLI, median, row } from '../lib.mjs';

export const name = 'parity';

const ARCHS = ['inception_v4', 'inception_resnet_v2'];
/** fp32 peak of the 2-core machines (DESIGN.md): the reference time of an inference. */
const PEAK_GFLOPS = 400;
/** Inferences per engine: the first (warm-up, WebGPU's shader compilation) is not counted. */
const REPEAT = { ort: 6, 'ort-cuda': 11, 'tfjs-wasm': 3, webgpu: 3, 'tfjs-node-gpu': 6 };

/** Seeded full-size models in the cache: `<dir>/seeded_<arch>.{onnx,tfjs,safetensors}`. */
export async function seededFiles(arch) {
  const dir = join(CACHE, 'parity');
  mkdirSync(dir, { recursive: true });
  const files = {};
  for (const to of ['onnx', 'tfjs', 'safetensors']) {
    const path = join(dir, `seeded_${arch}.${to}`);
    if (!existsSync(to === 'tfjs' ? join(path, 'model.json') : path)) {
      rmSync(path, { recursive: true, force: true });
      await writeModel(seededModel(buildGraph(arch), { seed: 0 }), path, { to, force: true });
    }
    files[to] = path;
  }
  return files;
}

function cli(args) {
  const t = performance.now();
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', maxBuffer: 64 << 20, env: { ...process.env, CI: '1' } });
  const ms = performance.now() - t;
  if (r.status !== 0) throw new Error(`port ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return { ms, json: JSON.parse(r.stdout) };
}

export async function run() {
  const rows = [];
  const input = defaultInput();
  for (const arch of ARCHS) {
    const macs = countGraph(buildGraph(arch)).macs;
    const peakMs = ((2 * macs) / (PEAK_GFLOPS * 1e9)) * 1000;
    const files = await seededFiles(arch);
    let ortGflops;
    for (const engine of ENGINES) {
      const a = await engine.available();
      if (!a.ok) {
        // Not a row (rows carry figures): said on the console, and in `port parity --engine all`.
        console.log(`${name.padEnd(10)} ${engine.name} ${arch}: unavailable: ${a.reason}`);
        continue;
      }
      const r = await engine.run(files[engine.kind], input, { repeat: REPEAT[engine.name] ?? 3 });
      const ms = median(r.allRunMs.slice(1));
      const gflops = (2 * macs) / (ms / 1000) / 1e9;
      if (engine.name === 'ort') ortGflops = gflops;
      const device = r.device;
      rows.push({ ...row(name, `${engine.name} inference ${arch}`, ms, 'ms', `2 x MACs at ${PEAK_GFLOPS} GFLOP/s`, peakMs), device });
      rows.push({
        ...(engine.name === 'ort'
          ? row(name, `${engine.name} GFLOP/s ${arch}`, gflops, 'GFLOP/s', 'target', 300, '>= 300 GFLOP/s')
          : row(name, `${engine.name} GFLOP/s ${arch}`, gflops, 'GFLOP/s', 'ort (CPU)', ortGflops ?? NaN)),
        device,
      });
      rows.push({ ...row(name, `${engine.name} session ${arch}`, r.createMs, 'ms', `${engine.name} inference`, ms), device });
    }

    // The whole `port parity` run against its engines' own session creation + inference.
    const parity = cli(['parity', files.onnx, '--json']);
    if (parity.json.verdict !== 'pass') throw new Error(`port parity ${files.onnx} failed: ${JSON.stringify(parity.json.comparisons)}`);
    rows.push(row(name, `port parity ${arch}.onnx (ort vs tfjs-wasm)`, parity.ms, 'ms', "engines' session + inference", parity.json.timing.enginesMs, '<= 1.5x'));

    // What the check adds to `port convert`.
    const out = join(CACHE, 'parity', `convert_${arch}.onnx`);
    const plain = cli(['--to', 'onnx', files.safetensors, '-o', out, '--force', '--no-check', '--json']);
    const checked = cli(['--to', 'onnx', files.safetensors, '-o', out, '--force', '--json']);
    rmSync(out, { force: true });
    if (checked.json.parity?.verdict !== 'pass') throw new Error(`port convert --check failed: ${JSON.stringify(checked.json.parity)}`);
    rows.push(
      row(name, `convert check ${arch} (with - without)`, checked.ms - plain.ms, 'ms', "check's engines' session + inference", checked.json.parity.timing.enginesMs, '<= 1.5x'),
    );
  }
  return rows;
}
