// Writing full-size Inception-ResNet-v2 as a TensorFlow.js layers-model (about 223 MB of float32
// in 4 MiB shards): `port convert --no-check` (the conversion alone) of a tfjs folder to a tfjs folder (read lazily, each tensor
// read, laid out and written once, streamed into the shards), against `cp -r` of the same folder
// (the cost of moving the bytes at all), and its peak RSS against the weights' size. Also the
// writer alone, in-process, from a reader-bound model. Targets: wall <= 2x cp; peak RSS <= 1.5x
// weights + 100 MB.
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { buildGraph, readModel, bindModel, createModel, readAll, seededModel, weightBytes, writeModel } from '../../dist/index.js';
import { CACHE, CLI, median, row, measureRuns, timeCommand } from '../lib.mjs';

export const name = 'write-tfjs';

const RUNS = 3;

const folderBytes = (dir) => readdirSync(dir).reduce((s, f) => s + statSync(join(dir, f)).size, 0);

export async function run() {
  const dir = join(CACHE, 'bench');
  mkdirSync(dir, { recursive: true });
  const src = join(dir, 'inception_resnet_v2.tfjs');
  const model = seededModel(buildGraph('inception_resnet_v2'), { seed: 1 });
  if (!existsSync(join(src, 'model.json'))) {
    rmSync(src, { recursive: true, force: true });
    await writeModel(model, src, { to: 'tfjs' });
  }
  const size = folderBytes(src);
  const weights = weightBytes(model);
  const out = join(dir, 'out.tfjs');
  const copy = join(dir, 'copy.tfjs');
  try {
    rmSync(copy, { recursive: true, force: true });
    const cp = timeCommand('bash', ['-c', `rm -rf '${copy}' && cp -r '${src}' '${copy}'`], RUNS);

    const { ms: wall, rss } = measureRuns(process.execPath, [CLI, 'convert', src, '--to', 'tfjs', '-o', out, '--force', '--no-check'], RUNS);

    // In-process: reader -> tfjs scheme -> writer, without node start-up and the source's SHA-256.
    const inProcess = [];
    for (let i = 0; i < RUNS + 1; i++) {
      const source = await readModel(src);
      const t = performance.now();
      await writeModel(bindModel(source).model, out, { to: 'tfjs', force: true });
      inProcess.push(performance.now() - t);
      await source.close();
    }
    // The writer alone: the seeded weights in memory first (as the write-onnx suite does).
    const held = createModel(model.graph, await readAll(model), model.provenance);
    const writerOnly = [];
    for (let i = 0; i < RUNS + 1; i++) {
      const t = performance.now();
      await writeModel(held, out, { to: 'tfjs', force: true });
      writerOnly.push(performance.now() - t);
    }

    return [
      row(name, `port convert --no-check IRv2 tfjs -> tfjs (${(size / 2 ** 20).toFixed(0)} MiB)`, wall, 'ms', 'cp -r of the same folder', cp, '<= 2x cp'),
      row(name, 'writeModel IRv2 tfjs from the tfjs source, in-process', median(inProcess.slice(1)), 'ms', 'cp -r of the same folder', cp, '<= 2x cp'),
      row(name, 'write IRv2 tfjs, weights in memory', median(writerOnly.slice(1)), 'ms', 'cp -r of the same folder', cp, '<= 2x cp'),
      row(name, 'port convert --no-check IRv2 tfjs -> tfjs, peak RSS', rss, 'B', 'weights (float32)', weights, `<= 1.5x weights + 100 MB = ${((1.5 * weights + 100e6) / 2 ** 20).toFixed(0)} MiB`),
    ];
  } finally {
    rmSync(out, { recursive: true, force: true });
    rmSync(copy, { recursive: true, force: true });
  }
}
