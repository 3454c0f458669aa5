/** Byte-range reads from a file (checkpoints are read lazily: only the ranges asked for). */
import type { FileHandle } from 'node:fs/promises';
import { openRegular } from '../../io/files.js';
import { FormatError } from '../../errors.js';
import { takeBuffer } from '../../io/pool.js';

export const FORMAT = 'tf';

export interface RangeFile {
  readonly path: string;
  readonly size: number;
  /**
   * Exactly `length` bytes at `offset`; a FormatError when the file is shorter. In memory from
   * io/pool (for a tensor that a writer gives back once written) unless `pooled` is false (a block
   * that is parsed and dropped: a pool place never given back is lost to the pool, for good in its
   * arena, and in a slab it keeps the rest of the slab from being reused).
   */
  read(offset: number, length: number, tensor?: string, pooled?: boolean): Promise<Uint8Array>;
  close(): Promise<void>;
}

export async function openRangeFile(path: string): Promise<RangeFile> {
  let fh: FileHandle;
  try {
    fh = await openRegular(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new FormatError(FORMAT, { file: path }, `cannot open: ${err.code === 'ENOTREG' ? err.message : (err.code ?? err.message)}`, { cause: e });
  }
  const size = (await fh.stat()).size;
  let closed = false;
  return {
    path,
    size,
    async read(offset, length, tensor, pooled = true) {
      if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size)
        throw new FormatError(FORMAT, { file: path, tensor, offset }, `${length} bytes at ${offset} run past the end of the ${size}-byte file`);
      const buf = pooled ? takeBuffer(length) : new Uint8Array(Buffer.allocUnsafeSlow(length).buffer, 0, length); // filled completely below
      let done = 0;
      while (done < length) {
        const { bytesRead } = await fh.read(buf, done, length - done, offset + done);
        if (bytesRead === 0) throw new FormatError(FORMAT, { file: path, tensor, offset: offset + done }, 'file ended early (changed while reading?)');
        done += bytesRead;
      }
      return buf;
    },
    async close() {
      if (closed) return;
      closed = true;
      await fh.close();
    },
  };
}

/** A file already in memory, as a RangeFile (tests and small index files). */
export function memoryFile(path: string, bytes: Uint8Array): RangeFile {
  return {
    path,
    size: bytes.length,
    async read(offset, length, tensor) {
      if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > bytes.length)
        throw new FormatError(FORMAT, { file: path, tensor, offset }, `${length} bytes at ${offset} run past the end of the ${bytes.length}-byte file`);
      return bytes.subarray(offset, offset + length);
    },
    async close() {},
  };
}
