// Writing full-size Inception-ResNet-v2 safetensors (about 223 MB): `port convert` of a canonical
// safetensors file to timm naming (read lazily, each tensor read, transformed and written once),
// against `cp` of the same file (the cost of moving the bytes at all), and its peak RSS against the
// weights' size (--no-check: the conversion alone, without the parity check).
// Targets: wall <= 2x cp; peak RSS <= 1.5x weights + 100 MB.
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { buildGraph, readModel, bindModel, seededModel, weightBytes, writeModel } from '../../dist/index.js';
import { sha256File } from '../../dist/io/hash.js';
import { CACHE, CLI, median, row, measureRuns, timeCommand } from '../lib.mjs';

export const name = 'write-safetensors';

const RUNS = 5;

export async function run() {
  const dir = join(CACHE, 'bench');
  mkdirSync(dir, { recursive: true });
  const src = join(dir, 'inception_resnet_v2.canonical.safetensors');
  const model = seededModel(buildGraph('inception_resnet_v2'), { seed: 1 });
  if (!existsSync(src)) await writeModel(model, src, { to: 'safetensors', naming: 'canonical' });
  const size = statSync(src).size;
  const weights = weightBytes(model);
  const out = join(dir, 'out.safetensors');
  const copy = join(dir, 'copy.safetensors');
  try {
    const cp = timeCommand('cp', [src, copy], RUNS);

    const { ms: wall, rss } = measureRuns(process.execPath, [CLI, 'convert', src, '--to', 'safetensors', '--naming', 'timm', '-o', out, '--force', '--no-check'], RUNS);

    // In-process: reader -> timm scheme -> writer, without node start-up and the source's SHA-256.
    const inProcess = [];
    for (let i = 0; i < RUNS + 1; i++) {
      const source = await readModel(src);
      const t = performance.now();
      await writeModel(bindModel(source).model, out, { to: 'safetensors', naming: 'timm', force: true });
      inProcess.push(performance.now() - t);
      await source.close();
    }

    // What `port convert` adds to the writer: node start-up and the source's SHA-256 (provenance).
    const sha = [];
    for (let i = 0; i < RUNS + 1; i++) {
      const t = performance.now();
      await sha256File(src);
      sha.push(performance.now() - t);
    }

    return [
      row(name, `port convert IRv2 -> timm safetensors (${(size / 2 ** 20).toFixed(0)} MiB)`, wall, 'ms', 'cp of the same file', cp, '<= 2x cp'),
      row(name, 'writeModel IRv2 timm safetensors, in-process', median(inProcess.slice(1)), 'ms', 'cp of the same file', cp, '<= 2x cp'),
      row(name, 'SHA-256 of the source (part of port convert)', median(sha.slice(1)), 'ms', 'cp of the same file', cp),
      row(name, 'port convert IRv2 -> timm safetensors, peak RSS', rss, 'B', 'weights (float32)', weights, `<= 1.5x weights + 100 MB = ${((1.5 * weights + 100e6) / 2 ** 20).toFixed(0)} MiB`),
    ];
  } finally {
    rmSync(out, { force: true });
    rmSync(copy, { force: true });
  }
}
