/** The scheme registry, in detection order (the most specific names first). */
import { canonicalNaming, canonicalScheme } from './canonical.js';
import { kerasNaming, kerasScheme } from './keras.js';
import { onnxScheme } from './onnx.js';
import { slimNaming, slimScheme } from './slim.js';
import { tfjsNaming, tfjsScheme } from './tfjs.js';
import { timmNaming, timmScheme } from './timm.js';
import type { Naming, Scheme } from './types.js';

export const SCHEME_LIST: readonly Scheme[] = [onnxScheme, canonicalScheme, timmScheme, tfjsScheme, slimScheme, kerasScheme];

/** Namings that writers can write with (safetensors `--naming`). */
export const NAMINGS: readonly Naming[] = [canonicalNaming, timmNaming, tfjsNaming, slimNaming, kerasNaming];

export * from './types.js';
export { bindTable, readFloat32, TRANSFORMS, widthDivisorFor, type Transform, type BindingSource, type TableBinding } from './bind.js';
