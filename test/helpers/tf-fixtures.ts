/**
 * TensorFlow checkpoint fixtures: the committed thin ones (fixtures/tf) and those made on demand
 * into the cache folder by fixtures/tf_fixtures.py (thin, every kind) and
 * fixtures/timm_reference.py (full size, with timm's outputs).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Arch } from '../../src/graphs/ir.js';
import { cacheDir, python, ROOT } from './python.js';

export const KINDS = ['v1', 'v2', 'v2_sharded', 'savedmodel'] as const;
export type Kind = (typeof KINDS)[number];

/** The path `port` takes for each kind, inside a fixture folder. */
export const KIND_PATH: Record<Kind, string> = {
  v1: 'v1/model.ckpt',
  v2: 'v2/model.ckpt',
  v2_sharded: 'v2_sharded/model.ckpt',
  savedmodel: 'savedmodel',
};

export interface ListedVariable {
  readonly name: string;
  readonly shape: number[];
  readonly dtype: string;
}

export interface TfFixture {
  readonly arch: Arch;
  readonly widthDivisor: number;
  readonly dir: string;
  readonly kinds: readonly Kind[];
  /** tf.train.list_variables (+ dtype) per kind; `savedmodel_keys`: checkpoint key -> variable name. */
  readonly listing: Record<string, ListedVariable[]> & { savedmodel_keys?: Record<string, string> };
}

const load = (arch: Arch, widthDivisor: number, dir: string, kinds: readonly Kind[]): TfFixture => ({
  arch,
  widthDivisor,
  dir,
  kinds,
  listing: JSON.parse(readFileSync(join(dir, 'list_variables.json'), 'utf8')),
});

/** The committed fixtures (always there). */
export const COMMITTED: readonly TfFixture[] = [
  load('inception_resnet_v2', 16, join(ROOT, 'fixtures/tf/inception_resnet_v2_d16'), ['v1']),
  load('inception_v4', 16, join(ROOT, 'fixtures/tf/inception_v4_d16'), ['v2_sharded']),
];

/** Thin fixtures of every kind (made once into the cache), or the reason they cannot be. */
export function thinFixture(arch: Arch, widthDivisor = 8): TfFixture | { skip: string } {
  const py = python('tf');
  const dir = cacheDir('tf', `${arch}_d${widthDivisor}`);
  const done = join(dir, 'done.json');
  if (!existsSync(done)) {
    if (!py.ok) return { skip: py.reason };
    py.run('fixtures/tf_fixtures.py', ['--arch', arch, '--width-divisor', String(widthDivisor), '--out', dir, '--kinds', KINDS.join(',')]);
    writeFileSync(done, JSON.stringify({ kinds: KINDS }));
  }
  return load(arch, widthDivisor, dir, KINDS);
}

/** Full-size V1 and V2 checkpoints with timm's logits on the same numbers (cache), or why not. */
export function fullFixture(arch: Arch): (TfFixture & { timm: string }) | { skip: string } {
  const dir = cacheDir('tf', `${arch}_full`);
  const timm = join(dir, 'timm_logits.npy');
  if (!existsSync(timm)) {
    const tf = python('tf');
    if (!tf.ok) return { skip: tf.reason };
    const torch = python('torch');
    if (!torch.ok) return { skip: torch.reason };
    if (!existsSync(join(dir, 'order.json')))
      tf.run('fixtures/tf_fixtures.py', ['--arch', arch, '--out', dir, '--kinds', 'v1,v2', '--npz'], { timeoutMs: 30 * 60_000 });
    torch.run('fixtures/timm_reference.py', ['--arch', arch, '--dir', dir]);
  }
  return { ...load(arch, 1, dir, ['v1', 'v2']), timm };
}
