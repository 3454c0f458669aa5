/**
 * The canonical graph: plain data, so that it can be counted, printed, serialised and executed by
 * any engine.
 *
 * Conventions (the one canonical layout; every layout change lives in a scheme or a writer):
 * - Feature maps are NCHW; shapes here are per sample: [C, H, W] for maps, [F] for vectors.
 * - Conv kernels are OIHW [out, in, kh, kw]; dense weights are [out, in] (ONNX Gemm with
 *   transB = 1, PyTorch Linear).
 * - Names follow TF-slim without the network scope (`InceptionV4/`, `InceptionResnetV2/`):
 *   a conv unit `Mixed_5b/Branch_1/Conv2d_0b_5x5` has the conv node of that name with parameter
 *   `<unit>/weights`, a batch-norm node `<unit>/BatchNorm` with `gamma`, `beta`, `moving_mean`,
 *   `moving_variance`, and a ReLU node `<unit>/Relu`. Dense layers are `Logits/Logits`
 *   (`weights`, `biases`) as in TF-slim.
 * - Every node's output is named by the node's `name`; nodes are in topological order.
 */

export const ARCHS = ['inception_v4', 'inception_resnet_v2'] as const;
export type Arch = (typeof ARCHS)[number];

export type Pair = readonly [number, number];
/** Explicit pads: [top, left, bottom, right] (ONNX's order is [top, left, bottom, right] too). */
export type Pads = readonly [number, number, number, number];

interface NodeBase {
  /** Unique; also the name of the node's output. */
  readonly name: string;
  /**
   * The top-level block the node belongs to (`Conv2d_1a_3x3`, `Mixed_5b`, `Repeat/block35_3`,
   * `Logits`): the unit at which parity reports the first divergence.
   */
  readonly block: string;
}

export interface Conv2dNode extends NodeBase {
  readonly op: 'conv2d';
  readonly input: string;
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernel: Pair;
  readonly stride: Pair;
  readonly pads: Pads;
  /** True for the residual up-projections and for convs with batch norm folded in. */
  readonly bias: boolean;
}

export interface BatchNormNode extends NodeBase {
  readonly op: 'batchnorm';
  readonly input: string;
  readonly channels: number;
  readonly epsilon: number;
}

export interface ReluNode extends NodeBase {
  readonly op: 'relu';
  readonly input: string;
}

export interface MaxPoolNode extends NodeBase {
  readonly op: 'maxpool';
  readonly input: string;
  readonly kernel: Pair;
  readonly stride: Pair;
  readonly pads: Pads;
}

export interface AvgPoolNode extends NodeBase {
  readonly op: 'avgpool';
  readonly input: string;
  readonly kernel: Pair;
  readonly stride: Pair;
  readonly pads: Pads;
  /** False in both networks: TF's SAME average pooling divides by the valid taps only. */
  readonly countIncludePad: boolean;
}

/** Concatenation along channels. */
export interface ConcatNode extends NodeBase {
  readonly op: 'concat';
  readonly inputs: readonly string[];
}

/** `input + scale * branch`, then ReLU when `relu`. */
export interface ResidualNode extends NodeBase {
  readonly op: 'residual';
  readonly input: string;
  readonly branch: string;
  readonly scale: number;
  readonly relu: boolean;
}

/** [C, H, W] -> [C]. */
export interface GlobalAvgPoolNode extends NodeBase {
  readonly op: 'globalavgpool';
  readonly input: string;
}

/** [C, 1, 1] -> [C] (the auxiliary heads). */
export interface FlattenNode extends NodeBase {
  readonly op: 'flatten';
  readonly input: string;
}

export interface DenseNode extends NodeBase {
  readonly op: 'dense';
  readonly input: string;
  readonly inFeatures: number;
  readonly outFeatures: number;
}

export interface SoftmaxNode extends NodeBase {
  readonly op: 'softmax';
  readonly input: string;
}

export type GraphNode =
  | Conv2dNode
  | BatchNormNode
  | ReluNode
  | MaxPoolNode
  | AvgPoolNode
  | ConcatNode
  | ResidualNode
  | GlobalAvgPoolNode
  | FlattenNode
  | DenseNode
  | SoftmaxNode;

export type Op = GraphNode['op'];

/** Options a builder was called with; kept on the graph so that it can be rebuilt. */
export interface BuildOptions {
  /** Output classes: 1000 (Keras, timm) or 1001 (TF-slim, class 0 is "background"). Default 1000. */
  readonly classes?: number;
  /** Include the auxiliary head (an extra output from the middle of the network). Default false. */
  readonly aux?: boolean;
  /**
   * Thin variant: every channel count divided by this (rounded up); same topology and names.
   * Default 1 (full size).
   */
  readonly widthDivisor?: number;
  /** Input height and width. Default 299; at least 75. */
  readonly inputSize?: number;
  /** End in a softmax (probabilities) instead of logits. Default false. */
  readonly softmax?: boolean;
}

export interface Graph {
  readonly arch: Arch;
  readonly options: Required<BuildOptions>;
  /** Name of the input; shape [3, inputSize, inputSize], values in [-1, 1]. */
  readonly input: { readonly name: string; readonly shape: readonly number[] };
  readonly nodes: readonly GraphNode[];
  /** Output node names: `logits` (or probabilities when `options.softmax`), and `aux` when built. */
  readonly outputs: { readonly logits: string; readonly aux?: string };
}

/** Kinds of parameter, so that schemes and writers can switch on role, not on name suffixes. */
export type ParamRole =
  | 'conv.weights'
  | 'conv.biases'
  | 'bn.gamma'
  | 'bn.beta'
  | 'bn.moving_mean'
  | 'bn.moving_variance'
  | 'dense.weights'
  | 'dense.biases';

export interface ParamSpec {
  /** Canonical name, for example `Mixed_5b/Branch_1/Conv2d_0b_5x5/weights`. */
  readonly name: string;
  /** The node that owns it. */
  readonly node: string;
  readonly role: ParamRole;
  /** Canonical layout (see the file comment). */
  readonly shape: readonly number[];
}

const BN_PARAMS = ['gamma', 'beta', 'moving_mean', 'moving_variance'] as const;

/** The parameters of a graph, in node order (and within a node: weights, biases; gamma, beta, mean, variance). */
export function graphParams(graph: Graph): ParamSpec[] {
  const specs: ParamSpec[] = [];
  for (const node of graph.nodes) {
    switch (node.op) {
      case 'conv2d':
        specs.push({
          name: `${node.name}/weights`,
          node: node.name,
          role: 'conv.weights',
          shape: [node.outChannels, node.inChannels, node.kernel[0], node.kernel[1]],
        });
        if (node.bias)
          specs.push({ name: `${node.name}/biases`, node: node.name, role: 'conv.biases', shape: [node.outChannels] });
        break;
      case 'batchnorm':
        for (const p of BN_PARAMS)
          specs.push({ name: `${node.name}/${p}`, node: node.name, role: `bn.${p}`, shape: [node.channels] });
        break;
      case 'dense':
        specs.push({
          name: `${node.name}/weights`,
          node: node.name,
          role: 'dense.weights',
          shape: [node.outFeatures, node.inFeatures],
        });
        specs.push({ name: `${node.name}/biases`, node: node.name, role: 'dense.biases', shape: [node.outFeatures] });
        break;
      default:
        break;
    }
  }
  return specs;
}

/** Element count of a shape. */
export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
