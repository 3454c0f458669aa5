/**
 * TensorFlow as the independent reference for the canonical graph (fixtures/tf_reference.py): the
 * model's graph and weights are handed over in a temporary folder, TF runs them with its own ops
 * and returns the outputs.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { open, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeNpy } from '../../src/io/npy.js';
import type { CanonicalModel } from '../../src/model.js';
import { bytesOf } from '../../src/tensor.js';
import type { Python } from './python.js';

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
 * (TensorFlow's import is the slow part).
 */
export async function tfReferences(py: Python, jobs: readonly ReferenceJob[], options: { dtype?: 'float64' | 'float32' } = {}): Promise<ReferenceOutputs[]> {
  const root = mkdtempSync(join(tmpdir(), 'wp-tfref-'));
  try {
    const dirs = jobs.map((_, i) => join(root, String(i)));
    for (const [i, job] of jobs.entries()) {
      mkdirSync(dirs[i]);
      await writeReferenceFolder(job.model, job.input, dirs[i]);
    }
    const lines = py.run('fixtures/tf_reference.py', [...dirs, '--dtype', options.dtype ?? 'float64']).trim().split('\n');
    const rows = (xs: number[][]) => xs.map((r) => Float64Array.from(r));
    return lines.map((line) => {
      const out = JSON.parse(line) as { outputs: { logits: number[][]; aux?: number[][] } };
      return { logits: rows(out.outputs.logits), ...(out.outputs.aux ? { aux: rows(out.outputs.aux) } : {}) };
    });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** One model in TensorFlow (see tfReferences). */
export async function tfReference(py: Python, model: CanonicalModel, input: ReferenceJob['input'], options: { dtype?: 'float64' | 'float32' } = {}): Promise<ReferenceOutputs> {
  return (await tfReferences(py, [{ model, input }], options))[0];
}
