/** What every reader returns: the stored tensors, as stored, read lazily. Readers know nothing of Inception. */
import type { BackgroundChecks } from '../io/background.js';
import type { DType } from '../tensor.js';

export const FORMATS = ['keras', 'tf', 'onnx', 'safetensors', 'tfjs'] as const;
export type FormatName = (typeof FORMATS)[number];

export interface StoredTensor {
  /** Name as stored (for Keras: `layer/weight` in file order). */
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly byteLength: number;
  /** The file that holds the bytes, and their offset there when stored raw and contiguous. */
  readonly file?: string;
  readonly offset?: number;
  /** Reads the raw little-endian bytes. Nothing is read before this is called. */
  read(): Promise<Uint8Array>;
  /**
   * Every `read()` returns a new buffer that nothing else holds (not a view into a cache or a
   * whole-file buffer), so the caller may overwrite it: layout changes then work in place.
   */
  readonly freshReads?: boolean;
}

export interface SourceModel {
  readonly format: FormatName;
  /** The path the user gave. */
  readonly path: string;
  /** Every file the model was read from (shards, external data). */
  readonly files: readonly string[];
  /** Format-specific facts (Keras version, ONNX opset, producer...), plain JSON-able data. */
  readonly metadata: Readonly<Record<string, unknown>>;
  /** In storage order (which matters for Keras: it loads by order). */
  readonly tensors: readonly StoredTensor[];
  /**
   * Format-specific structure a scheme may bind by (ONNX nodes, a Keras model config, a tfjs
   * topology); absent when the file holds weights only.
   */
  readonly structure?: unknown;
  /** Releases file handles. Safe to call twice. */
  close(): Promise<void>;
}

/** What `match` sees: cheap facts about the path, never the whole file. */
export interface Probe {
  readonly path: string;
  readonly isDirectory: boolean;
  /** File size in bytes (0 for a directory). */
  readonly size: number;
  /** The first 4 KiB (empty for a directory). */
  readonly head: Uint8Array;
  /** Names of the entries beside the file (or inside the directory). */
  readonly siblings: readonly string[];
}

export interface ReadOptions {
  /** Verify stored checksums where the format has them. Default true. */
  readonly verify?: boolean;
  /**
   * Verify them on this worker instead, beside the conversion (TensorFlow checkpoints' CRC32C):
   * a read then returns before its bytes are checked, and the caller must await
   * `checks.settle()` before it trusts what it read (api.convert does, before committing).
   */
  readonly checks?: BackgroundChecks;
}

export interface Reader {
  readonly format: FormatName;
  readonly description: string;
  /** Pure and cheap: bytes decide, names only break ties. */
  match(probe: Probe): boolean;
  open(path: string, options?: ReadOptions): Promise<SourceModel>;
}
