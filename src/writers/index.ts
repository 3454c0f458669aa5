/** The writer registry: an explicit array, one line per format; heavy libraries load inside `write`. */
import type { Writer } from './types.js';

export const WRITERS: readonly Writer[] = [];

export * from './types.js';
