/** The cheap look at a path that readers' `match` functions take. */
import { readdir, stat } from 'node:fs/promises';
import { openRegular } from './files.js';
import { basename, dirname } from 'node:path';
import { FormatError } from '../errors.js';
import type { Probe } from '../readers/types.js';

export const PROBE_HEAD_BYTES = 4096;

export async function probePath(path: string): Promise<Probe> {
  let info;
  try {
    info = await stat(path);
  } catch {
    // A TF checkpoint is named by a prefix that is not itself a file.
    const siblings = await readdir(dirname(path)).catch(() => [] as string[]);
    const prefix = basename(path);
    if (siblings.some((s) => s.startsWith(`${prefix}.`)))
      return { path, isDirectory: false, size: 0, head: new Uint8Array(0), siblings };
    throw new FormatError('input', { file: path }, 'no such file or folder');
  }
  if (info.isDirectory()) return { path, isDirectory: true, size: 0, head: new Uint8Array(0), siblings: await readdir(path) };
  const fh = await openRegular(path).catch((e: NodeJS.ErrnoException) => {
    throw new FormatError('input', { file: path }, e.code === 'ENOTREG' ? `${e.message}: give a model file, folder or checkpoint prefix` : `cannot open: ${e.message}`, { cause: e });
  });
  try {
    const head = new Uint8Array(Math.min(PROBE_HEAD_BYTES, info.size));
    await fh.read(head, 0, head.length, 0);
    return { path, isDirectory: false, size: info.size, head, siblings: await readdir(dirname(path)) };
  } finally {
    await fh.close();
  }
}
