/**
 * The Python environments that tests use to make fixtures with the real producers and to check
 * outputs with real consumers (scripts/python-env.sh creates them under the cache folder).
 * A test that needs one calls `python('tf' | 'torch')`; when the environment is missing it gets
 * the reason, to skip with (`it.skipIf(!py.ok)` and the reason in the test's name or a log line).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CACHE = process.env.WEIGHTPORT_CACHE ?? join(homedir(), '.cache', 'weightport');

/** A folder under the cache (created), for generated full-size files. */
export function cacheDir(...parts: string[]): string {
  const dir = join(CACHE, ...parts);
  mkdirSync(dir, { recursive: true });
  return dir;
}

export type PythonEnv = 'tf' | 'torch';

export interface Python {
  readonly ok: boolean;
  /** Why it is unavailable (when !ok). */
  readonly reason: string;
  readonly bin: string;
  /** Runs a script from the repo (path relative to the root) with arguments; throws with its stderr on failure. */
  run(script: string, args?: readonly string[], options?: { timeoutMs?: number }): string;
}

const cached = new Map<PythonEnv, Python>();

export function python(env: PythonEnv): Python {
  const hit = cached.get(env);
  if (hit) return hit;
  const bin = join(CACHE, `venv-${env}`, 'bin', 'python');
  let reason = '';
  if (!existsSync(bin)) {
    const r = spawnSync('bash', [join(ROOT, 'scripts/python-env.sh'), env], { encoding: 'utf8', timeout: 20 * 60_000 });
    if (r.status !== 0 || !existsSync(bin)) reason = `the Python '${env}' environment could not be created: ${(r.stderr || '').trim().split('\n').at(-1)}`;
  }
  const py: Python = {
    ok: !reason,
    reason,
    bin,
    run(script, args = [], options = {}) {
      const r = spawnSync(bin, [join(ROOT, script), ...args], {
        encoding: 'utf8',
        cwd: ROOT,
        timeout: options.timeoutMs ?? 20 * 60_000,
        env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3', PYTHONHASHSEED: '0', CUDA_VISIBLE_DEVICES: '' },
        maxBuffer: 64 << 20,
      });
      if (r.status !== 0) throw new Error(`${script} ${args.join(' ')} failed (${r.status ?? r.signal}):\n${(r.stderr || '').slice(-4000)}`);
      return r.stdout;
    },
  };
  cached.set(env, py);
  return py;
}
