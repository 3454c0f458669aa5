/**
 * `port inspect`: what a model file holds and what this tool makes of it, for every format it
 * reads: the stored tensors (name, dtype, shape, bytes, checksum status), the format, the
 * architecture and naming scheme with the reason, and what binding would leave out or miss.
 */
import { giveBack } from './io/pool.js';
import { FormatError, SchemeError, WeightportError, type ShapeMismatch } from './errors.js';
import { bindModel, readModel, type BindModelOptions, type ReadModelOptions } from './api.js';
import type { Detection } from './graphs/schemes/index.js';
import type { FormatName } from './readers/index.js';
import type { DType } from './tensor.js';

/** Formats whose tensors carry a checksum that reading verifies, and the checksum's name. */
const CHECKSUMS: Partial<Record<FormatName, string>> = { tf: 'CRC32C' };

/**
 * `ok`: read and its stored checksum matched; `read`: read in full, the format stores no
 * checksum; `not checked`: not read (`verify: false`).
 */
export type ChecksumStatus = 'ok' | 'read' | 'not checked';

export interface InspectedTensor {
  readonly name: string;
  /** The key it is stored under, when the reader renamed it (object-graph checkpoint keys). */
  readonly storedAs?: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly bytes: number;
  readonly checksum: ChecksumStatus;
  /** `used` by the binding, `left out` (with why), `extra` (unknown to the scheme), `wrong shape`, or `unbound` (no scheme fits). */
  readonly status: 'used' | 'left out' | 'extra' | 'wrong shape' | 'unbound';
  readonly why?: string;
}

export interface InspectReport {
  readonly file: string;
  readonly format: FormatName;
  readonly files: readonly string[];
  readonly metadata: Readonly<Record<string, unknown>>;
  readonly tensors: readonly InspectedTensor[];
  readonly totalBytes: number;
  /** The checksum the format stores, when it has one. */
  readonly checksum?: string;
  /** Architecture, scheme, classes, aux, width, and why; absent when no scheme fits. */
  readonly detection?: Detection;
  /** Why no scheme fits, or why binding failed. */
  readonly problem?: string;
  readonly leftOut: readonly { readonly name: string; readonly why: string }[];
  readonly missing: readonly string[];
  readonly extra: readonly string[];
  readonly mismatched: readonly ShapeMismatch[];
}

export interface InspectOptions extends ReadModelOptions, BindModelOptions {}

/**
 * Why a stored tensor is not part of the network (training state, the auxiliary head), by name;
 * the same rules the TF-slim scheme applies, in a form that fits every naming.
 */
export function leftOutReason(name: string, options: { aux?: boolean; ema?: boolean } = {}): string | undefined {
  if (/(^|\/)global_step$/.test(name)) return 'global_step (training step counter)';
  const slot = /\/(RMSProp|RMSProp_1|Momentum|Adam|Adam_1|Adagrad|Ftrl|Ftrl_1)$/.exec(name);
  if (slot) return `optimizer slot (${slot[1]})`;
  if (/(^|\/)beta[12]_power$/.test(name)) return 'optimizer state (Adam)';
  if (name.endsWith('/ExponentialMovingAverage')) return options.ema ? 'ExponentialMovingAverage shadow (taken instead of the raw value)' : 'ExponentialMovingAverage shadow (used with --ema)';
  if (/(^|\/)num_batches_tracked$/.test(name)) return 'BatchNorm counter (num_batches_tracked)';
  if (!options.aux && /(^|\/)AuxLogits\//.test(name)) return 'auxiliary head (kept with --aux)';
  return undefined;
}

/** Reads a model, checks every tensor's checksum (unless `verify: false`) and tries to bind it. */
export async function inspect(path: string, options: InspectOptions = {}): Promise<InspectReport> {
  const verify = options.verify ?? true;
  const source = await readModel(path, options);
  try {
    const checksum = CHECKSUMS[source.format];
    const checks: ChecksumStatus[] = [];
    for (const t of source.tensors) {
      if (!verify) {
        checks.push('not checked');
        continue;
      }
      const bytes = await t.read(); // a mismatch throws a FormatError naming file, tensor and offset
      if (bytes.byteLength !== t.byteLength)
        throw new FormatError(source.format, { file: t.file ?? source.path, tensor: t.name, offset: t.offset }, `read ${bytes.byteLength} bytes, expected ${t.byteLength}`);
      checks.push(checksum ? 'ok' : 'read');
      if (t.freshReads) giveBack(bytes); // ours alone: the next tensor is read into this memory
    }
    let detection: Detection | undefined;
    let problem: string | undefined;
    let missing: readonly string[] = [];
    let extra: readonly string[] = [];
    let mismatched: readonly ShapeMismatch[] = [];
    try {
      detection = bindModel(source, options).detection;
    } catch (e) {
      if (!(e instanceof SchemeError)) throw e;
      problem = e.message;
      ({ missing, extra, mismatched } = e);
      try {
        const { detectScheme } = await import('./api.js');
        detection = detectScheme(source, options);
      } catch (inner) {
        if (!(inner instanceof WeightportError)) throw inner;
      }
    }
    const keys = (source.metadata.checkpointKeys ?? {}) as Record<string, string>;
    const extraSet = new Set(extra);
    const wrong = new Set(mismatched.map((m) => m.source));
    const leftOut: { name: string; why: string }[] = [];
    const tensors = source.tensors.map((t, i): InspectedTensor => {
      const base = { name: t.name, ...(keys[t.name] ? { storedAs: keys[t.name] } : {}), dtype: t.dtype, shape: t.shape, bytes: t.byteLength, checksum: checks[i] };
      if (!detection) return { ...base, status: 'unbound' };
      if (wrong.has(t.name)) return { ...base, status: 'wrong shape' };
      if (extraSet.has(t.name)) return { ...base, status: 'extra' };
      const why =
        leftOutReason(t.name, options) ??
        (source.metadata.modelFormat === 'graph-model' && t.dtype === 'int32' ? 'graph-model operand (an int32 axis, shape or paddings), not a parameter' : undefined);
      if (why && !(options.ema && why.startsWith('ExponentialMovingAverage'))) {
        leftOut.push({ name: t.name, why });
        return { ...base, status: 'left out', why };
      }
      return { ...base, status: 'used' };
    });
    return {
      file: path,
      format: source.format,
      files: source.files,
      metadata: source.metadata,
      tensors,
      totalBytes: source.tensors.reduce((n, t) => n + t.byteLength, 0),
      ...(checksum ? { checksum } : {}),
      ...(detection ? { detection } : {}),
      ...(problem ? { problem } : {}),
      leftOut,
      missing,
      extra,
      mismatched,
    };
  } finally {
    await source.close();
  }
}
