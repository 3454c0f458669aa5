/** A scheme binds one naming convention's stored tensors to the canonical graph's parameters. */
import type { Arch, BuildOptions } from '../ir.js';
import type { SourceModel } from '../../readers/types.js';
import type { CanonicalModel } from '../../model.js';

export const SCHEMES = ['canonical', 'slim', 'keras', 'timm', 'onnx'] as const;
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
