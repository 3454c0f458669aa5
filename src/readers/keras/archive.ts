/**
 * The `.keras` archive (Keras 3, keras/src/saving/saving_lib.py): a zip of `metadata.json`,
 * `config.json` and `model.weights.h5` (plus `assets/` for some layers). Entries are found through
 * the central directory (APPNOTE.TXT 4.3.12-4.3.16), so only the entries wanted are read, each
 * once, into memory: stored entries (Keras writes them stored) are the bytes read, deflated ones
 * are inflated by fflate. CRC-32 is checked when `verify`. Nothing is extracted to disk.
 */
import { openRegular } from '../../io/files.js';
import { FormatError } from '../../errors.js';

const EOCD_SIGNATURE = 0x06054b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;
/** End of central directory record without its comment, bytes. */
const EOCD_BYTES = 22;
/** The zip comment is at most 65,535 bytes, so the EOCD lies in the last 22 + 65,535 bytes. */
const EOCD_SEARCH_BYTES = EOCD_BYTES + 0xffff;
const CENTRAL_HEADER_BYTES = 46;
const LOCAL_HEADER_BYTES = 30;
/** Compression methods (APPNOTE 4.4.5). */
const STORED = 0;
const DEFLATED = 8;
/** The general-purpose flag bit of an encrypted entry. */
const FLAG_ENCRYPTED = 0x1;

/** Limits: `config.json` of a full Inception-ResNet-v2 is 0.8 MB; weights of any Inception < 1 GB. */
export const MAX_JSON_BYTES = 64 * 2 ** 20;
export const MAX_WEIGHTS_BYTES = 8 * 2 ** 30;

export interface ZipEntry {
  readonly name: string;
  readonly method: number;
  readonly flags: number;
  readonly crc32: number;
  readonly compressedSize: number;
  readonly size: number;
  /** Offset of the entry's local header. */
  readonly localOffset: number;
}

/** Parses the central directory of a zip held in `tail`, the last bytes of a file of `fileSize` bytes. */
export function parseCentralDirectory(file: string, fileSize: number, tail: Uint8Array, tailOffset: number, cd?: Uint8Array): { entries?: ZipEntry[]; cdOffset: number; cdSize: number } {
  const fail = (what: string, offset?: number) => new FormatError('keras', { file, offset }, what);
  const dv = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
  let eocd = -1;
  for (let i = tail.length - EOCD_BYTES; i >= 0; i--)
    if (dv.getUint32(i, true) === EOCD_SIGNATURE) {
      eocd = i;
      break;
    }
  if (eocd < 0) throw fail('a zip without an end-of-central-directory record (truncated?)');
  const total = dv.getUint16(eocd + 10, true);
  const cdSize = dv.getUint32(eocd + 12, true);
  const cdOffset = dv.getUint32(eocd + 16, true);
  if (total === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) throw fail('ZIP64 archives are not supported', tailOffset + eocd);
  if (cdOffset + cdSize > tailOffset + eocd) throw fail(`central directory (${cdSize} bytes at ${cdOffset}) runs past its end record`, tailOffset + eocd);
  if (!cd) return { cdOffset, cdSize };
  const c = new DataView(cd.buffer, cd.byteOffset, cd.byteLength);
  const entries: ZipEntry[] = [];
  let p = 0;
  for (let k = 0; k < total; k++) {
    if (p + CENTRAL_HEADER_BYTES > cd.length || c.getUint32(p, true) !== CENTRAL_SIGNATURE) throw fail(`central directory entry ${k} is malformed`, cdOffset + p);
    const nameLen = c.getUint16(p + 28, true);
    const extraLen = c.getUint16(p + 30, true);
    const commentLen = c.getUint16(p + 32, true);
    if (p + CENTRAL_HEADER_BYTES + nameLen > cd.length) throw fail(`central directory entry ${k} runs past the directory`, cdOffset + p);
    const entry: ZipEntry = {
      name: new TextDecoder().decode(cd.subarray(p + CENTRAL_HEADER_BYTES, p + CENTRAL_HEADER_BYTES + nameLen)),
      flags: c.getUint16(p + 8, true),
      method: c.getUint16(p + 10, true),
      crc32: c.getUint32(p + 16, true),
      compressedSize: c.getUint32(p + 20, true),
      size: c.getUint32(p + 24, true),
      localOffset: c.getUint32(p + 42, true),
    };
    if (entry.localOffset + LOCAL_HEADER_BYTES + entry.compressedSize > fileSize)
      throw fail(`entry ${entry.name} (${entry.compressedSize} bytes at ${entry.localOffset}) runs past the end of the file`, cdOffset + p);
    entries.push(entry);
    p += CENTRAL_HEADER_BYTES + nameLen + extraLen + commentLen;
  }
  return { entries, cdOffset, cdSize };
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (ISO 3309, as zip uses it). */
export function crc32(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** An open zip: its entries by name, and each entry's bytes on request. */
export interface ZipArchive {
  readonly entries: ReadonlyMap<string, ZipEntry>;
  read(name: string, maxBytes: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

export async function openZip(file: string, options: { verify?: boolean } = {}): Promise<ZipArchive> {
  const fh = await openRegular(file);
  try {
    const { size } = await fh.stat();
    const tailLen = Math.min(size, EOCD_SEARCH_BYTES);
    const tail = new Uint8Array(tailLen);
    await fh.read(tail, 0, tailLen, size - tailLen);
    const { cdOffset, cdSize } = parseCentralDirectory(file, size, tail, size - tailLen);
    const cd = new Uint8Array(cdSize);
    await fh.read(cd, 0, cdSize, cdOffset);
    const { entries } = parseCentralDirectory(file, size, tail, size - tailLen, cd);
    const byName = new Map(entries!.map((e) => [e.name, e]));
    return {
      entries: byName,
      async read(name, maxBytes) {
        const e = byName.get(name);
        const fail = (what: string, offset?: number) => new FormatError('keras', { file, tensor: name, offset }, what);
        if (!e) throw fail('no such entry in the archive');
        if (e.flags & FLAG_ENCRYPTED) throw fail('the entry is encrypted');
        if (e.method !== STORED && e.method !== DEFLATED) throw fail(`compression method ${e.method} is not supported (stored or deflated only)`, e.localOffset);
        if (e.size > maxBytes) throw fail(`the entry claims ${e.size} bytes, more than the limit of ${maxBytes}`, e.localOffset);
        if (e.method === STORED && e.size !== e.compressedSize) throw fail(`a stored entry of ${e.compressedSize} bytes claims ${e.size}`, e.localOffset);
        const local = new Uint8Array(LOCAL_HEADER_BYTES);
        await fh.read(local, 0, LOCAL_HEADER_BYTES, e.localOffset);
        const ldv = new DataView(local.buffer);
        if (ldv.getUint32(0, true) !== LOCAL_SIGNATURE) throw fail('no local file header where the central directory points', e.localOffset);
        const start = e.localOffset + LOCAL_HEADER_BYTES + ldv.getUint16(26, true) + ldv.getUint16(28, true);
        if (start + e.compressedSize > size) throw fail(`the data (${e.compressedSize} bytes at ${start}) runs past the end of the file`, start);
        const raw = new Uint8Array(e.compressedSize);
        const { bytesRead } = await fh.read(raw, 0, raw.length, start);
        if (bytesRead !== raw.length) throw fail(`read ${bytesRead} of ${raw.length} bytes`, start);
        let data = raw;
        if (e.method === DEFLATED) {
          const { inflateSync } = await import('fflate');
          try {
            data = inflateSync(raw, { out: new Uint8Array(e.size) });
          } catch (err) {
            throw new FormatError('keras', { file, tensor: name, offset: start }, `cannot inflate: ${(err as Error).message}`, { cause: err });
          }
          if (data.length !== e.size) throw fail(`inflated to ${data.length} bytes, the directory says ${e.size}`, start);
        }
        if (options.verify !== false && crc32(data) !== e.crc32) throw fail('CRC-32 mismatch (corrupt archive)', start);
        return data;
      },
      close: () => fh.close(),
    };
  } catch (e) {
    await fh.close();
    throw e;
  }
}
