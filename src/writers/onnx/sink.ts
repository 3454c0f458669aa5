/**
 * A sequential file writer for large outputs: small pieces (protobuf framing) are gathered in a
 * buffer, large ones (tensor data) go straight from the caller's array to the file, uncopied.
 */
import { open } from 'node:fs/promises';

export interface Sink {
  /** Bytes written so far (the offset of the next byte). */
  readonly position: number;
  write(bytes: Uint8Array): Promise<void>;
  /** Writes zeros up to `offset` (alignment padding). */
  padTo(offset: number): Promise<void>;
  /** Flushes and closes; safe to call twice. */
  close(): Promise<void>;
}

/** Pieces under this size are buffered; the buffer is flushed when full. */
const BUFFER_BYTES = 1 << 20;

export async function openSink(path: string): Promise<Sink> {
  const fh = await open(path, 'w');
  const buffer = new Uint8Array(BUFFER_BYTES);
  let buffered = 0;
  let position = 0;
  let closed = false;

  // A write to a regular file may still be partial (a signal, a full disk): loop until done.
  const writeAll = async (bytes: Uint8Array) => {
    for (let at = 0; at < bytes.length; ) at += (await fh.write(bytes, at, bytes.length - at)).bytesWritten;
  };
  const flush = async () => {
    if (buffered === 0) return;
    await writeAll(buffer.subarray(0, buffered));
    buffered = 0;
  };
  const write = async (bytes: Uint8Array) => {
    position += bytes.length;
    if (buffered + bytes.length <= BUFFER_BYTES) {
      buffer.set(bytes, buffered);
      buffered += bytes.length;
      return;
    }
    await flush();
    if (bytes.length < BUFFER_BYTES / 4) {
      buffer.set(bytes);
      buffered = bytes.length;
    } else await writeAll(bytes);
  };

  return {
    get position() {
      return position;
    },
    write,
    async padTo(offset) {
      if (offset < position) throw new RangeError(`cannot pad back from ${position} to ${offset}`);
      if (offset > position) await write(new Uint8Array(offset - position));
    },
    async close() {
      if (closed) return;
      closed = true;
      try {
        await flush();
      } finally {
        await fh.close();
      }
    },
  };
}
