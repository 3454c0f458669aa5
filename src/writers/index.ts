/** The writer registry: an explicit array, one line per format; heavy libraries load inside `write`. */
import type { Writer } from './types.js';
import { onnxWriter } from './onnx/index.js';
import { safetensorsWriter } from './safetensors/index.js';
import { tfjsWriter } from './tfjs/index.js';

export const WRITERS: readonly Writer[] = [onnxWriter, safetensorsWriter, tfjsWriter];

export * from './types.js';
