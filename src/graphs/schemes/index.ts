/** The scheme registry, in detection order (the most specific names first). */
import { canonicalScheme } from './canonical.js';
import type { Scheme } from './types.js';

export const SCHEME_LIST: readonly Scheme[] = [canonicalScheme];

export * from './types.js';
export { bindTable, readFloat32, TRANSFORMS, widthDivisorFor, type Transform, type BindingSource, type TableBinding } from './bind.js';
