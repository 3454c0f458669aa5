/** Table-driven binding: canonical parameter -> stored tensor + named transform, with exact reports. */
import { SchemeError, FormatError, type ShapeMismatch } from '../../errors.js';
import { graphParams, sizeOf, type Graph, type ParamSpec } from '../ir.js';
import { hwioToOihw, oihwToHwio, placed, transpose2d } from '../layout.js';
import { bytesToFloat32 } from '../../tensor.js';
import { giveBack, takeFloats } from '../../io/pool.js';
import { createModel, type CanonicalModel, type ParamSource, type Provenance } from '../../model.js';
import type { SourceModel, StoredTensor } from '../../readers/types.js';

/** A layout change from a stored tensor to the canonical layout. */
export interface Transform {
  readonly name: string;
  /** The stored shape that a canonical shape corresponds to. */
  storedShape(canonical: readonly number[]): number[];
  /**
   * Stored layout -> canonical layout. With `into` (as long as `data`; `data` itself when the
   * caller owns it) the result is written there and returned, instead of into a new array.
   */
  apply(data: Float32Array, stored: readonly number[], into?: Float32Array): Float32Array;
  /** Canonical layout -> stored layout (writers); `into` as for `apply`. */
  store(data: Float32Array, canonical: readonly number[], into?: Float32Array): Float32Array;
}

export const TRANSFORMS = {
  none: { name: 'none', storedShape: (s) => [...s], apply: (d, _, into) => placed(d, into), store: (d, _, into) => placed(d, into) },
  /** TF / Keras conv kernels [kh, kw, in, out]. */
  hwio: {
    name: 'hwio',
    storedShape: ([o, i, h, w]) => [h, w, i, o],
    apply: hwioToOihw,
    store: oihwToHwio,
  },
  /** TF / Keras dense kernels [in, out]. */
  inOut: {
    name: 'inOut',
    storedShape: ([o, i]) => [i, o],
    apply: transpose2d,
    store: (d, [o, i], into) => transpose2d(d, [o, i], into),
  },
} as const satisfies Record<string, Transform>;

export type BindingSource =
  | { readonly tensor: StoredTensor; readonly transform: Transform }
  /** A value the source does not store (BN gamma = 1 for TF-slim and Keras). */
  | { readonly constant: number };

/** Reads a stored tensor as float32, wrapping faults with the file and tensor name. */
export async function readFloat32(source: SourceModel, tensor: StoredTensor): Promise<Float32Array> {
  let bytes: Uint8Array;
  try {
    bytes = await tensor.read();
  } catch (e) {
    if (e instanceof FormatError) throw e;
    throw new FormatError(source.format, { file: tensor.file ?? source.path, tensor: tensor.name, offset: tensor.offset }, `cannot read: ${(e as Error).message}`, { cause: e });
  }
  if (bytes.byteLength !== tensor.byteLength)
    throw new FormatError(source.format, { file: tensor.file ?? source.path, tensor: tensor.name, offset: tensor.offset }, `read ${bytes.byteLength} bytes, expected ${tensor.byteLength}`);
  const data = bytesToFloat32(tensor.dtype, bytes);
  // Converted into an array of its own (float16, float64, ...): a fresh read's bytes are done with.
  if (tensor.freshReads && data.buffer !== bytes.buffer) giveBack(bytes);
  return data;
}

export interface TableBinding {
  readonly scheme: string;
  readonly source: SourceModel;
  readonly graph: Graph;
  /** The source tensor (and transform) for a canonical parameter, or undefined when absent. */
  lookup(spec: ParamSpec): BindingSource | undefined;
  /** Stored tensors that are known and deliberately left out (aux head, global_step, optimizer slots). */
  ignored?(tensor: StoredTensor): boolean;
  readonly provenance?: Provenance;
}

/**
 * Binds every canonical parameter through `lookup`, checks every shape, and reports everything
 * that is missing, extra or misshapen at once. Reading stays lazy.
 */
export function bindTable(b: TableBinding): CanonicalModel {
  const missing: string[] = [];
  const mismatched: ShapeMismatch[] = [];
  const used = new Set<StoredTensor>();
  const values = new Map<string, ParamSource>();
  for (const spec of graphParams(b.graph)) {
    const found = b.lookup(spec);
    if (!found) {
      missing.push(spec.name);
      continue;
    }
    if ('constant' in found) {
      const c = found.constant;
      values.set(spec.name, async () => new Float32Array(sizeOf(spec.shape)).fill(c));
      continue;
    }
    const { tensor, transform } = found;
    used.add(tensor);
    const expected = transform.storedShape(spec.shape);
    if (expected.join() !== tensor.shape.join()) {
      mismatched.push({ param: spec.name, source: tensor.name, expected, found: tensor.shape });
      continue;
    }
    // A reader that hands out a new array per read lets the writer own the result: the layout
    // change writes it into an array from io/pool (where a read lands in the pool's arena, the
    // transpose runs there with no copy) and the array read goes back to the pool.
    const read = async () => {
      const data = await readFloat32(b.source, tensor);
      if (!tensor.freshReads) return transform.apply(data, tensor.shape);
      if (transform === TRANSFORMS.none) return data;
      const into = takeFloats(data.length);
      const result = transform.apply(data, tensor.shape, into);
      giveBack(result === into ? data : into);
      return result;
    };
    values.set(spec.name, tensor.freshReads ? { fresh: read } : read);
  }
  const extra = b.source.tensors.filter((t) => !used.has(t) && !b.ignored?.(t)).map((t) => t.name);
  if (missing.length || extra.length || mismatched.length)
    throw new SchemeError(b.scheme, b.source.path, missing, extra, mismatched);
  return createModel(b.graph, values, {
    sourceFile: b.source.path,
    sourceFormat: b.source.format,
    scheme: b.scheme,
    sourceClasses: b.graph.options.classes,
    ...b.provenance,
  });
}

/**
 * The width divisor that gives `channels` for a full-size count `full` (ceil(full / d)), or
 * undefined. Schemes use the stem's first conv (32 filters) to recognise thin variants.
 */
export function widthDivisorFor(full: number, channels: number): number | undefined {
  for (let d = 1; d <= full; d++) if (Math.ceil(full / d) === channels) return d;
  return undefined;
}
