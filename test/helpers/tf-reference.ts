/**
 * TensorFlow as the independent reference for the canonical graph (fixtures/tf_reference.py): the
 * model's graph and weights are handed over in a temporary folder, TF runs them with its own ops
 * and returns the outputs.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { open, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256File } from '../../src/io/hash.js';
import { encodeNpy } from '../../src/io/npy.js';
import type { CanonicalModel } from '../../src/model.js';
import { bytesOf } from '../../src/tensor.js';
import { ROOT, type Python } from './python.js';

export interface ReferenceOutputs {
  /** One row per batch element. */
  readonly logits: Float64Array[];
  readonly aux?: Float64Array[];
}

/** Writes graph.json, weights.json, weights.bin and input.npy into `dir`, reading each parameter once. */
export async function writeReferenceFolder(model: CanonicalModel, input: { data: Float32Array; dims: readonly number[] }, dir: string): Promise<void> {
  const index: { name: string; shape: readonly number[]; offset: number }[] = [];
  const fh = await open(join(dir, 'weights.bin'), 'w');
  try {
    let offset = 0;
    for (const p of model.params) {
      const data = await p.read();
      await fh.write(bytesOf(data));
      index.push({ name: p.name, shape: p.shape, offset });
      offset += data.byteLength;
    }
  } finally {
    await fh.close();
  }
  await writeFile(join(dir, 'weights.json'), JSON.stringify(index));
  await writeFile(join(dir, 'graph.json'), JSON.stringify(model.graph));
  await writeFile(join(dir, 'input.npy'), encodeNpy(input.data, input.dims));
}

export interface ReferenceJob {
  readonly model: CanonicalModel;
  readonly input: { data: Float32Array; dims: readonly number[] };
}

/**
 * Runs each model in TensorFlow (float64 by default) on its input (NCHW), in one Python process
 * (TensorFlow's import is the slow part). With `cache` (a folder), outputs are kept there under a
 * hash of everything they depend on and reused: full-size references take TF half a minute.
 */
export async function tfReferences(
  py: Python,
  jobs: readonly ReferenceJob[],
  options: { dtype?: 'float64' | 'float32'; cache?: string } = {},
): Promise<ReferenceOutputs[]> {
  const root = mkdtempSync(join(tmpdir(), 'wp-tfref-'));
  try {
    const dirs = jobs.map((_, i) => join(root, String(i)));
    const cached: (string | undefined)[] = [];
    for (const [i, job] of jobs.entries()) {
      mkdirSync(dirs[i]);
      await writeReferenceFolder(job.model, job.input, dirs[i]);
      cached.push(options.cache && join(options.cache, `tf-reference-${await folderKey(dirs[i], options.dtype)}.json`));
    }
    const todo = dirs.filter((_, i) => !(cached[i] && existsSync(cached[i]!)));
    const lines = todo.length ? py.run('fixtures/tf_reference.py', [...todo, '--dtype', options.dtype ?? 'float64']).trim().split('\n') : [];
    const rows = (xs: number[][]) => xs.map((r) => Float64Array.from(r));
    return dirs.map((dir, i) => {
      const file = cached[i];
      const line = todo.includes(dir) ? lines[todo.indexOf(dir)] : readFileSync(file!, 'utf8');
      if (file && todo.includes(dir)) writeFileSync(file, line);
      const out = JSON.parse(line) as { outputs: { logits: number[][]; aux?: number[][] } };
      return { logits: rows(out.outputs.logits), ...(out.outputs.aux ? { aux: rows(out.outputs.aux) } : {}) };
    });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** What a reference depends on: the graph, the weights, the input, the precision and the script. */
async function folderKey(dir: string, dtype = 'float64'): Promise<string> {
  const hash = createHash('sha256').update(dtype).update(readFileSync(join(ROOT, 'fixtures/tf_reference.py')));
  for (const f of ['graph.json', 'weights.json', 'input.npy']) hash.update(readFileSync(join(dir, f)));
  hash.update(await sha256File(join(dir, 'weights.bin')));
  return hash.digest('hex').slice(0, 16);
}

/** One model in TensorFlow (see tfReferences). */
export async function tfReference(py: Python, model: CanonicalModel, input: ReferenceJob['input'], options: { dtype?: 'float64' | 'float32' } = {}): Promise<ReferenceOutputs> {
  return (await tfReferences(py, [{ model, input }], options))[0];
}
