/**
 * timm (PyTorch) as the reference consumer and producer of timm-named safetensors, through
 * fixtures/timm_fixtures.py in the 'torch' environment; and the logits comparisons the timm and
 * safetensors tests share.
 */
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Arch } from '../../src/graphs/ir.js';
import { readNpy, writeNpy } from '../../src/io/npy.js';
import { defaultInput } from '../../src/parity/input.js';
import type { Python } from './python.js';

export const TIMM_SCRIPT = 'fixtures/timm_fixtures.py';

/** Writes the default parity input (299) as .npy into `dir` once; returns its path. */
export async function defaultInputNpy(dir: string): Promise<string> {
  const path = join(dir, 'input.npy');
  if (!existsSync(path)) {
    const x = defaultInput();
    await writeNpy(path, x.data, x.dims);
  }
  return path;
}

export interface TimmJob {
  readonly arch: Arch;
  readonly weights: string;
  readonly input: string;
  readonly out: string;
  readonly classes?: number;
  readonly width_divisor?: number;
}

/** Loads each file into timm's model with load_state_dict(strict=True) and returns its logits. */
export async function timmLogits(py: Python, dir: string, jobs: readonly TimmJob[]): Promise<Float32Array[]> {
  const jobsFile = join(dir, `jobs-${process.pid}-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(jobsFile, JSON.stringify(jobs));
  try {
    py.run(TIMM_SCRIPT, ['run', '--jobs', jobsFile]);
  } finally {
    rmSync(jobsFile, { force: true });
  }
  return Promise.all(jobs.map(async (j) => (await readNpy(j.out)).data));
}

/** Indices of the k largest values, largest first. */
export function topK(values: Float32Array, k = 5): number[] {
  return [...values.keys()].sort((a, b) => values[b] - values[a]).slice(0, k);
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

export function std(a: Float32Array): number {
  const mean = a.reduce((s, x) => s + x, 0) / a.length;
  return Math.sqrt(a.reduce((s, x) => s + (x - mean) ** 2, 0) / a.length);
}

/** Logits that are not degenerate: a spread and five distinct, separated top values. */
export function assertNonDegenerate(logits: Float32Array): void {
  if (!(std(logits) > 0.5)) throw new Error(`degenerate logits: std ${std(logits)}`);
  const top = topK(logits, 6).map((i) => logits[i]);
  for (let i = 0; i < 5; i++) if (!(top[i] - top[i + 1] > 1e-3)) throw new Error(`top-5 not distinct: ${top}`);
}
