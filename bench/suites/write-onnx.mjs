// Writing full-size Inception-ResNet-v2 as ONNX (about 224 MB), each in a child process so that
// its peak RSS is its own:
// - the writer alone: seeded weights generated into memory first, then only the write is timed,
//   against `cp` of the written file (the cost of moving the bytes at all); target <= 2x cp;
// - seeded weights generated lazily while writing (nothing held): wall against generating the
//   weights alone, and peak RSS against the weights' size; target <= 1.5x weights + 100 MB;
// - `port convert --no-check` of a canonical safetensors file (read lazily) to ONNX, against cp of
//   the source (start-up and the source's SHA-256 included; the parity check left out).
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildGraph, seededModel, weightBytes, writeModel } from '../../dist/index.js';
import { CACHE, CLI, ROOT, median, row, runMeasured, timeCommand } from '../lib.mjs';

export const name = 'write-onnx';

const RUNS = 3;
const HAS_GNU_TIME = existsSync('/usr/bin/time');

// The child: `mode out [dtype]`; prints {ms, maxRss} (its own figures) as JSON.
const CHILD = `
  const { buildGraph, seededModel, readAll, createModel, writeModel } = await import(${JSON.stringify(pathToFileURL(join(ROOT, 'dist/index.js')).href)});
  const [mode, out, dtype = 'float32'] = process.argv.slice(1);
  let model = seededModel(buildGraph('inception_resnet_v2'), { seed: 1 });
  if (mode === 'memory') model = createModel(model.graph, await readAll(model), model.provenance);
  const t = performance.now();
  if (mode === 'generate') for (const p of model.params) await p.read();
  else await writeModel(model, out, { to: 'onnx', dtype, force: true });
  const ms = performance.now() - t;
  console.log(JSON.stringify({ ms, maxRss: process.resourceUsage().maxRSS * 1024 }));
`;

/** Runs the child; wall is the child's own timing of the write, RSS from GNU time when present. */
function child(args) {
  const argv = ['--input-type=module', '-e', CHILD, ...args];
  if (HAS_GNU_TIME) {
    const m = runMeasured(process.execPath, argv, { maxBuffer: 1 << 20 });
    const own = JSON.parse(m.stdout.trim().split('\n').at(-1));
    return { ms: own.ms, rss: Number.isFinite(m.rss) ? m.rss : own.maxRss };
  }
  const r = spawnSync(process.execPath, argv, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`write-onnx child failed: ${r.stderr}`);
  const own = JSON.parse(r.stdout.trim().split('\n').at(-1));
  return { ms: own.ms, rss: own.maxRss };
}

const medianOf = (runs, key) => median(runs.map((r) => r[key]));
const mib = (b) => `${(b / 2 ** 20).toFixed(0)} MiB`;

export async function run() {
  const dir = join(CACHE, 'bench');
  mkdirSync(dir, { recursive: true });
  const weights = weightBytes(seededModel(buildGraph('inception_resnet_v2'), { seed: 1 }));
  const rssTarget = `<= 1.5x weights + 100 MB = ${mib(1.5 * weights + 100e6)}`;
  const out = join(dir, 'out.onnx');
  const copy = join(dir, 'copy.onnx');
  const src = join(dir, 'inception_resnet_v2.canonical.safetensors'); // shared with write-safetensors
  try {
    const runs = (args) => Array.from({ length: RUNS }, () => child(args));
    const memory = runs(['memory', out]);
    const size = statSync(out).size;
    const cp = timeCommand('cp', [out, copy], RUNS);
    const memory16 = runs(['memory', out, 'float16']);
    const lazy = runs(['lazy', out]);
    const generate = runs(['generate']);

    if (!existsSync(src)) await writeModel(seededModel(buildGraph('inception_resnet_v2'), { seed: 1 }), src, { to: 'safetensors', naming: 'canonical' });
    const cpSrc = timeCommand('cp', [src, copy], RUNS);
    const cli = [];
    for (let i = 0; i < RUNS + 1; i++) cli.push(runMeasured(process.execPath, [CLI, 'convert', src, '--to', 'onnx', '-o', out, '--force', '--no-check']));
    const measured = cli.slice(1);

    return [
      row(name, `write IRv2 .onnx (${mib(size)}), weights in memory`, medianOf(memory, 'ms'), 'ms', 'cp of the written file', cp, '<= 2x cp'),
      row(name, 'write IRv2 .onnx --dtype float16, weights in memory', medianOf(memory16, 'ms'), 'ms', 'cp of the float32 file', cp),
      row(name, 'write IRv2 .onnx, seeded weights made lazily', medianOf(lazy, 'ms'), 'ms', 'making the seeded weights alone', medianOf(generate, 'ms')),
      row(name, 'write IRv2 .onnx, seeded lazily, peak RSS', Math.max(...lazy.map((r) => r.rss)), 'B', 'weights (float32)', weights, rssTarget),
      row(name, 'write IRv2 .onnx, weights in memory, peak RSS', Math.max(...memory.map((r) => r.rss)), 'B', 'weights (float32)', weights, `${rssTarget} (weights held: 1x)`),
      row(name, 'port convert --no-check IRv2 safetensors -> .onnx', median(measured.map((m) => m.ms)), 'ms', 'cp of the source', cpSrc, '<= 2x cp'),
      row(name, 'port convert --no-check IRv2 safetensors -> .onnx, peak RSS', Math.max(...measured.map((m) => m.rss)), 'B', 'weights (float32)', weights, rssTarget),
    ];
  } finally {
    rmSync(out, { force: true });
    rmSync(copy, { force: true });
  }
}
