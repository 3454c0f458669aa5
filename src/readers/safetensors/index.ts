/**
 * The safetensors reader. `open` reads the 8-byte length and the JSON header only, validates them
 * (spec.ts, as strictly as the reference implementation) and returns tensors whose `read()` reads
 * exactly their byte range through one shared file handle: nothing of the data is read before.
 *
 * `SourceModel.metadata`: `headerLength`, `dataOffset` and, when the file has one, `__metadata__`
 * (the file's string -> string map, as stored).
 */
import type { FileHandle } from 'node:fs/promises';
import { openRegular } from '../../io/files.js';
import { FormatError } from '../../errors.js';
import type { Probe, Reader, SourceModel, StoredTensor } from '../types.js';
import { FORMAT, LENGTH_BYTES, looksLikeSafetensors, parseHeader, parseHeaderLength, type Header } from './spec.js';
import { giveBack, takeBuffer } from '../../io/pool.js';

/** Reads exactly `length` bytes at `position`, or fails naming what is missing. */
async function readExactly(fh: FileHandle, length: number, position: number, file: string, tensor?: string): Promise<Uint8Array> {
  // Not zero-filled (every byte is read over), memory of its own (64-byte aligned, so that float
  // data converts without a copy), reused once a writer has written it (io/pool).
  const out = takeBuffer(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(out, done, length - done, position + done);
    if (bytesRead === 0)
      throw new FormatError(FORMAT, { file, tensor, offset: position + done }, `the file ends ${length - done} bytes early (was it truncated while open?)`);
    done += bytesRead;
  }
  return out;
}

/** Reads and validates the header of an open file. */
export async function readHeader(fh: FileHandle, file: string): Promise<Header> {
  const { size } = await fh.stat();
  // Both parsed into values of their own: their memory goes back to io/pool at once (kept, an
  // arena place would stay lent for good).
  const first = await readExactly(fh, Math.min(LENGTH_BYTES, size), 0, file);
  let n: number;
  try {
    n = parseHeaderLength(first, size, file); // bounded by the cap and the file size before allocating
  } finally {
    giveBack(first);
  }
  const json = await readExactly(fh, n, LENGTH_BYTES, file);
  try {
    return parseHeader(json, size, file);
  } finally {
    giveBack(json);
  }
}

export async function openSafetensors(path: string): Promise<SourceModel> {
  let fh: FileHandle;
  try {
    fh = await openRegular(path);
  } catch (e) {
    throw new FormatError(FORMAT, { file: path }, `cannot open: ${(e as Error).message}`, { cause: e });
  }
  let header: Header;
  try {
    header = await readHeader(fh, path);
  } catch (e) {
    await fh.close();
    throw e;
  }
  let closed = false;
  const tensors: StoredTensor[] = header.tensors.map((t) => {
    const offset = header.dataStart + t.begin;
    const byteLength = t.end - t.begin;
    return {
      name: t.name,
      dtype: t.dtype,
      shape: t.shape,
      byteLength,
      file: path,
      offset,
      freshReads: true, // readExactly allocates per read
      read: () => {
        if (closed) return Promise.reject(new FormatError(FORMAT, { file: path, tensor: t.name }, 'read after close'));
        return readExactly(fh, byteLength, offset, path, t.name);
      },
    };
  });
  return {
    format: 'safetensors',
    path,
    files: [path],
    metadata: {
      headerLength: header.headerLength,
      dataOffset: header.dataStart,
      ...(header.metadata ? { __metadata__: header.metadata } : {}),
    },
    tensors,
    async close() {
      if (closed) return;
      closed = true;
      await fh.close();
    },
  };
}

export const safetensorsReader: Reader = {
  format: 'safetensors',
  description: 'safetensors (Hugging Face): u64 header length, JSON header, raw little-endian data',
  match: (probe: Probe) => !probe.isDirectory && looksLikeSafetensors(probe.head, probe.size),
  open: (path) => openSafetensors(path),
};
