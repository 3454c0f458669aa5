/**
 * HDF5 group members (HDF5 File Format Specification 3.0): old-style groups, a version 1 B-tree of
 * group nodes (III.A.1) over symbol table nodes "SNOD" (III.B) with the names in a local heap
 * (III.D), listed in the B-tree's (name) order; and link messages (IV.A.2.g) of compact new-style
 * groups, hard links only. Node counts are bounded and visited nodes are remembered (cycles).
 */
import { corrupt, cursor, type Cursor, cString, signature, skip, take, u16, u32, u64, u8, UNDEF, unsupported, uN } from './bytes.js';
import type { Ctx } from './superblock.js';
import { MAX_OBJECTS } from './types.js';

export interface Link {
  readonly name: string;
  readonly bytes: Uint8Array;
  readonly addr: number;
  /** Creation order (0 when the message has none). */
  readonly order: number;
}

/** A link message (spec IV.A.2.g): hard links only; soft and external links are Hdf5Unsupported. */
export function parseLink(ctx: Ctx, c: Cursor, what: string): Link {
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

/** B-tree nodes of one group at most. */
const MAX_BTREE_NODES = 100_000;

/** An old-style group's members: the v1 B-tree's symbol table nodes, in key (name) order. */
export function symbolTable(ctx: Ctx, btree: number, heapAddr: number, what: string): { name: string; addr: number }[] {
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
