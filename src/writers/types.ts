/** The writer interface: one module per format, all behind it. */
import type { CanonicalModel } from '../model.js';

export const TARGETS = ['onnx', 'tfjs', 'safetensors'] as const;
export type TargetFormat = (typeof TARGETS)[number];

/** The namings `--to safetensors --naming` offers: every one registered in graphs/schemes NAMINGS (a test keeps them equal). */
export const SAFETENSORS_SCHEMES = ['canonical', 'timm', 'slim', 'keras', 'tfjs'] as const;
export type SafetensorsScheme = (typeof SAFETENSORS_SCHEMES)[number];

export const TFJS_FORMATS = ['layers-model', 'graph-model'] as const;
export type TfjsFormat = (typeof TFJS_FORMATS)[number];

/** Options of every writer; each uses those that concern it. Defaults are the writers'. */
export interface WriteOptions {
  /** Overwrite existing outputs. Default false (OutputError, exit code 4). */
  readonly force?: boolean;
  /** Element type written. Default float32. */
  readonly dtype?: 'float32' | 'float16';
  /** ONNX opset, 13..21. */
  readonly opset?: number;
  /** ONNX: fold batch norm into the convs. */
  readonly foldBn?: boolean;
  /** ONNX: tensors in a side file (automatic past 2 GB). */
  readonly externalData?: boolean;
  /** safetensors: naming scheme and layout of the tensors written (`--naming`). Default canonical. */
  readonly naming?: SafetensorsScheme;
  /** tfjs: bytes per weight shard. Default 4 MiB. */
  readonly shardSize?: number;
  /**
   * tfjs: `layers-model` (a Keras topology, `tf.loadLayersModel`) or `graph-model` (a frozen
   * GraphDef, `tf.loadGraphModel`; tensorflowjs_converter's `tfjs_graph_model`). Default layers-model.
   */
  readonly tfjsFormat?: TfjsFormat;
  /**
   * Also output the value of every block (graphs/shapes.ts `blockStats`, in that order, named after
   * the block), for parity's first-divergence search. Default false.
   */
  readonly exposeBlocks?: boolean;
  /** Progress callback: parameters done out of total. */
  readonly onProgress?: (done: number, total: number) => void;
  /**
   * Awaited once every file is written, before any is renamed into place: a rejection fails the
   * write and leaves nothing (api.convert waits here for checksums verified in the background).
   */
  readonly beforeCommit?: () => Promise<void>;
}

export interface WriteResult {
  /** Files written (final paths). */
  readonly files: readonly string[];
  readonly bytes: number;
}

export interface Writer {
  readonly format: TargetFormat;
  readonly description: string;
  /** Writes atomically: temporary files renamed at the end, nothing left behind on error. */
  write(model: CanonicalModel, outPath: string, options?: WriteOptions): Promise<WriteResult>;
}
