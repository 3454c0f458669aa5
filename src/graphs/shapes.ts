/** Shape inference, parameter and multiply-add counts over the canonical graph. */
import { graphParams, sizeOf, type Graph, type GraphNode, type Pads, type Pair, type ParamRole } from './ir.js';

export type Shape = readonly number[];

function pooledSize(size: number, kernel: number, stride: number, padBefore: number, padAfter: number): number {
  const out = Math.floor((size + padBefore + padAfter - kernel) / stride) + 1;
  if (out < 1) throw new RangeError(`window ${kernel} does not fit input ${size}`);
  return out;
}

function spatial(shape: Shape, kernel: Pair, stride: Pair, pads: Pads): [number, number] {
  return [
    pooledSize(shape[1], kernel[0], stride[0], pads[0], pads[2]),
    pooledSize(shape[2], kernel[1], stride[1], pads[1], pads[3]),
  ];
}

function outputShape(node: GraphNode, shapeOf: (name: string) => Shape): Shape {
  switch (node.op) {
    case 'conv2d': {
      const s = shapeOf(node.input);
      if (s[0] !== node.inChannels) throw new Error(`${node.name}: input has ${s[0]} channels, conv expects ${node.inChannels}`);
      return [node.outChannels, ...spatial(s, node.kernel, node.stride, node.pads)];
    }
    case 'maxpool':
    case 'avgpool': {
      const s = shapeOf(node.input);
      return [s[0], ...spatial(s, node.kernel, node.stride, node.pads)];
    }
    case 'concat': {
      const shapes = node.inputs.map(shapeOf);
      const [, h, w] = shapes[0];
      for (const s of shapes)
        if (s[1] !== h || s[2] !== w) throw new Error(`${node.name}: concatenated maps differ in size`);
      return [shapes.reduce((sum, s) => sum + s[0], 0), h, w];
    }
    case 'residual': {
      const a = shapeOf(node.input);
      const b = shapeOf(node.branch);
      if (a.join() !== b.join()) throw new Error(`${node.name}: residual shapes differ: [${a}] vs [${b}]`);
      return a;
    }
    case 'globalavgpool':
      return [shapeOf(node.input)[0]];
    case 'flatten':
      return [sizeOf(shapeOf(node.input))];
    case 'dense': {
      const s = shapeOf(node.input);
      if (s.length !== 1 || s[0] !== node.inFeatures) throw new Error(`${node.name}: dense expects [${node.inFeatures}], got [${s}]`);
      return [node.outFeatures];
    }
    case 'batchnorm':
    case 'relu':
    case 'softmax':
      return shapeOf(node.input);
  }
}

/** Per-sample output shape of every node (and of the input), NCHW without N. */
export function inferShapes(graph: Graph): Map<string, Shape> {
  const shapes = new Map<string, Shape>([[graph.input.name, graph.input.shape]]);
  const shapeOf = (name: string): Shape => {
    const s = shapes.get(name);
    if (!s) throw new Error(`node input ${name} is not defined before use`);
    return s;
  };
  for (const node of graph.nodes) shapes.set(node.name, outputShape(node, shapeOf));
  return shapes;
}

/**
 * How to count parameters:
 * - `timm`: conv weights and biases, BN gamma and beta, dense (PyTorch's trainable parameters).
 * - `keras`: conv weights and biases, BN beta, moving mean and moving variance (no gamma, as
 *   Keras' `scale=False` layers store them), dense.
 */
export type Counting = 'timm' | 'keras';

const COUNTED: Record<Counting, ReadonlySet<ParamRole>> = {
  timm: new Set(['conv.weights', 'conv.biases', 'bn.gamma', 'bn.beta', 'dense.weights', 'dense.biases']),
  keras: new Set(['conv.weights', 'conv.biases', 'bn.beta', 'bn.moving_mean', 'bn.moving_variance', 'dense.weights', 'dense.biases']),
};

/** Multiply-adds of one node for one sample: convs and dense layers only. */
function nodeMacs(node: GraphNode, out: Shape): number {
  if (node.op === 'conv2d') return sizeOf(out) * node.inChannels * node.kernel[0] * node.kernel[1];
  if (node.op === 'dense') return node.inFeatures * node.outFeatures;
  return 0;
}

export interface NodeStats {
  readonly node: GraphNode;
  readonly shape: Shape;
  readonly params: number;
  readonly macs: number;
}

export interface GraphStats {
  readonly params: number;
  readonly macs: number;
  readonly nodes: readonly NodeStats[];
}

export function countGraph(graph: Graph, counting: Counting = 'timm'): GraphStats {
  const shapes = inferShapes(graph);
  const paramsByNode = new Map<string, number>();
  for (const p of graphParams(graph))
    if (COUNTED[counting].has(p.role)) paramsByNode.set(p.node, (paramsByNode.get(p.node) ?? 0) + sizeOf(p.shape));
  let params = 0;
  let macs = 0;
  const nodes = graph.nodes.map((node) => {
    const shape = shapes.get(node.name)!;
    const stats = { node, shape, params: paramsByNode.get(node.name) ?? 0, macs: nodeMacs(node, shape) };
    params += stats.params;
    macs += stats.macs;
    return stats;
  });
  return { params, macs, nodes };
}

export interface BlockStats {
  readonly block: string;
  /** The node whose output is the block's output (its last node). */
  readonly output: string;
  readonly shape: Shape;
  readonly params: number;
  readonly macs: number;
}

/** Per-block totals in graph order: the rows of `port graph` and the checkpoints of `--layers`. */
export function blockStats(graph: Graph, counting: Counting = 'timm'): BlockStats[] {
  const rows = new Map<string, { block: string; output: string; shape: Shape; params: number; macs: number }>();
  for (const s of countGraph(graph, counting).nodes) {
    const row = rows.get(s.node.block) ?? { block: s.node.block, output: s.node.name, shape: s.shape, params: 0, macs: 0 };
    row.output = s.node.name;
    row.shape = s.shape;
    row.params += s.params;
    row.macs += s.macs;
    rows.set(s.node.block, row);
  }
  return [...rows.values()];
}
