/**
 * The reader registry: an explicit array, one line per format. Each reader module imports its
 * heavy dependencies (h5wasm, protobufjs) inside `open`, so listing it here costs nothing.
 */
import type { Reader } from './types.js';
import { kerasReader } from './keras/index.js';
import { onnxReader } from './onnx/index.js';
import { safetensorsReader } from './safetensors/index.js';
import { tfCheckpointReader } from './tf-checkpoint/index.js';
import { tfjsReader } from './tfjs/index.js';

export const READERS: readonly Reader[] = [safetensorsReader, onnxReader, tfCheckpointReader, tfjsReader, kerasReader];

export * from './types.js';
