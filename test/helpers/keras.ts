/**
 * Keras fixtures (fixtures/keras_fixtures.py, run with python('tf')): the committed thin ones in
 * fixtures/keras/, the others generated once into the cache folder and reused while the script is
 * unchanged (the folder name carries the script's hash).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDir, python, ROOT } from './python.js';
import { defaultInputNpy } from './timm.js';

export const KERAS_SCRIPT = 'fixtures/keras_fixtures.py';
/** Committed thin fixtures (fixtures/keras/README.md). */
export const COMMITTED = join(ROOT, 'fixtures', 'keras');

const scriptHash = () => createHash('sha256').update(readFileSync(join(ROOT, KERAS_SCRIPT))).digest('hex').slice(0, 10);

export interface Fixtures {
  readonly ok: boolean;
  /** Why they are missing (when !ok). */
  readonly reason: string;
  readonly dir: string;
}

/** Runs a sub-command of the script into a cache folder once; the folder is the cache key. */
async function generate(kind: 'thin' | 'full', args: string[] = [], timeoutMs = 30 * 60_000): Promise<Fixtures> {
  const py = python('tf');
  const dir = cacheDir('keras', `${kind}-${scriptHash()}`);
  const stamp = join(dir, 'done.json');
  if (existsSync(stamp)) return { ok: true, reason: '', dir };
  if (!py.ok) return { ok: false, reason: py.reason, dir };
  const input = await defaultInputNpy(dir);
  const out = py.run(KERAS_SCRIPT, [kind, '--out', dir, '--input', input, ...args], { timeoutMs });
  writeFileSync(stamp, out);
  return { ok: true, reason: '', dir };
}

/** The thin (width / 8) fixtures of every model and format, generated when Python is available. */
export const thinFixtures = (): Promise<Fixtures> => generate('thin');

/** keras.applications.InceptionResNetV2 at full size in the four formats (about 900 MB). */
export const fullFixtures = (): Promise<Fixtures> => generate('full');
