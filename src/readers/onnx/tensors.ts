/**
 * ONNX TensorProto -> StoredTensor. Three places a tensor's bytes can live (onnx/onnx.proto,
 * TensorProto): `raw_data` (little-endian bytes, the usual case), the typed repeated fields
 * (`float_data`, `int32_data` for the small integer types, float16 and bfloat16 as bit patterns,
 * `int64_data`, `double_data`), or an external file (`data_location = EXTERNAL`, `external_data`
 * entries `location`, `offset`, `length`; onnx/external_data_helper.py). Every size is checked
 * against the element count and the file before anything is allocated.
 */
import { stat, type FileHandle } from 'node:fs/promises';
import { openRegular } from '../../io/files.js';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { FormatError } from '../../errors.js';
import { bytesOf, bytesToFloat32, DTYPE_SIZE, type DType } from '../../tensor.js';
import type { StoredTensor } from '../types.js';
import { int64ToNumber, ONNX_DTYPE_NAMES, ONNX_DTYPES, type Int64, type onnx } from './proto.js';
import { SMALL_TENSOR_ELEMENTS } from './structure.js';

/** TensorProto.DataLocation.EXTERNAL. */
const EXTERNAL = 1;

/** External data files of one model: sizes checked once, handles opened on first read. */
export class ExternalFiles {
  private readonly sizes = new Map<string, Promise<number | undefined>>();
  private readonly handles = new Map<string, Promise<FileHandle>>();
  private closed = false;

  /** Size in bytes, or undefined when the file does not exist (or is not a file). */
  size(path: string): Promise<number | undefined> {
    let s = this.sizes.get(path);
    if (!s) {
      s = stat(path).then(
        (info) => (info.isFile() ? info.size : undefined),
        () => undefined,
      );
      this.sizes.set(path, s);
    }
    return s;
  }

  /** Reads exactly `length` bytes at `offset`. */
  async read(path: string, offset: number, length: number, tensor: string): Promise<Uint8Array> {
    if (this.closed) throw new FormatError('onnx', { file: path, tensor }, 'the model was closed before this tensor was read');
    let h = this.handles.get(path);
    if (!h) {
      h = openRegular(path);
      this.handles.set(path, h);
    }
    const out = new Uint8Array(length);
    let done = 0;
    const fh = await h;
    while (done < length) {
      const { bytesRead } = await fh.read(out, done, length - done, offset + done);
      if (bytesRead === 0)
        throw new FormatError('onnx', { file: path, tensor, offset: offset + done }, `external data ends after ${done} of ${length} bytes`);
      done += bytesRead;
    }
    return out;
  }

  async close(): Promise<void> {
    this.closed = true;
    const hs = [...this.handles.values()];
    this.handles.clear();
    await Promise.all(hs.map((h) => h.then((fh) => fh.close(), () => undefined)));
  }

  /** Files that tensors were found in, for SourceModel.files. */
  get files(): string[] {
    return [...this.sizes.keys()];
  }
}

export interface TensorContext {
  /** The model file. */
  readonly file: string;
  /** The model's bytes (raw_data are views into them; their offset is reported in errors). */
  readonly buffer: Uint8Array;
  readonly external: ExternalFiles;
}

export interface DecodedTensor {
  readonly tensor: StoredTensor;
  /** The values, for tensors of at most SMALL_TENSOR_ELEMENTS elements stored inside the model. */
  readonly small?: readonly number[];
}

/** Byte offset of a view into the model buffer, when it is one. */
function offsetIn(ctx: TensorContext, view: Uint8Array): number | undefined {
  const off = view.byteOffset - ctx.buffer.byteOffset;
  return view.buffer === ctx.buffer.buffer && off >= 0 && off + view.byteLength <= ctx.buffer.byteLength ? off : undefined;
}

function int64Array(values: readonly Int64[]): BigInt64Array {
  const out = new BigInt64Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    out[i] = typeof v === 'number' ? BigInt(Math.trunc(v)) : BigInt(v.toString());
  }
  return out;
}

/** The typed field that holds values of `dtype` (onnx.proto, TensorProto: float16 and bfloat16 as bit patterns in int32_data). */
function typedField(t: onnx.ITensorProto, dtype: DType): { field: string; values: readonly Int64[] } {
  switch (dtype) {
    case 'float32':
      return { field: 'float_data', values: t.floatData ?? [] };
    case 'float64':
      return { field: 'double_data', values: t.doubleData ?? [] };
    case 'int64':
      return { field: 'int64_data', values: t.int64Data ?? [] };
    default:
      return { field: 'int32_data', values: t.int32Data ?? [] };
  }
}

/** The little-endian bytes of values held in a typed field (count already checked). */
function typedBytes(t: onnx.ITensorProto, dtype: DType): Uint8Array {
  const nums = (): number[] => (dtype === 'float32' ? t.floatData : dtype === 'float64' ? t.doubleData : t.int32Data) ?? [];
  switch (dtype) {
    case 'float32':
      return bytesOf(Float32Array.from(nums()));
    case 'float64':
      return bytesOf(Float64Array.from(nums()));
    case 'int64':
      return bytesOf(int64Array(t.int64Data ?? []));
    case 'int32':
      return bytesOf(Int32Array.from(nums()));
    case 'int16':
      return bytesOf(Int16Array.from(nums()));
    case 'uint16':
    case 'float16':
    case 'bfloat16':
      return bytesOf(Uint16Array.from(nums()));
    case 'int8':
      return bytesOf(Int8Array.from(nums()));
    case 'uint8':
    case 'bool':
      return Uint8Array.from(nums());
  }
}

const hasTypedData = (t: onnx.ITensorProto): boolean =>
  Boolean(t.floatData?.length || t.doubleData?.length || t.int32Data?.length || t.int64Data?.length || t.uint64Data?.length);

/** Resolves an external data location relative to the model's folder; it may not leave it. */
function externalPath(ctx: TensorContext, location: string, name: string): string {
  const fail = (what: string) => new FormatError('onnx', { file: ctx.file, tensor: name }, what);
  if (!location) throw fail('external data without a location');
  if (isAbsolute(location) || location.includes('\0')) throw fail(`external data location '${location}' must be a relative path`);
  const base = dirname(ctx.file);
  const path = resolve(base, location);
  const rel = relative(base, path);
  if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel))
    throw fail(`external data location '${location}' leaves the model's folder`);
  return path;
}

/**
 * Validates a TensorProto and returns it as a lazily read StoredTensor. `name` is the tensor's
 * name (for Constant nodes: the node's output).
 */
export async function decodeTensor(t: onnx.ITensorProto, name: string, ctx: TensorContext): Promise<DecodedTensor> {
  const fail = (what: string, offset?: number) => new FormatError('onnx', { file: ctx.file, tensor: name, offset }, what);
  const code = t.dataType ?? 0;
  const dtype = ONNX_DTYPES[code];
  if (!dtype) throw fail(`unsupported data type ${ONNX_DTYPE_NAMES[code] ?? code}`);
  if (t.segment) throw fail('segmented tensors are not supported');
  const shape: number[] = [];
  let elements = 1;
  for (const d of t.dims ?? []) {
    const n = int64ToNumber(d);
    if (n === undefined || n < 0) throw fail(`dimension ${String(d)} is not a valid size`);
    shape.push(n);
    elements *= n;
    if (!Number.isSafeInteger(elements * 8)) throw fail(`shape [${shape}...] has too many elements`);
  }
  const size = DTYPE_SIZE[dtype];
  const byteLength = elements * size;

  if (t.dataLocation === EXTERNAL) {
    const entries = new Map((t.externalData ?? []).map((e) => [e.key ?? '', e.value ?? '']));
    const path = externalPath(ctx, entries.get('location') ?? '', name);
    const number = (key: string): number | undefined => {
      const v = entries.get(key);
      if (v === undefined) return undefined;
      if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v))) throw fail(`external data ${key} '${v}' is not a byte count`);
      return Number(v);
    };
    const offset = number('offset') ?? 0;
    const length = number('length') ?? byteLength;
    if (length !== byteLength) throw fail(`external data length ${length} does not match the shape [${shape}] of ${dtype} (${byteLength} bytes)`);
    const fileSize = await ctx.external.size(path);
    if (fileSize === undefined) throw new FormatError('onnx', { file: path, tensor: name }, 'external data file is missing');
    if (offset + length > fileSize)
      throw new FormatError('onnx', { file: path, tensor: name, offset }, `external data needs bytes ${offset}..${offset + length}, the file has ${fileSize}`);
    return {
      tensor: { name, dtype, shape, byteLength, file: path, offset, read: () => ctx.external.read(path, offset, length, name) },
    };
  }

  let bytes: Uint8Array | undefined;
  let offset: number | undefined;
  let read: () => Uint8Array;
  if (Object.hasOwn(t, 'rawData') && t.rawData) {
    const raw = t.rawData;
    offset = offsetIn(ctx, raw);
    if (raw.byteLength !== byteLength)
      throw fail(`raw_data has ${raw.byteLength} bytes, the shape [${shape}] of ${dtype} needs ${byteLength}`, offset);
    // A view into the model's bytes: no copy until the float conversion.
    const view = new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
    bytes = view;
    read = () => view;
  } else if (hasTypedData(t) || elements === 0) {
    if (t.uint64Data?.length) throw fail('uint64_data is not used by any data type we read');
    const { field, values } = typedField(t, dtype);
    if (values.length !== elements) throw fail(`${field} holds ${values.length} values, the shape [${shape}] needs ${elements}`);
    // Converted on read: the decoded numbers are already in memory, one copy is enough until then.
    read = () => typedBytes(t, dtype);
    if (elements <= SMALL_TENSOR_ELEMENTS) bytes = read();
  } else {
    throw fail(`no data: neither raw_data, typed values nor external data for shape [${shape}]`);
  }
  const small = bytes && elements <= SMALL_TENSOR_ELEMENTS ? Array.from(bytesToFloat32(dtype, bytes)) : undefined;
  return {
    tensor: { name, dtype, shape, byteLength, file: ctx.file, ...(offset !== undefined ? { offset } : {}), read: async () => read() },
    ...(small ? { small } : {}),
  };
}
