/**
 * model.json of TensorFlow.js (layers-model and graph-model): parsing and validating the
 * `weightsManifest` (tfjs-core/src/io/types.ts `WeightsManifestConfig`). A manifest is a list of
 * groups `{paths, weights: [{name, shape, dtype, quantization?}]}`; a group's weights are stored
 * back to back across its shard files in order, without offsets: each weight's offset follows
 * from the sizes of those before it (tfjs-core/src/io/io_utils.ts `decodeWeights`,
 * `DTYPE_VALUE_SIZE_MAP`). Pure functions: no I/O here.
 */
import { FormatError } from '../../errors.js';
import type { DType } from '../../tensor.js';

export const FORMAT = 'tfjs';

/** Biggest model.json read (graph-model topologies of big networks run to tens of MB). */
export const MODEL_JSON_MAX_BYTES = 512 * 1024 * 1024;

/** tfjs-core io/types.ts `DTYPE_VALUE_SIZE_MAP`, for the dtypes a manifest may name. */
export const TFJS_DTYPE_SIZE = { float32: 4, int32: 4, bool: 1, complex64: 8, float16: 2 } as const;
export type TfjsDtype = keyof typeof TFJS_DTYPE_SIZE | 'string';
export const QUANTIZATION_SIZE = { uint8: 1, uint16: 2, float16: 2 } as const;
export type QuantizationDtype = keyof typeof QUANTIZATION_SIZE;

export interface Quantization {
  readonly dtype: QuantizationDtype;
  /** uint8 / uint16: value = q · scale + min. */
  readonly scale?: number;
  readonly min?: number;
}

export interface ManifestWeight {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: TfjsDtype;
  readonly quantization?: Quantization;
  /** 'optimizer' for optimizer slots (tfjs `WeightGroup`). */
  readonly group?: string;
  /** Index of the manifest group. */
  readonly groupIndex: number;
  /** Elements (product of the shape). */
  readonly elements: number;
}

export interface ManifestGroup {
  readonly paths: readonly string[];
  readonly weights: readonly ManifestWeight[];
}

export interface ModelJson {
  /** `layers-model`, `graph-model`, or undefined in pre-1.0 files. */
  readonly format?: string;
  readonly generatedBy?: string;
  readonly convertedBy?: string | null;
  readonly modelTopology?: unknown;
  readonly signature?: unknown;
  readonly userDefinedMetadata?: unknown;
  readonly modelInitializer?: unknown;
  readonly groups: readonly ManifestGroup[];
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parses and validates model.json text; every fault is a FormatError naming the file (and weight). */
export function parseModelJson(text: string, file: string): ModelJson {
  const fail = (what: string, tensor?: string) => new FormatError(FORMAT, { file, tensor }, what);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new FormatError(FORMAT, { file }, `not valid JSON: ${(e as Error).message}`, { cause: e });
  }
  if (!isObject(json)) throw fail('model.json is not a JSON object');
  const manifest = json.weightsManifest;
  if (manifest === undefined) throw fail('model.json has no weightsManifest (a topology without weights?)');
  if (!Array.isArray(manifest)) throw fail('weightsManifest is not a list of groups');
  const seen = new Set<string>();
  const groups = manifest.map((g, gi): ManifestGroup => {
    const where = `weightsManifest[${gi}]`;
    if (!isObject(g)) throw fail(`${where} is not an object`);
    if (!Array.isArray(g.paths) || !g.paths.every((p) => typeof p === 'string' && p.length > 0))
      throw fail(`${where}.paths is not a list of file names`);
    for (const p of g.paths as string[])
      if (p.startsWith('/') || /^[a-z][a-z0-9+.-]*:/i.test(p) || p.includes('\0'))
        throw fail(`${where}.paths: '${p}' is not a path relative to model.json`);
    if (!Array.isArray(g.weights)) throw fail(`${where}.weights is not a list`);
    const weights = g.weights.map((w, wi): ManifestWeight => {
      const at = `${where}.weights[${wi}]`;
      if (!isObject(w)) throw fail(`${at} is not an object`);
      if (typeof w.name !== 'string' || w.name.length === 0) throw fail(`${at} has no name`);
      const name = w.name;
      if (seen.has(name)) throw fail(`weight name appears twice in the manifest`, name);
      seen.add(name);
      if (!Array.isArray(w.shape) || !w.shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0))
        throw fail(`${at}: shape ${JSON.stringify(w.shape)} is not a list of whole numbers >= 0`, name);
      const shape = w.shape as number[];
      const elements = shape.reduce((a, b) => a * b, 1);
      if (!Number.isSafeInteger(elements * 8)) throw fail(`${at}: shape [${shape}] is too large`, name);
      const dtype = w.dtype;
      if (typeof dtype !== 'string' || !(dtype === 'string' || Object.hasOwn(TFJS_DTYPE_SIZE, dtype)))
        throw fail(`${at}: unsupported dtype ${JSON.stringify(dtype)} (tfjs has float32, int32, bool, string, complex64)`, name);
      let quantization: Quantization | undefined;
      if (w.quantization !== undefined) {
        const q = w.quantization;
        if (!isObject(q) || typeof q.dtype !== 'string' || !Object.hasOwn(QUANTIZATION_SIZE, q.dtype))
          throw fail(`${at}: unsupported quantization ${JSON.stringify(q)} (tfjs has uint8, uint16, float16)`, name);
        const qd = q.dtype as QuantizationDtype;
        if (qd === 'float16') {
          if (dtype !== 'float32') throw fail(`${at}: float16 quantization of a ${dtype} weight (tfjs allows float32 only)`, name);
          quantization = { dtype: qd };
        } else {
          if (typeof q.scale !== 'number' || typeof q.min !== 'number' || !Number.isFinite(q.scale) || !Number.isFinite(q.min))
            throw fail(`${at}: ${qd} quantization without a finite scale and min`, name);
          if (dtype !== 'float32' && dtype !== 'int32') throw fail(`${at}: ${qd} quantization of a ${dtype} weight (tfjs allows float32 and int32)`, name);
          quantization = { dtype: qd, scale: q.scale, min: q.min };
        }
      }
      return {
        name,
        shape,
        dtype: dtype as TfjsDtype,
        ...(quantization ? { quantization } : {}),
        ...(typeof w.group === 'string' ? { group: w.group } : {}),
        groupIndex: gi,
        elements,
      };
    });
    if (g.paths.length === 0 && weights.some((w) => w.elements > 0)) throw fail(`${where} lists weights but no shard files`);
    return { paths: g.paths as string[], weights };
  });
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  return {
    format: str(json.format),
    generatedBy: str(json.generatedBy),
    convertedBy: json.convertedBy === null ? null : str(json.convertedBy),
    modelTopology: json.modelTopology,
    signature: json.signature,
    userDefinedMetadata: json.userDefinedMetadata,
    modelInitializer: json.modelInitializer,
    groups,
  };
}

/** Bytes a weight occupies in its group, except strings (whose size is stored with them). */
export function storedBytes(w: ManifestWeight): number | undefined {
  if (w.quantization) return w.elements * QUANTIZATION_SIZE[w.quantization.dtype];
  if (w.dtype === 'string') return undefined;
  return w.elements * TFJS_DTYPE_SIZE[w.dtype];
}

/** The element type a StoredTensor reports for a weight (after dequantising uint8 / uint16). */
export function storedDtype(w: ManifestWeight): DType | undefined {
  if (w.quantization?.dtype === 'float16') return 'float16';
  if (w.quantization) return w.dtype === 'int32' ? 'int32' : 'float32';
  switch (w.dtype) {
    case 'float32':
    case 'int32':
    case 'bool':
    case 'float16':
      return w.dtype;
    default:
      return undefined; // string, complex64: not numbers a scheme can bind
  }
}

/**
 * Dequantises uint8 / uint16 values as tfjs does (io_utils.ts `decodeWeight`): q · scale + min in
 * double precision, stored as float32 (or rounded, for int32 weights).
 */
export function dequantize(w: ManifestWeight, raw: Uint8Array): Uint8Array {
  const q = w.quantization!;
  const n = w.elements;
  const values =
    q.dtype === 'uint8'
      ? raw
      : raw.byteOffset % 2 === 0
        ? new Uint16Array(raw.buffer, raw.byteOffset, n)
        : new Uint16Array(raw.slice().buffer, 0, n);
  const out = w.dtype === 'int32' ? new Int32Array(n) : new Float32Array(n);
  const round = w.dtype === 'int32';
  for (let i = 0; i < n; i++) {
    const v = values[i] * q.scale! + q.min!;
    out[i] = round ? Math.round(v) : v;
  }
  return new Uint8Array(out.buffer);
}
