/**
 * HDF5 objects for the pure-TypeScript reader (HDF5 File Format Specification 3.0): object headers
 * of versions 1 and 2 with their continuation blocks (IV.A.1), and the messages a Keras file uses
 * (IV.A.2): dataspace, datatype, layout, attributes, symbol table, links, fill values. Every loop
 * is bounded (message and block counts, visited sets against cycles) and every address is checked
 * against the file by Source. Valid features outside the subset are Hdf5Unsupported, so that
 * openHdf5 hands the file to h5wasm.
 */
import { checkChecksum, corrupt, cursor, type Cursor, left, signature, skip, sub, take, u16, u32, u64, u8, UNDEF, unsupported, uN } from './bytes.js';
import { type Link, parseLink, symbolTable } from './groups.js';
import type { Ctx } from './superblock.js';
import { CLASS, elements, type Datatype, parseAttribute, parseDatatype, parseDataspace, type RawAttribute, type Shape } from './values.js';

/** HDF5 message types (spec IV.A.2). */
const MSG = {
  nil: 0x00,
  dataspace: 0x01,
  linkInfo: 0x02,
  datatype: 0x03,
  fillOld: 0x04,
  fill: 0x05,
  link: 0x06,
  external: 0x07,
  layout: 0x08,
  bogus: 0x09,
  groupInfo: 0x0a,
  filters: 0x0b,
  attribute: 0x0c,
  comment: 0x0d,
  mtimeOld: 0x0e,
  continuation: 0x10,
  symbolTable: 0x11,
  mtime: 0x12,
  btreeK: 0x13,
  attributeInfo: 0x15,
  refCount: 0x16,
} as const;
/** Messages that change nothing this reader reports. */
const IGNORED = new Set<number>([MSG.nil, MSG.bogus, MSG.groupInfo, MSG.comment, MSG.mtimeOld, MSG.mtime, MSG.btreeK, MSG.refCount]);

/** Messages of one object header at most (a v1 header counts them in 16 bits). */
const MAX_MESSAGES = 65_536;
/** Header blocks (the first and its continuations) of one object at most. */
const MAX_BLOCKS = 4096;

interface Message {
  readonly type: number;
  readonly c: Cursor;
}

/** The longest version 2 object header prefix: signature to chunk size (spec IV.A.1.b). */
const MAX_PREFIX_BYTES = 4 + 1 + 1 + 16 + 4 + 8;

/**
 * The messages of an object header, continuation blocks followed: version 1 (spec IV.A.1.a) or
 * version 2 ("OHDR", IV.A.1.b: 1-byte message types, checksummed chunks, "OCHK" continuations).
 */
function readMessages(ctx: Ctx, addr: number, what: string): Message[] {
  const head = cursor(ctx.src.bytes(addr, Math.min(MAX_PREFIX_BYTES, Math.max(0, ctx.src.size - addr)), what), addr, what);
  const v2 = signature(head, 'OHDR');
  let blocks: [number, number][];
  let order = false;
  if (v2) {
    const version = u8(head);
    if (version !== 2) throw corrupt(`${what}: object header version ${version}`, addr + 4);
    const flags = u8(head);
    if (flags & 0xc0) throw corrupt(`${what}: unknown object header flags ${flags}`, addr + 5);
    if (flags & 0x20) skip(head, 16); // access, modification, change and birth times
    if (flags & 0x10) skip(head, 4); // attribute storage phase change values
    const size = uN(head, 1 << (flags & 3));
    if (size === UNDEF) throw corrupt(`${what}: an object header chunk of undefined size`, addr);
    order = (flags & 4) !== 0;
    checkChecksum(ctx.src.bytes(addr, head.pos + size + 4, what), addr, what);
    blocks = [[addr + head.pos, size]];
  } else {
    const version = u8(head);
    if (version !== 1) throw corrupt(`${what}: object header version ${version}`, addr);
    skip(head, 7); // reserved, message count, reference count
    blocks = [[addr + 16, u32(head)]];
  }
  const headerBytes = v2 ? (order ? 6 : 4) : 8;
  const seen = new Set([blocks[0][0]]);
  const out: Message[] = [];
  let count = 0;
  for (let b = 0; b < blocks.length; b++) {
    if (b >= MAX_BLOCKS) throw corrupt(`${what}: more than ${MAX_BLOCKS} object header blocks`, addr);
    let [start, length] = blocks[b];
    if (v2 && b > 0) {
      // a continuation chunk: "OCHK", messages, checksum
      const chunk = ctx.src.bytes(start, length, what);
      if (!signature(cursor(chunk, start, what), 'OCHK')) throw corrupt(`${what}: continuation chunk without its OCHK signature`, start);
      checkChecksum(chunk, start, what);
      start += 4;
      length -= 8;
    }
    const c = cursor(ctx.src.bytes(start, length, what), start, what);
    while (left(c) >= headerBytes) {
      const type = v2 ? u8(c) : u16(c);
      const size = u16(c);
      const flags = u8(c);
      skip(c, headerBytes - (v2 ? 4 : 5)); // v1: reserved; v2: creation order
      const data = sub(c, size, `${what}, message type ${type}`);
      if (++count > MAX_MESSAGES) throw corrupt(`${what}: more than ${MAX_MESSAGES} messages`, addr);
      if (type === MSG.nil) continue;
      if (flags & 2) throw unsupported(`a shared message (type ${type}) in ${what}`);
      if (type === MSG.continuation) {
        const at = u64(data);
        const n = u64(data);
        if (at === UNDEF || n === UNDEF) throw corrupt(`${what}: a continuation to an undefined address`, data.origin + data.pos - 16);
        if (seen.has(ctx.base + at)) throw corrupt(`${what}: continuation blocks form a cycle`, data.origin + data.pos - 16);
        seen.add(ctx.base + at);
        blocks.push([ctx.base + at, n]);
      } else out.push({ type, c: data });
    }
  }
  return out;
}

export type Layout = { readonly kind: 'compact'; readonly data: Uint8Array } | { readonly kind: 'contiguous'; readonly addr: number; readonly size: number };

export interface DatasetDesc {
  readonly type: Datatype;
  readonly shape: Shape;
  readonly layout: Layout;
}

export interface H5Object {
  readonly kind: 'group' | 'dataset' | 'other';
  readonly attributes: readonly RawAttribute[];
  /** Groups: members in the order HDF5 lists them by name. */
  readonly members?: readonly { readonly name: string; readonly addr: number }[];
  readonly dataset?: DatasetDesc;
}

/** Reads and interprets one object header. */
export function readObject(ctx: Ctx, addr: number, what: string): H5Object {
  const msgs = readMessages(ctx, addr, what);
  const attributes: RawAttribute[] = [];
  const links: Link[] = [];
  let type: Datatype | undefined;
  let shape: Shape | undefined;
  let hasShape = false;
  let layoutMsg: Cursor | undefined;
  let stab: { btree: number; heap: number } | undefined;
  let linkInfo = false;
  let creationOrder = false;
  const fill: Message[] = [];
  for (const m of msgs) {
    const c = m.c;
    switch (m.type) {
      case MSG.dataspace:
        shape = parseDataspace(c);
        hasShape = true;
        break;
      case MSG.datatype:
        type = parseDatatype(c);
        break;
      case MSG.layout:
        layoutMsg = c;
        break;
      case MSG.attribute:
        attributes.push(parseAttribute(c));
        break;
      case MSG.symbolTable: {
        const btree = u64(c);
        const heap = u64(c);
        if (btree === UNDEF || heap === UNDEF) throw corrupt(`${what}: a symbol table at an undefined address`, c.origin + c.pos - 16);
        stab = { btree: ctx.base + btree, heap: ctx.base + heap };
        break;
      }
      case MSG.linkInfo:
        linkInfo = true;
        creationOrder = (c.bytes[c.pos + 1] & 2) === 2; // creation order indexed
        if (denseStorage(c, 8) !== UNDEF) throw unsupported(`dense link storage (a fractal heap) in ${what}`);
        break;
      case MSG.attributeInfo:
        if (denseStorage(c, 2) !== UNDEF) throw unsupported(`dense attribute storage (a fractal heap) in ${what}`);
        break;
      case MSG.link:
        links.push(parseLink(ctx, c, what));
        break;
      case MSG.fill:
      case MSG.fillOld:
        fill.push(m);
        break;
      case MSG.filters:
        throw unsupported(`a filter pipeline (compression) in ${what}`);
      case MSG.external:
        throw unsupported(`external data files in ${what}`);
      default:
        if (!IGNORED.has(m.type)) throw unsupported(`object header message type ${m.type} in ${what}`);
    }
  }
  // HDF5's object classes, tested in its order (H5O_obj_class_real): group, dataset, datatype.
  if (stab || linkInfo) {
    let members: { name: string; addr: number }[];
    if (stab) members = symbolTable(ctx, stab.btree, stab.heap, what);
    // h5wasm lists a group that indexes creation order in that order, others by name (byte order).
    else members = links.sort(creationOrder ? (a, b) => a.order - b.order : (a, b) => Buffer.compare(a.bytes, b.bytes)).map(({ name, addr }) => ({ name, addr }));
    return { kind: 'group', attributes, members };
  }
  if (type && hasShape) {
    if (!layoutMsg) throw corrupt(`${what}: a dataset without a layout message`, addr);
    if (type.cls !== CLASS.fixed && type.cls !== CLASS.float) throw unsupported(`a dataset of datatype class ${type.cls} (${what})`);
    const layout = parseLayout(ctx, layoutMsg, what);
    const n = elements(shape!) * type.size;
    if (layout.kind === 'compact' && !(layout.data.length >= n)) throw corrupt(`${what}: compact data of ${layout.data.length} bytes for ${n} bytes of values`, addr);
    if (layout.kind === 'contiguous') {
      if (layout.addr === UNDEF) {
        if (fill.some((m) => nonzeroFill(m))) throw unsupported(`a never-written dataset with a fill value (${what})`);
      } else {
        if (!(layout.size >= n)) throw corrupt(`${what}: contiguous storage of ${layout.size} bytes for ${n} bytes of values`, addr);
        if (layout.addr + layout.size > ctx.src.size)
          throw corrupt(`${what}: its data (${layout.size} bytes at byte ${layout.addr}) lies beyond the end of the file (${ctx.src.size} bytes): truncated or corrupt`);
      }
    }
    return { kind: 'dataset', attributes, dataset: { type, shape: shape!, layout } };
  }
  if (type) return { kind: 'other', attributes };
  throw corrupt(`${what}: an object header that is neither a group, a dataset nor a datatype`, addr);
}

/** Link info / attribute info messages: the fractal heap address (UNDEF when storage is compact). */
function denseStorage(c: Cursor, counterBytes: number): number {
  const version = u8(c);
  if (version !== 0) throw corrupt(`${c.what}: link or attribute info version ${version}`, c.origin + c.pos - 1);
  const flags = u8(c);
  if (flags & 1) skip(c, counterBytes); // maximum creation index
  return u64(c);
}

/** The layout message (spec IV.A.2.i), versions 3 and 4: compact and contiguous storage only. */
function parseLayout(ctx: Ctx, c: Cursor, what: string): Layout {
  const version = u8(c);
  if (version === 1 || version === 2) throw unsupported(`layout message version ${version} (${what})`);
  if (version !== 3 && version !== 4) throw corrupt(`${what}: layout message version ${version}`, c.origin + c.pos - 1);
  const cls = u8(c);
  if (cls === 0) return { kind: 'compact', data: take(c, u16(c)) };
  if (cls === 1) {
    const addr = u64(c);
    const size = u64(c);
    if (size === UNDEF) throw corrupt(`${what}: contiguous storage of undefined size`, c.origin + c.pos - 8);
    return { kind: 'contiguous', addr: addr === UNDEF ? UNDEF : ctx.base + addr, size };
  }
  if (cls === 2 || cls === 3) throw unsupported(`${cls === 2 ? 'chunked' : 'virtual'} storage (${what})`);
  throw corrupt(`${what}: layout class ${cls}`, c.origin + c.pos - 1);
}

/** True when a fill value message holds a non-zero value (or cannot be read: let HDF5 decide). */
function nonzeroFill(m: Message): boolean {
  try {
    const c = m.c;
    let value: Uint8Array | undefined;
    if (m.type === MSG.fillOld) value = take(c, u32(c));
    else {
      const version = u8(c);
      if (version === 1 || version === 2) {
        skip(c, 2); // allocation time, write time
        const defined = u8(c);
        if (version === 1 || defined) value = take(c, u32(c));
      } else if (version === 3) {
        if (u8(c) & 0x20) value = take(c, u32(c));
      } else return true;
    }
    return value !== undefined && value.some((b) => b !== 0);
  } catch {
    return true;
  }
}
