/**
 * The HDF5 superblock (HDF5 File Format Specification 3.0, II.A): versions 0 and 1 (the root group's
 * symbol table entry) and versions 2 and 3 (the root's object header address, a lookup3 checksum),
 * with 8-byte addresses and lengths.
 */
import { checkChecksum, corrupt, cursor, type Cursor, signature, skip, type Source, u16, u64, u8, UNDEF, unsupported } from './bytes.js';
import type { GlobalHeap } from './values.js';

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
