/**
 * `port diff`: compares two models, in any formats, parameter by parameter on the canonical graph.
 * Both files are read and bound as `convert` would (format from the bytes, architecture and naming
 * from the tensors), so a TF-slim checkpoint can be compared with the ONNX or timm file made from
 * it. Per parameter: max and mean |a − b|; shapes that differ; parameters only one side has.
 *
 * Made comparable first, and said so in `notes`:
 * - batch norm folded on one side only (an ONNX export with BN fused into the convs): the other
 *   side is folded the same way (transforms.ts `foldBatchNorm`), unless `fold: false`;
 * - 1001 classes on one side, 1000 on the other: TF-slim's background class is dropped
 *   (transforms.ts `withClasses`), unless `classes` says otherwise.
 * The canonical model is float32 whatever was stored; the stored element types are reported per
 * file (`dtypes`), and a difference there is listed in `notes`.
 */
import { giveBack } from './io/pool.js';
import { bindModel, readModel, type BindModelOptions } from './api.js';
import type { Arch } from './graphs/ir.js';
import type { SchemeName } from './graphs/schemes/index.js';
import { foldBatchNorm, withClasses } from './graphs/transforms.js';
import type { CanonicalModel } from './model.js';
import type { FormatName } from './readers/index.js';

/**
 * Default tolerance: 1e-6 absolute. Converting between formats moves float32 values without
 * arithmetic (bit for bit); folding batch norm or a residual scale rounds each value once, a
 * relative error of about 6e-8 on weights of magnitude well below 10. A real porting bug (a
 * transposed kernel, a wrong layer) differs by the weights' own size, 1e-3 and more.
 */
export const DEFAULT_DIFF_ATOL = 1e-6;

export interface DiffOptions {
  /** Largest |a − b| still counted as equal. Default DEFAULT_DIFF_ATOL. */
  readonly atol?: number;
  /** Source formats (default `auto` each). */
  readonly fromA?: FormatName | 'auto';
  readonly fromB?: FormatName | 'auto';
  /** Naming schemes (default `auto`). */
  readonly schemeA?: SchemeName | 'auto';
  readonly schemeB?: SchemeName | 'auto';
  /** Force an architecture on both sides (default: detected). */
  readonly arch?: Arch;
  /** Compare the auxiliary heads too. Default false (as `convert`, which leaves them out). */
  readonly aux?: boolean;
  /** Take ExponentialMovingAverage values where stored (TF). Default false. */
  readonly ema?: boolean;
  /** Fold batch norm into the convs on the side that keeps it when the other has it folded. Default true. */
  readonly fold?: boolean;
  /** Bring both sides to this many classes (1000 or 1001). Default: 1000 when one side has 1000 and the other 1001. */
  readonly classes?: number;
}

export type ParamStatus = 'equal' | 'within' | 'differs' | 'shape' | 'only-a' | 'only-b';

export interface ParamDiff {
  /** Canonical parameter name. */
  readonly name: string;
  /** `equal` bit for bit; `within` atol; `differs` beyond it; `shape` mismatch; present on one side only. */
  readonly status: ParamStatus;
  readonly shapeA?: readonly number[];
  readonly shapeB?: readonly number[];
  /** max |a − b| (NaN against a number counts as Infinity; NaN against NaN as equal). */
  readonly maxAbs?: number;
  readonly meanAbs?: number;
  /** Elements whose difference exceeds atol. */
  readonly over?: number;
}

export interface DiffSide {
  readonly path: string;
  readonly format: FormatName;
  readonly scheme: SchemeName;
  readonly arch: Arch;
  readonly classes: number;
  readonly foldedBn: boolean;
  readonly aux: boolean;
  /** Element types of the stored tensors the model was read from. */
  readonly dtypes: readonly string[];
}

export interface DiffReport {
  readonly a: DiffSide;
  readonly b: DiffSide;
  readonly atol: number;
  /** In canonical order (a's graph, then what only b has). */
  readonly params: readonly ParamDiff[];
  readonly summary: {
    readonly compared: number;
    readonly equal: number;
    readonly within: number;
    readonly differs: number;
    readonly shape: number;
    readonly onlyA: number;
    readonly onlyB: number;
    /** Largest max |a − b| over the compared parameters, and where. */
    readonly maxAbs: number;
    readonly worst?: string;
  };
  /** What was done to make the two comparable, and differences in kind (architecture, dtype). */
  readonly notes: readonly string[];
  /** Nothing differs beyond atol, no shape mismatch, nothing on one side only, same architecture. */
  readonly same: boolean;
}

/** max and mean |a − b|, and how many elements exceed atol. */
function compare(a: Float32Array, b: Float32Array, atol: number): { maxAbs: number; meanAbs: number; over: number; identical: boolean } {
  let max = 0;
  let sum = 0;
  let over = 0;
  let identical = true;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (Object.is(x, y)) continue;
    identical = false;
    const nx = Number.isNaN(x);
    const ny = Number.isNaN(y);
    const d = nx && ny ? 0 : nx || ny ? Infinity : Math.abs(x - y);
    if (d > max) max = d;
    sum += d;
    if (d > atol) over++;
  }
  return { maxAbs: max, meanAbs: a.length ? sum / a.length : 0, over, identical };
}

const isFolded = (m: CanonicalModel) => !m.graph.nodes.some((n) => n.op === 'batchnorm');

/**
 * Compares two canonical models parameter by parameter (one pair in memory at a time). The
 * models are taken as they are: `diffFiles` makes them comparable first.
 */
export async function diffModels(a: CanonicalModel, b: CanonicalModel, options: { atol?: number } = {}): Promise<Pick<DiffReport, 'params' | 'summary' | 'atol'>> {
  const atol = options.atol ?? DEFAULT_DIFF_ATOL;
  if (!(atol >= 0)) throw new RangeError(`atol must be a non-negative number, got ${atol}`);
  const bByName = new Map(b.params.map((p) => [p.name, p]));
  const aNames = new Set(a.params.map((p) => p.name));
  const params: ParamDiff[] = [];
  let maxAbs = 0;
  let worst: string | undefined;
  for (const pa of a.params) {
    const pb = bByName.get(pa.name);
    if (!pb) {
      params.push({ name: pa.name, status: 'only-a', shapeA: pa.shape });
      continue;
    }
    if (pa.shape.join() !== pb.shape.join()) {
      params.push({ name: pa.name, status: 'shape', shapeA: pa.shape, shapeB: pb.shape });
      continue;
    }
    const [va, vb] = [await pa.read(), await pb.read()];
    const c = compare(va, vb, atol);
    if (pa.freshReads) giveBack(va); // ours alone: later reads land in this memory
    if (pb.freshReads) giveBack(vb);
    const status: ParamStatus = c.identical ? 'equal' : c.over === 0 ? 'within' : 'differs';
    params.push({ name: pa.name, status, shapeA: pa.shape, shapeB: pb.shape, maxAbs: c.maxAbs, meanAbs: c.meanAbs, over: c.over });
    if (worst === undefined || c.maxAbs > maxAbs) {
      maxAbs = c.maxAbs;
      worst = pa.name;
    }
  }
  for (const pb of b.params) if (!aNames.has(pb.name)) params.push({ name: pb.name, status: 'only-b', shapeB: pb.shape });
  const count = (s: ParamStatus) => params.filter((p) => p.status === s).length;
  const compared = count('equal') + count('within') + count('differs');
  return {
    atol,
    params,
    summary: {
      compared,
      equal: count('equal'),
      within: count('within'),
      differs: count('differs'),
      shape: count('shape'),
      onlyA: count('only-a'),
      onlyB: count('only-b'),
      maxAbs,
      ...(compared && worst !== undefined ? { worst } : {}),
    },
  };
}

/** Reads, binds and compares two model files (see the file comment). */
export async function diffFiles(pathA: string, pathB: string, options: DiffOptions = {}): Promise<DiffReport> {
  const bindOptions: BindModelOptions = { ...(options.arch ? { arch: options.arch } : {}), aux: options.aux ?? false, ema: options.ema ?? false };
  const sa = await readModel(pathA, { from: options.fromA ?? 'auto' });
  try {
    const sb = await readModel(pathB, { from: options.fromB ?? 'auto' });
    try {
      const ba = bindModel(sa, { ...bindOptions, scheme: options.schemeA ?? 'auto' });
      const bb = bindModel(sb, { ...bindOptions, scheme: options.schemeB ?? 'auto' });
      const side = (path: string, s: typeof sa, bound: typeof ba): DiffSide => ({
        path,
        format: s.format,
        scheme: bound.detection.scheme,
        arch: bound.model.graph.arch,
        classes: bound.model.graph.options.classes,
        foldedBn: isFolded(bound.model),
        aux: bound.model.graph.outputs.aux !== undefined,
        dtypes: [...new Set(s.tensors.filter((t) => t.dtype.startsWith('float') || t.dtype === 'bfloat16').map((t) => t.dtype))].sort(),
      });
      const A = side(pathA, sa, ba);
      const B = side(pathB, sb, bb);
      const notes: string[] = [];
      let ma = ba.model;
      let mb = bb.model;
      if (A.arch !== B.arch) notes.push(`the architectures differ: a is ${A.arch}, b is ${B.arch}`);
      if (A.dtypes.join() !== B.dtypes.join()) notes.push(`stored element types differ: a ${A.dtypes.join(', ') || 'none'}, b ${B.dtypes.join(', ') || 'none'}`);
      if (A.foldedBn !== B.foldedBn && (options.fold ?? true)) {
        if (A.foldedBn) mb = foldBatchNorm(mb);
        else ma = foldBatchNorm(ma);
        notes.push(`${A.foldedBn ? 'a' : 'b'} has batch norm folded into its convs: ${A.foldedBn ? 'b' : 'a'} was folded the same way for the comparison`);
      }
      const classes = options.classes ?? (A.classes !== B.classes && [A.classes, B.classes].every((c) => c === 1000 || c === 1001) ? 1000 : undefined);
      if (classes !== undefined)
        for (const [name, get, set] of [
          ['a', () => ma, (m: CanonicalModel) => (ma = m)],
          ['b', () => mb, (m: CanonicalModel) => (mb = m)],
        ] as const) {
          const m = get();
          if (m.graph.options.classes === classes) continue;
          set(withClasses(m, classes));
          notes.push(`${name} has ${m.graph.options.classes} classes: ${m.graph.options.classes === 1001 ? "its background class (0) was dropped" : 'a background class was added'} for the comparison`);
        }
      const d = await diffModels(ma, mb, { atol: options.atol });
      const s = d.summary;
      const same = A.arch === B.arch && s.differs === 0 && s.shape === 0 && s.onlyA === 0 && s.onlyB === 0;
      return { a: A, b: B, ...d, notes, same };
    } finally {
      await sb.close();
    }
  } finally {
    await sa.close();
  }
}
