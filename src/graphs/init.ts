/**
 * A seeded, deterministic weight initialiser for tests, the demo and the benchmark. Values are in
 * realistic ranges (He-scaled kernels, BN statistics near the activations' own), so that a
 * forward pass gives logits with a spread and distinct top-5, not a degenerate output.
 * Each tensor has its own stream seeded from (seed, name): values do not depend on order, and a
 * tensor can be generated on demand.
 */
import { graphParams, sizeOf, type Graph, type ParamSpec } from './ir.js';
import { createModel, type CanonicalModel, type ParamSource } from '../model.js';

/** FNV-1a over the name, mixed with the seed. */
function hashSeed(seed: number, name: string): number {
  let h = 0x811c9dc5 ^ seed;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** mulberry32: small, fast, good enough for weights. Returns floats in [0, 1). */
function mulberry32(state: number): () => number {
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface SeedOptions {
  readonly seed?: number;
  /**
   * Batch-norm gamma: `random` (around 1, as timm stores it after training) or `one` (the sources
   * that store no gamma: TF-slim, Keras). Default `random`.
   */
  readonly gamma?: 'random' | 'one';
}

function fill(spec: ParamSpec, graph: Graph, seed: number, gamma: 'random' | 'one'): Float32Array {
  const n = sizeOf(spec.shape);
  const out = new Float32Array(n);
  const rand = mulberry32(hashSeed(seed, spec.name));
  const uniform = (lo: number, hi: number) => lo + (hi - lo) * rand();
  const normal = (std: number) => std * Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const each = (f: () => number) => {
    for (let i = 0; i < n; i++) out[i] = f();
  };
  switch (spec.role) {
    case 'conv.weights': {
      const [, ci, kh, kw] = spec.shape;
      const node = graph.nodes.find((x) => x.name === spec.node);
      // He scaling before a ReLU; the residual up-projections (biased, no activation) get half.
      const gain = node?.op === 'conv2d' && node.bias ? 1 : 2;
      each(() => normal(Math.sqrt(gain / (ci * kh * kw))));
      break;
    }
    case 'conv.biases':
      each(() => normal(0.05));
      break;
    case 'bn.gamma':
      each(() => (gamma === 'one' ? 1 : uniform(0.8, 1.2)));
      break;
    case 'bn.beta':
      each(() => normal(0.1));
      break;
    case 'bn.moving_mean':
      each(() => normal(0.1));
      break;
    case 'bn.moving_variance':
      // Log-symmetric around 1: activations neither grow nor shrink on average through depth.
      each(() => Math.exp(normal(0.15)));
      break;
    case 'dense.weights':
      // Logits with a standard deviation of a few units: a clear top-5.
      each(() => normal(4 / Math.sqrt(spec.shape[1])));
      break;
    case 'dense.biases':
      each(() => normal(0.1));
      break;
  }
  return out;
}

/** A canonical model with seeded weights, generated lazily per tensor. */
export function seededModel(graph: Graph, opts: SeedOptions = {}): CanonicalModel {
  const seed = opts.seed ?? 0;
  const gamma = opts.gamma ?? 'random';
  const values = new Map<string, ParamSource>();
  for (const spec of graphParams(graph)) values.set(spec.name, async () => fill(spec, graph, seed, gamma));
  return createModel(graph, values, { sourceFormat: 'seeded', scheme: 'canonical', sourceClasses: graph.options.classes });
}
