/**
 * Memory for tensor bytes, reused. Readers that hand out a new buffer per read take it from here;
 * a writer that owns what it read (CanonicalParam.freshReads) gives it back once its bytes are on
 * disk, and later reads land in the same memory. Memory the process has not touched before costs
 * a page fault per 4 KiB on first use, and new ArrayBuffers make V8 collect garbage each time
 * 64 MB more of them are alive: reading the 214 MB of IRv2 into new buffers took 95-190 ms of
 * system time here, into reused ones 50 (and a conversion allocates the whole model's size).
 *
 * Requests are served first from the arena: one WebAssembly memory of ARENA_BYTES, allocated
 * once and never grown, in which requests take the lowest free 64-byte aligned place (a
 * conversion has about 40 MB lent at a time, so it keeps touching the same 40-50 MB). The
 * transposes of graphs/layout-wasm.ts run in this memory itself: a kernel read here is laid out
 * into another place here with no copy in or out of WebAssembly. A place that is never given back
 * (a conversion that failed midway, a library user keeping the array) stays lent for the life of
 * the process: no collector can tell when the last view of it is gone. The arena then has less
 * room, and what does not fit is served as below, as it was before the arena.
 *
 * Where the arena is full (or WebAssembly is missing), up to SMALL_MAX bytes come from slabs:
 * views at 64-byte aligned offsets of SLAB_BYTES buffers, handed out one after another. A
 * conversion gives its tensors back in about the order it took them (read ahead, converted,
 * written behind), so a slab whose views have all come back is used again from its start. Larger
 * requests get a buffer of their own, reused by exact size (Inception's blocks repeat, so most
 * sizes come back). Whatever is never given back is left to the collector: a slab lives while
 * any of its views does.
 */

/** The arena's size: room for a conversion's read-ahead and write-behind with space to spare. */
const ARENA_BYTES = 64 << 20;
/** Largest request served from the arena. */
const ARENA_MAX = 16 << 20;
const SLAB_BYTES = 32 << 20;
/** Largest request served from a slab (a quarter of one: little is left unused at a slab's end). */
const SMALL_MAX = SLAB_BYTES / 4;
const ALIGN = 64;
/** Free slabs and own-size buffers kept for reuse at most; beyond that, left to the collector. */
const MAX_KEPT_BYTES = 64 << 20;

// --- the arena ------------------------------------------------------------------------------------

interface Arena {
  readonly memory: WebAssembly.Memory;
  readonly buffer: ArrayBuffer;
  /** Places lent, sorted by offset: [offset, end) with end 64-byte aligned, and the length lent. */
  readonly lent: { at: number; end: number; length: number }[];
}
let arena: Arena | null | undefined;

/** The arena, made on first use; null where WebAssembly is missing or the memory cannot be had. */
function getArena(): Arena | null {
  if (arena !== undefined) return arena;
  arena = null;
  try {
    const pages = ARENA_BYTES / 65536;
    // fixed size: growing would detach `buffer`, and with it every view lent
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
    arena = { memory, buffer: memory.buffer, lent: [] };
  } catch {
    arena = null;
  }
  return arena;
}

/** The WebAssembly memory the arena's views are of (graphs/layout-wasm.ts transposes in it), or null. */
export function arenaMemory(): WebAssembly.Memory | null {
  return getArena()?.memory ?? null;
}

/** Bytes of the arena lent and not given back (tests: a conversion gives back all it took). */
export function arenaLentBytes(): number {
  return arena ? arena.lent.reduce((sum, p) => sum + p.length, 0) : 0;
}

/** Index of the place lent at `at`, or -1. */
function lentAt(a: Arena, at: number): number {
  let lo = 0;
  let hi = a.lent.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const x = a.lent[mid].at;
    if (x === at) return mid;
    if (x < at) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/** The lowest free place for `length` bytes, lent; undefined when the arena has none. */
function fromArena(length: number): Uint8Array | undefined {
  const a = getArena();
  if (!a) return undefined;
  const size = Math.ceil(length / ALIGN) * ALIGN;
  let at = 0;
  let i = 0;
  for (; i < a.lent.length && a.lent[i].at - at < size; i++) at = a.lent[i].end;
  if (at + size > ARENA_BYTES) return undefined;
  a.lent.splice(i, 0, { at, end: at + size, length });
  return new Uint8Array(a.buffer, at, length);
}

// --- slabs and buffers of their own --------------------------------------------------------------

interface Slab {
  readonly buffer: ArrayBuffer;
  /** Next free byte. */
  used: number;
  /** Offset -> length of each view lent and not given back. */
  readonly lent: Map<number, number>;
}

/** The slab being handed out, and slabs all of whose views came back. */
let current: Slab | undefined;
const freeSlabs: Slab[] = [];
const slabOf = new WeakMap<ArrayBuffer, Slab>();

const kept = new Map<number, ArrayBuffer[]>();
let keptBytes = 0;
/** Own-size buffers handed out and not given back (only these are ever taken back), and the length lent. */
const lentWhole = new WeakMap<ArrayBuffer, number>();

function newSlab(): Slab {
  const reused = freeSlabs.pop();
  if (reused) {
    keptBytes -= SLAB_BYTES;
    return reused;
  }
  const slab: Slab = { buffer: new ArrayBuffer(SLAB_BYTES), used: 0, lent: new Map() };
  slabOf.set(slab.buffer, slab);
  return slab;
}

/** A buffer of exactly `length` bytes, not zeroed: the caller fills all of it. */
export function takeBuffer(length: number): Uint8Array {
  if (length > 0 && length <= ARENA_MAX) {
    const placed = fromArena(length);
    if (placed) return placed;
  }
  if (length > 0 && length <= SMALL_MAX) {
    if (!current || current.used + length > SLAB_BYTES) current = newSlab();
    const at = current.used;
    current.used = Math.ceil((at + length) / ALIGN) * ALIGN;
    current.lent.set(at, length);
    return new Uint8Array(current.buffer, at, length);
  }
  const buffer = kept.get(length)?.pop();
  if (buffer) keptBytes -= length;
  const b = buffer ?? new ArrayBuffer(length);
  lentWhole.set(b, length);
  return new Uint8Array(b);
}

/**
 * The first `length` bytes of `bytes`, a buffer `takeBuffer` handed out and not given back, which
 * is lent from now on as that shorter view (giveBack takes that view); undefined for anything else.
 * A reader that has moved a value to the start of a block it read keeps the block's memory as the
 * value's instead of copying the value into new memory.
 */
export function lendPrefix(bytes: Uint8Array, length: number): Uint8Array | undefined {
  const b = bytes.buffer;
  if (!(b instanceof ArrayBuffer) || !(length >= 0 && length <= bytes.byteLength)) return undefined;
  if (arena && b === arena.buffer) {
    const i = lentAt(arena, bytes.byteOffset);
    const place = arena.lent[i];
    if (!place || place.length !== bytes.byteLength) return undefined;
    place.length = length;
    place.end = place.at + Math.max(ALIGN, Math.ceil(length / ALIGN) * ALIGN); // the rest is free again (a place never empty: offsets stay apart)
    return bytes.subarray(0, length);
  }
  const slab = slabOf.get(b);
  if (slab) {
    if (slab.lent.get(bytes.byteOffset) !== bytes.byteLength) return undefined;
    slab.lent.set(bytes.byteOffset, length);
    return bytes.subarray(0, length);
  }
  if (lentWhole.get(b) !== bytes.byteLength || bytes.byteOffset !== 0) return undefined;
  lentWhole.set(b, length);
  return bytes.subarray(0, length);
}

/**
 * Gives back the memory under `bytes` for reuse: only exactly what `takeBuffer` handed out (a view
 * of it as another type included; anything else is ignored), and only by its one owner, once
 * nothing refers to it any more.
 */
export function giveBack(bytes: ArrayBufferView): void {
  const b = bytes.buffer;
  if (!(b instanceof ArrayBuffer)) return;
  if (arena && b === arena.buffer) {
    const i = lentAt(arena, bytes.byteOffset);
    if (i >= 0 && arena.lent[i].length === bytes.byteLength) arena.lent.splice(i, 1);
    return;
  }
  const slab = slabOf.get(b);
  if (slab) {
    if (slab.lent.get(bytes.byteOffset) !== bytes.byteLength) return;
    slab.lent.delete(bytes.byteOffset);
    if (slab.lent.size > 0) return;
    slab.used = 0;
    // the slab being handed out is simply used again from its start; another one is kept
    if (slab !== current && keptBytes + SLAB_BYTES <= MAX_KEPT_BYTES) {
      freeSlabs.push(slab);
      keptBytes += SLAB_BYTES;
    }
    return;
  }
  if (lentWhole.get(b) !== bytes.byteLength || bytes.byteOffset !== 0) return;
  lentWhole.delete(b);
  if (b.byteLength === 0 || keptBytes + b.byteLength > MAX_KEPT_BYTES) return;
  const list = kept.get(b.byteLength);
  if (list) list.push(b);
  else kept.set(b.byteLength, [b]);
  keptBytes += b.byteLength;
}

/** `takeBuffer` for `length` float32 values. */
export function takeFloats(length: number): Float32Array {
  const bytes = takeBuffer(length * 4);
  return new Float32Array(bytes.buffer, bytes.byteOffset, length);
}
