export * from './ir.js';
export * from './shapes.js';
export { inceptionV4 } from './inception-v4.js';
export { inceptionResNetV2, IRV2_BLOCKS } from './inception-resnet-v2.js';
export { BN_EPSILON, MIN_INPUT_SIZE, DEFAULT_OPTIONS } from './builder.js';
import type { Arch, BuildOptions, Graph } from './ir.js';
import { inceptionV4 } from './inception-v4.js';
import { inceptionResNetV2 } from './inception-resnet-v2.js';

/** Builds either network by name. */
export function buildGraph(arch: Arch, opts: BuildOptions = {}): Graph {
  return arch === 'inception_v4' ? inceptionV4(opts) : inceptionResNetV2(opts);
}
