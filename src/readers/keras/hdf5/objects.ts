/**
 * HDF5 file structure for the pure-TypeScript reader (HDF5 File Format Specification 3.0): the
 * superblock (II.A, versions 0 to 3), object headers of versions 1 and 2 and their continuation
 * blocks (IV.A.1), the messages a Keras file uses (IV.A.2), and groups: old-style symbol tables (a
 * version 1 B-tree of group nodes, III.A.1; symbol table nodes "SNOD", III.B; a local heap for the
 * names, III.D) and compact new-style groups (link messages, IV.A.2.g). Every loop is bounded
 * (node and message counts, visited sets against cycles) and every address is checked against the
 * file by Source. Valid features outside that subset are Hdf5Unsupported, so that openHdf5 hands
 * the file to h5wasm.
 */
import { checkChecksum, corrupt, cursor, type Cursor, cString, left, signature, skip, type Source, sub, take, u16, u32, u64, u8, UNDEF, unsupported, uN } from './bytes.js';
import { MAX_OBJECTS } from './types.js';
import { CLASS, elements, type Datatype, type GlobalHeap, parseAttribute, parseDatatype, parseDataspace, type RawAttribute, type Shape } from './values.js';

export interface Ctx {
  readonly src: Source;
  /** File offset of the superblock; addresses in the file are relative to it. */
  readonly base: number;
  /** Symbol table node capacity is 2 * leafK (superblock "group leaf node K"). */
  readonly leafK: number;
  /** Group B-tree node capacity is 2 * internalK ("group internal node K"). */
  readonly internalK: number;
  readonly heap: GlobalHeap;
}

/** HDF5 looks for the signature at 0, 512, 1024, 2048... (a user block may precede it). */
const MAX_SIGNATURE_TRIES = 40;

/** Reads the superblock; returns the context and the root group's object header address. */
export function readSuperblock(src: Source): { ctx: Ctx; root: number } {
  let base = -1;
  for (let at = 0, i = 0; i < MAX_SIGNATURE_TRIES && at + 8 <= src.size; i++, at = at === 0 ? 512 : at * 2) {
    const c = cursor(src.bytes(at, 8, 'superblock signature'), at, 'superblock');
    if (signature(c, '\x89HDF\r\n\x1a\n')) {
      base = at;
      break;
    }
  }
  if (base < 0) throw corrupt('no HDF5 superblock signature');
  const c = cursor(src.bytes(base, Math.min(96, src.size - base), 'superblock'), base, 'the superblock', 8);
  const version = u8(c);
  if (version === 2 || version === 3) return superblockV2(src, base, c);
  if (version > 3) throw corrupt(`superblock version ${version}`, base + 8);
  skip(c, 4); // free-space, root symbol table entry and shared header message versions, reserved
  const offsets = u8(c);
  const lengths = u8(c);
  if (offsets !== 8 || lengths !== 8) throw unsupported(`${offsets}-byte addresses and ${lengths}-byte lengths`);
  skip(c, 1);
  const leafK = u16(c);
  const internalK = u16(c);
  if (leafK === 0 || internalK === 0) throw corrupt(`the superblock gives B-tree K values ${leafK} and ${internalK}`, base + 16);
  skip(c, version === 1 ? 8 : 4); // consistency flags (v1: indexed storage K, reserved)
  const stored = u64(c);
  skip(c, 8); // free-space info
  const eof = u64(c);
  const driver = u64(c);
  if (stored !== base) throw unsupported(`a base address (${stored}) other than the superblock's position (${base})`);
  if (driver !== UNDEF) throw unsupported('a driver information block (family or multi-file storage)');
  // The end-of-file address is stored absolute (H5F_super: the relative EOA plus the base address).
  if (eof === UNDEF || eof > src.size) throw corrupt(`truncated file: the superblock says ${eof} bytes, the file has ${src.size}`);
  skip(c, 8); // root entry: link name offset
  const root = u64(c);
  if (root === UNDEF) throw corrupt('the root group has no object header', c.origin + c.pos - 8);
  return { ctx: { src, base, leafK, internalK, heap: new Map() }, root: base + root };
}

/** Superblock versions 2 and 3 (HDF5 1.8+ `libver='latest'`): the root's object header address, checksummed. */
function superblockV2(src: Source, base: number, c: Cursor): { ctx: Ctx; root: number } {
  const offsets = u8(c);
  const lengths = u8(c);
  if (offsets !== 8 || lengths !== 8) throw unsupported(`${offsets}-byte addresses and ${lengths}-byte lengths`);
  checkChecksum(c.bytes.subarray(0, 48), base, 'the superblock');
  skip(c, 1); // consistency flags
  const stored = u64(c);
  const extension = u64(c);
  const eof = u64(c);
  const root = u64(c);
  if (stored !== base) throw unsupported(`a base address (${stored}) other than the superblock's position (${base})`);
  if (extension !== UNDEF) throw unsupported('a superblock extension');
  if (eof === UNDEF || eof > src.size) throw corrupt(`truncated file: the superblock says ${eof} bytes, the file has ${src.size}`);
  if (root === UNDEF) throw corrupt('the root group has no object header', base + 36);
  // B-tree K values are the defaults (H5F_CRT_SYM_LEAF_DEF, H5B_SNODE_K): no v2 file stores them here.
  return { ctx: { src, base, leafK: 4, internalK: 16, heap: new Map() }, root: base + root };
}

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

interface Link {
  readonly name: string;
  readonly bytes: Uint8Array;
  readonly addr: number;
  /** Creation order (0 when the message has none). */
  readonly order: number;
}

/** A link message (spec IV.A.2.g): hard links only; soft and external links are Hdf5Unsupported. */
function parseLink(ctx: Ctx, c: Cursor, what: string): Link {
  const version = u8(c);
  if (version !== 1) throw corrupt(`${what}: link message version ${version}`, c.origin + c.pos - 1);
  const flags = u8(c);
  const linkType = flags & 0x08 ? u8(c) : 0;
  const order = flags & 0x04 ? u64(c) : 0;
  if (flags & 0x10) skip(c, 1); // name character set
  const n = uN(c, 1 << (flags & 3));
  if (n === 0 || n === UNDEF) throw corrupt(`${what}: a link with an empty name`, c.origin + c.pos);
  const bytes = take(c, n);
  if (linkType !== 0) throw unsupported(`a ${linkType === 1 ? 'soft' : linkType === 64 ? 'external' : `type ${linkType}`} link in ${what}`);
  const addr = u64(c);
  if (addr === UNDEF) throw corrupt(`${what}: hard link '${cString(bytes)}' to an undefined address`, c.origin + c.pos - 8);
  return { name: new TextDecoder().decode(bytes), bytes, addr: ctx.base + addr, order };
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

/** B-tree nodes of one group at most. */
const MAX_BTREE_NODES = 100_000;

/** An old-style group's members: the v1 B-tree's symbol table nodes, in key (name) order. */
function symbolTable(ctx: Ctx, btree: number, heapAddr: number, what: string): { name: string; addr: number }[] {
  const h = cursor(ctx.src.bytes(heapAddr, 32, `the local heap of ${what}`), heapAddr, `the local heap of ${what}`);
  if (!signature(h, 'HEAP')) throw corrupt(`${what}: local heap without its HEAP signature`, heapAddr);
  const hv = u8(h);
  if (hv !== 0) throw corrupt(`${what}: local heap version ${hv}`, heapAddr + 4);
  skip(h, 3);
  const heapSize = u64(h);
  skip(h, 8); // free list
  const heapData = u64(h);
  if (heapSize === UNDEF || heapData === UNDEF) throw corrupt(`${what}: local heap with an undefined data segment`, heapAddr);
  const names = ctx.src.bytes(ctx.base + heapData, heapSize, `the local heap of ${what}`);
  const out: { name: string; addr: number }[] = [];
  const seen = new Set<number>();
  const visit = (addr: number, level: number): void => {
    if (seen.has(addr)) throw corrupt(`${what}: the group's B-tree has a cycle`, addr);
    seen.add(addr);
    if (seen.size > MAX_BTREE_NODES) throw corrupt(`${what}: more than ${MAX_BTREE_NODES} B-tree nodes`, addr);
    const c = cursor(ctx.src.bytes(addr, 24, `a B-tree node of ${what}`), addr, `a B-tree node of ${what}`);
    if (!signature(c, 'TREE')) throw corrupt(`${what}: B-tree node without its TREE signature`, addr);
    const type = u8(c);
    const lvl = u8(c);
    const n = u16(c);
    if (type !== 0) throw corrupt(`${what}: B-tree node of type ${type} in a group`, addr + 4);
    if (level >= 0 && lvl !== level) throw corrupt(`${what}: B-tree node of level ${lvl} where ${level} was expected`, addr + 5);
    if (n > 2 * ctx.internalK) throw corrupt(`${what}: B-tree node with ${n} children, more than 2K = ${2 * ctx.internalK}`, addr + 6);
    const body = cursor(ctx.src.bytes(addr + 24, n * 16 + 8, `a B-tree node of ${what}`), addr + 24, `a B-tree node of ${what}`);
    for (let i = 0; i < n; i++) {
      skip(body, 8); // key: heap offset of the child's last name
      const child = u64(body);
      if (child === UNDEF) throw corrupt(`${what}: B-tree child at an undefined address`, body.origin + body.pos - 8);
      if (lvl === 0) symbolNode(ctx.base + child);
      else visit(ctx.base + child, lvl - 1);
    }
  };
  const symbolNode = (addr: number): void => {
    if (seen.has(addr)) throw corrupt(`${what}: a symbol table node listed twice`, addr);
    seen.add(addr);
    const c = cursor(ctx.src.bytes(addr, 8, `a symbol table node of ${what}`), addr, `a symbol table node of ${what}`);
    if (!signature(c, 'SNOD')) throw corrupt(`${what}: symbol table node without its SNOD signature`, addr);
    const version = u8(c);
    if (version !== 1) throw corrupt(`${what}: symbol table node version ${version}`, addr + 4);
    skip(c, 1);
    const n = u16(c);
    if (n > 2 * ctx.leafK) throw corrupt(`${what}: symbol table node with ${n} entries, more than 2K = ${2 * ctx.leafK}`, addr + 6);
    const e = cursor(ctx.src.bytes(addr + 8, n * 40, `a symbol table node of ${what}`), addr + 8, `a symbol table node of ${what}`);
    for (let i = 0; i < n; i++) {
      const nameAt = u64(e);
      const obj = u64(e);
      const cache = u32(e);
      skip(e, 20); // reserved, scratch pad
      if (cache === 2) throw unsupported(`a soft link in ${what}`);
      if (nameAt === UNDEF || nameAt >= names.length) throw corrupt(`${what}: a member name at heap offset ${nameAt}, outside the heap (${names.length} bytes)`, e.origin + e.pos - 40);
      const end = names.indexOf(0, nameAt);
      if (end < 0) throw corrupt(`${what}: a member name without its terminating NUL`, ctx.base + heapData + nameAt);
      if (obj === UNDEF) throw corrupt(`${what}: member '${cString(names.subarray(nameAt, end))}' has no object header`, e.origin + e.pos - 32);
      if (out.length >= MAX_OBJECTS) throw corrupt(`${what}: more than ${MAX_OBJECTS} members`, addr);
      out.push({ name: cString(names.subarray(nameAt, end)), addr: ctx.base + obj });
    }
  };
  visit(btree, -1);
  return out;
}
