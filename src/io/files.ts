/**
 * Opening files that a user (or a model's own file list) names. A named pipe opened for reading
 * waits for a writer, for ever if none comes, and a device can be endless: every such file is
 * opened without waiting (O_NONBLOCK, which changes nothing for a regular file) and refused
 * unless it is a regular file, with an error coded ENOTREG that the callers turn into their typed
 * errors as they do for a missing file.
 */
import { closeSync, constants, fstatSync, openSync, type Stats } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';

/** O_NONBLOCK where the platform has it (not on Windows, which has no named pipes in the file system). */
const READ_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0);

function notRegular(path: string, what: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${what}, not a regular file`), { code: 'ENOTREG', path });
}

const kindOf = (s: Stats): string =>
  s.isFIFO() ? 'a named pipe' : s.isSocket() ? 'a socket' : s.isCharacterDevice() || s.isBlockDevice() ? 'a device' : s.isDirectory() ? 'a folder' : 'not a file';

/** Opens a regular file for reading; anything else is refused (code ENOTREG) without waiting. */
export async function openRegular(path: string): Promise<FileHandle> {
  const fh = await open(path, READ_FLAGS);
  const info = await fh.stat().catch(async (e: unknown) => {
    await fh.close();
    throw e;
  });
  if (info.isFile()) return fh;
  await fh.close();
  throw notRegular(path, kindOf(info));
}

/** openRegular, synchronously: a descriptor. */
export function openRegularSync(path: string): number {
  const fd = openSync(path, READ_FLAGS);
  let info;
  try {
    info = fstatSync(fd);
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  if (info.isFile()) return fd;
  closeSync(fd);
  throw notRegular(path, kindOf(info));
}

/** The whole of a regular file (readFile for paths that may name a pipe or a device). */
export async function readRegularFile(path: string): Promise<Buffer> {
  const fh = await openRegular(path);
  try {
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}
