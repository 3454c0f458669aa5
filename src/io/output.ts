/**
 * Atomic outputs: every file is written under a temporary name beside its target and renamed only
 * when all of them are complete. Nothing is overwritten without `force`, nothing is left behind on
 * error, nor on Ctrl-C or a kill (SIGINT, SIGTERM, SIGHUP) while outputs are being written.
 */
import { constants, existsSync, renameSync, rmSync } from 'node:fs';
import { access, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { OutputError } from '../errors.js';
import { onInterrupt, removeOnInterrupt } from './interrupt.js';

/** Checks that `target` may be written: its folder exists and is writable; it exists only with force. */
export const checkOutput = (target: string, force = false): Promise<void> => checkOutputs([target], force);

/** The folder of `target` exists and is writable. */
async function checkFolder(target: string): Promise<void> {
  const dir = dirname(target);
  let info;
  try {
    info = await stat(dir);
  } catch {
    throw new OutputError(target, `the folder ${dir} does not exist`);
  }
  if (!info.isDirectory()) throw new OutputError(target, `${dir} is not a folder`);
  try {
    await access(dir, constants.W_OK);
  } catch {
    throw new OutputError(target, `the folder ${dir} is not writable`);
  }
}

/**
 * checkOutput for many targets: each folder checked once, the targets' existence all at once (a
 * tfjs model is 55 files in one folder); the first failure in target order is thrown.
 */
async function checkOutputs(targets: readonly string[], force = false): Promise<void> {
  const firstIn = new Map<string, string>();
  for (const t of targets) if (!firstIn.has(dirname(t))) firstIn.set(dirname(t), t);
  for (const t of firstIn.values()) await checkFolder(t);
  const found = await Promise.all(targets.map((t) => stat(t).catch(() => undefined)));
  // Found before the conversion, not by the final rename once everything is written (EISDIR).
  const folder = targets.find((_, i) => found[i]?.isDirectory());
  if (folder !== undefined) throw new OutputError(folder, 'is a folder: give the path of the file to write');
  if (force) return;
  const taken = targets.find((_, i) => found[i] !== undefined);
  if (taken !== undefined) throw new OutputError(taken, 'exists already (use --force to overwrite)');
}

/** File-system failures that mean "this output cannot be written here" (exit code 4), not a bug. */
const OUTPUT_ERRNOS = new Set(['EACCES', 'EPERM', 'ENOSPC', 'EROFS', 'EDQUOT', 'ENOENT', 'ENOTDIR', 'EISDIR', 'EEXIST', 'EFBIG', 'ENAMETOOLONG']);

/**
 * Renames `from` to `target`. An existing target is first moved aside and deleted afterwards:
 * renaming over an existing file makes ext4 (auto_da_alloc) write the new file back to disk at
 * once, which took 0.1-0.5 s for a 220 MB model here and slowed the writes that followed; a rename
 * onto a free name does not. A reader sees the old file, no file for an instant, or the new one,
 * never a partial file.
 */
async function replace(from: string, target: string, aside: string): Promise<void> {
  // Only a file is moved aside: a folder in the way fails the rename below as before (EISDIR).
  // Interrupted meanwhile: the old file goes back, or, once the new one is in place, away.
  const release = onInterrupt(() => (existsSync(target) ? rmSync(aside, { force: true }) : renameSync(aside, target)));
  try {
    const moved = (await stat(target).catch(() => undefined))?.isFile() === true && (await rename(target, aside), true);
    try {
      await rename(from, target);
    } catch (e) {
      if (moved) await rename(aside, target).catch(() => undefined);
      throw e;
    }
    if (moved) await rm(aside, { force: true });
  } finally {
    release();
  }
}

/**
 * Runs `fill` with a temporary path for each target, awaits `beforeCommit`, then renames them all
 * into place: the first target (the file a consumer opens: the .onnx, the tfjs model.json) last,
 * once the others are there; the others all at once (each rename is a few system calls, 55 files
 * in a row took 40-60 ms). The targets are checked first (checkOutput); on any error the
 * temporary files are removed, and the first target is the one an OutputError names.
 */
export async function writeOutputs<T>(
  targets: readonly string[],
  options: { force?: boolean; beforeCommit?: () => Promise<void> },
  fill: (tmp: (target: string) => string) => Promise<T>,
): Promise<T> {
  await checkOutputs(targets, options.force);
  const suffix = `.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const tmpOf = new Map(targets.map((t) => [t, join(dirname(t), `.${basename(t)}${suffix}`)]));
  const tmp = (target: string): string => {
    const p = tmpOf.get(target);
    if (!p) throw new Error(`${target} is not a declared output`);
    return p;
  };
  const release = removeOnInterrupt(...tmpOf.values());
  try {
    const result = await fill(tmp);
    await options.beforeCommit?.();
    const put = (target: string) => replace(tmpOf.get(target)!, target, `${join(dirname(target), `.${basename(target)}`)}${suffix}.old`);
    await Promise.all(targets.slice(1).map(put));
    await put(targets[0]);
    return result;
  } catch (e) {
    await Promise.all([...tmpOf.values()].map((p) => rm(p, { force: true })));
    if (e instanceof OutputError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== undefined && OUTPUT_ERRNOS.has(code))
      throw new OutputError(targets[0], `cannot write: ${(e as Error).message}`, { cause: e });
    throw e;
  } finally {
    release();
  }
}
