/**
 * Buffers for tensor bytes, reused by size. Readers that hand out a new buffer per read take it
 * from here; a writer that owns what it read (CanonicalParam.freshReads) gives the buffer back
 * once its bytes are on disk, and the next tensor of that size is read into it. Inception's
 * blocks repeat, so most sizes come back many times: on the 2-vCPU machines a new buffer's page
 * faults and the garbage collections it causes cost about as much as reading the bytes.
 */

/** Bytes kept for reuse at most; beyond that a buffer given back is left to the collector. */
const MAX_KEPT_BYTES = 64 << 20;

const kept = new Map<number, ArrayBuffer[]>();
let keptBytes = 0;
/** Buffers handed out and not given back: only these are ever taken back. */
const lent = new WeakSet<ArrayBuffer>();

/** A buffer of exactly `length` bytes, not zeroed: the caller fills all of it. */
export function takeBuffer(length: number): Uint8Array {
  const buffer = kept.get(length)?.pop();
  if (buffer) keptBytes -= length;
  const b = buffer ?? new ArrayBuffer(length);
  lent.add(b);
  return new Uint8Array(b);
}

/**
 * Gives back the buffer under `bytes` for reuse: only a whole buffer that `takeBuffer` handed
 * out (anything else is ignored), and only by the one owner, once nothing refers to it any more.
 */
export function giveBack(bytes: ArrayBufferView): void {
  const b = bytes.buffer;
  if (!(b instanceof ArrayBuffer) || !lent.has(b) || bytes.byteOffset !== 0 || bytes.byteLength !== b.byteLength) return;
  lent.delete(b);
  if (b.byteLength === 0 || keptBytes + b.byteLength > MAX_KEPT_BYTES) return;
  const list = kept.get(b.byteLength);
  if (list) list.push(b);
  else kept.set(b.byteLength, [b]);
  keptBytes += b.byteLength;
}

/** `takeBuffer` for `length` float32 values. */
export const takeFloats = (length: number): Float32Array => new Float32Array(takeBuffer(length * 4).buffer);
