/**
 * The safetensors format (huggingface/safetensors, `safetensors/src/tensor.rs` and the README):
 *
 *   u64 little-endian N | N bytes of UTF-8 JSON header | data
 *
 * The header maps each tensor name to `{dtype, shape, data_offsets: [begin, end]}` (offsets relative
 * to the start of the data) and may hold `__metadata__`, a map of string to string. The data must be
 * covered exactly: tensors contiguous from 0, no holes, no overlaps, the last one ending at the end
 * of the file. This module validates a header the way the reference implementation does
 * (`SafeTensors::read_metadata` and `Metadata::validate`), with pure functions over bytes, so that
 * the reader and the fuzz tests share them; the writer uses the dtype table.
 */
import { FormatError } from '../../errors.js';
import { DTYPE_SIZE, type DType } from '../../tensor.js';

export const FORMAT = 'safetensors';

/** Bytes of the little-endian u64 header length that starts every file. */
export const LENGTH_BYTES = 8;

/**
 * The reference implementation's cap on the header (`MAX_HEADER_SIZE`, 100 MB): a corrupt length
 * must not make a reader allocate gigabytes.
 */
export const MAX_HEADER_BYTES = 100_000_000;

/** safetensors dtype codes that map onto weightport's dtypes. */
export const SAFETENSORS_DTYPE: Readonly<Record<string, DType>> = {
  F64: 'float64',
  F32: 'float32',
  F16: 'float16',
  BF16: 'bfloat16',
  I64: 'int64',
  I32: 'int32',
  I16: 'int16',
  I8: 'int8',
  U16: 'uint16',
  U8: 'uint8',
  BOOL: 'bool',
};

/** Codes the format defines that weightport does not convert (reported as unsupported, not unknown). */
export const UNSUPPORTED_DTYPES: readonly string[] = ['U32', 'U64', 'F8_E5M2', 'F8_E4M3', 'F8_E8M0', 'F6_E2M3', 'F6_E3M2', 'F4', 'C64'];

/** weightport dtype -> safetensors code (the writer). */
export const DTYPE_CODE: Readonly<Record<DType, string>> = Object.fromEntries(
  Object.entries(SAFETENSORS_DTYPE).map(([code, dtype]) => [dtype, code]),
) as Record<DType, string>;

export interface HeaderEntry {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  /** Offsets relative to the data start. */
  readonly begin: number;
  readonly end: number;
}

export interface Header {
  /** N, the JSON header's length. */
  readonly headerLength: number;
  /** Absolute offset of the data: 8 + N. */
  readonly dataStart: number;
  /** `__metadata__`, when present. */
  readonly metadata?: Readonly<Record<string, string>>;
  /** In data order (by begin offset). */
  readonly tensors: readonly HeaderEntry[];
}

const fail = (file: string, what: string, where: { tensor?: string; offset?: number } = {}) => new FormatError(FORMAT, { file, ...where }, what);

/**
 * Reads the header length from the first 8 bytes and checks it against the cap and the file size.
 * Returns N.
 */
export function parseHeaderLength(first8: Uint8Array, fileSize: number, file: string): number {
  if (fileSize < LENGTH_BYTES || first8.byteLength < LENGTH_BYTES)
    throw fail(file, `file of ${fileSize} bytes is too small for the 8-byte header length`, { offset: 0 });
  const dv = new DataView(first8.buffer, first8.byteOffset, LENGTH_BYTES);
  const low = dv.getUint32(0, true);
  const high = dv.getUint32(4, true);
  // High word first: a length of 2^32 or more is over the cap whatever the low word says.
  if (high !== 0 || low > MAX_HEADER_BYTES)
    throw fail(file, `header length ${(BigInt(high) << 32n) | BigInt(low)} is over the ${MAX_HEADER_BYTES}-byte limit`, { offset: 0 });
  if (LENGTH_BYTES + low > fileSize)
    throw fail(file, `header length ${low} runs past the end of the ${fileSize}-byte file`, { offset: 0 });
  return low;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/**
 * Parses and validates the JSON header (the `headerLength` bytes after the length). `fileSize`
 * bounds every offset: the data must end exactly at the end of the file.
 */
export function parseHeader(json: Uint8Array, fileSize: number, file: string): Header {
  const headerLength = json.byteLength;
  const dataStart = LENGTH_BYTES + headerLength;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(json);
  } catch (e) {
    throw new FormatError(FORMAT, { file, offset: LENGTH_BYTES }, 'the header is not valid UTF-8', { cause: e });
  }
  // The reference implementation rejects a header that does not start with '{' (InvalidHeaderStart).
  if (!text.startsWith('{')) throw fail(file, `the header does not start with '{'`, { offset: LENGTH_BYTES });
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new FormatError(FORMAT, { file, offset: LENGTH_BYTES }, `the header is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
  if (!isPlainObject(parsed)) throw fail(file, 'the header is not a JSON object', { offset: LENGTH_BYTES });

  let metadata: Record<string, string> | undefined;
  const entries: HeaderEntry[] = [];
  for (const [name, info] of Object.entries(parsed)) {
    if (name === '__metadata__') {
      if (!isPlainObject(info) || !Object.values(info).every((v) => typeof v === 'string'))
        throw fail(file, '__metadata__ must map strings to strings', { offset: LENGTH_BYTES });
      metadata = info as Record<string, string>;
      continue;
    }
    const where = { tensor: name, offset: LENGTH_BYTES };
    if (!isPlainObject(info)) throw fail(file, 'the entry is not an object', where);
    const { dtype: code, shape, data_offsets: offsets } = info;
    if (typeof code !== 'string') throw fail(file, 'dtype is missing', where);
    const dtype = SAFETENSORS_DTYPE[code];
    if (!dtype) {
      if (UNSUPPORTED_DTYPES.includes(code)) throw fail(file, `dtype ${code} is not supported`, where);
      throw fail(file, `unknown dtype ${JSON.stringify(code)}`, where);
    }
    if (!Array.isArray(shape) || !shape.every(isCount)) throw fail(file, `shape ${JSON.stringify(shape)} is not a list of non-negative integers`, where);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount))
      throw fail(file, `data_offsets ${JSON.stringify(offsets)} is not a pair of non-negative integers`, where);
    const [begin, end] = offsets as number[];
    if (end < begin) throw fail(file, `data_offsets [${begin}, ${end}] end before they begin`, where);
    // Overflow-checked, as the reference does: a product past 2^53 cannot fit in any file.
    let bytes = DTYPE_SIZE[dtype];
    for (const d of shape as number[]) {
      bytes *= d;
      if (!Number.isSafeInteger(bytes)) throw fail(file, `shape [${shape}] is too large`, where);
    }
    if (end - begin !== bytes)
      throw fail(file, `data_offsets [${begin}, ${end}] span ${end - begin} bytes, ${code} [${shape}] needs ${bytes}`, {
        tensor: name,
        offset: dataStart + begin,
      });
    entries.push({ name, dtype, shape: shape as number[], begin, end });
  }

  // Contiguous from 0: sorted by offsets, each begins where the previous ended.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expected = 0;
  for (const e of entries) {
    if (dataStart + e.end > fileSize)
      throw fail(file, `data_offsets [${e.begin}, ${e.end}] run past the end of the file (the data holds ${fileSize - dataStart} bytes)`, {
        tensor: e.name,
        offset: dataStart + e.begin,
      });
    if (e.begin !== expected) {
      const what = e.begin < expected ? `overlaps the previous tensor (begins at ${e.begin}, before ${expected})` : `leaves a hole: begins at ${e.begin}, the previous tensor ended at ${expected}`;
      throw fail(file, what, { tensor: e.name, offset: dataStart + e.begin });
    }
    expected = e.end;
  }
  const dataEnd = dataStart + expected;
  if (dataEnd !== fileSize) {
    const what =
      dataEnd < fileSize
        ? `${fileSize - dataEnd} trailing bytes after the last tensor (data ends at ${dataEnd}, the file at ${fileSize})`
        : `the data runs past the end of the file (ends at ${dataEnd}, the file at ${fileSize})`;
    throw fail(file, what, { tensor: entries.at(-1)?.name, offset: Math.min(dataEnd, fileSize) });
  }
  return { headerLength, dataStart, ...(metadata ? { metadata } : {}), tensors: entries };
}

/**
 * What `match` looks at: the u64 length with its high bytes zero (a header under the 100 MB cap),
 * then `{`. Cheap and pure.
 */
export function looksLikeSafetensors(head: Uint8Array, size: number): boolean {
  if (head.byteLength < 9 || size < 10) return false;
  const dv = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const low = dv.getUint32(0, true);
  return dv.getUint32(4, true) === 0 && low >= 2 && low <= MAX_HEADER_BYTES && LENGTH_BYTES + low <= size && head[8] === 0x7b; // '{'
}
