/** A scheme binds one naming convention's stored tensors to the canonical graph's parameters. */
import type { Arch, BuildOptions, Graph } from '../ir.js';
import type { DType } from '../../tensor.js';
import type { Transform } from './bind.js';
import type { SourceModel } from '../../readers/types.js';
import type { CanonicalModel } from '../../model.js';

export const SCHEMES = ['canonical', 'slim', 'keras', 'timm', 'onnx', 'tfjs'] as const;
export type SchemeName = (typeof SCHEMES)[number];

/** What a scheme recognised in a source, before binding. */
export interface Detection {
  readonly scheme: SchemeName;
  readonly arch: Arch;
  /** Classes, aux head and width as stored. */
  readonly options: BuildOptions;
  /** The source stores batch norm folded into conv biases. */
  readonly foldedBn?: boolean;
  /** Why: shown by `port inspect`. */
  readonly reason: string;
}

export interface BindOptions {
  /** Force an architecture instead of detecting it. */
  readonly arch?: Arch;
  /** Keep the auxiliary head when the source has one. Default false (reported, left out). */
  readonly aux?: boolean;
  /** Take ExponentialMovingAverage shadow values when they exist (TF). Default false. */
  readonly ema?: boolean;
}

export interface Scheme {
  readonly name: SchemeName;
  readonly description: string;
  /** Looks at names and shapes only (reads no data); null when the scheme does not apply. */
  detect(source: SourceModel, options?: BindOptions): Detection | null;
  /** Binds lazily; throws SchemeError naming what is missing, extra or misshapen. */
  bind(source: SourceModel, detection: Detection, options?: BindOptions): CanonicalModel;
}

/**
 * How one naming convention stores each tensor of a graph. Its scheme reads with it and writers
 * (safetensors `--naming`) write with it, so that the table exists once.
 */
export interface Naming {
  readonly name: SchemeName;
  /** Every stored tensor for `graph`, in the convention's order. */
  layout(graph: Graph): NamedTensor[];
}

export interface NamedTensor {
  /** Name as stored. */
  readonly name: string;
  /** The canonical parameter it holds; absent for constants the convention needs (timm's `num_batches_tracked`). */
  readonly param?: string;
  /** Stored shape. */
  readonly shape: readonly number[];
  /** Canonical <-> stored layout (for `param`). */
  readonly transform?: Transform;
  /** For tensors that are not parameters: dtype and the value of every element. */
  readonly constant?: { readonly dtype: DType; readonly value: number };
}
