/**
 * The canonical graph as ONNX nodes: a pure translation into plain data (no protobuf here), so
 * that it can be tested and printed without encoding anything.
 *
 * Operators (semantics identical in every opset 13..21, https://onnx.ai/onnx/operators/):
 * - conv2d        -> Conv with explicit symmetric `pads` (the builder made TF's SAME explicit)
 * - batchnorm     -> BatchNormalization (inference form; `training_mode` left at its default 0)
 * - relu          -> Relu
 * - maxpool       -> MaxPool with explicit pads
 * - avgpool       -> AveragePool with `count_include_pad = 0`: TF's SAME average pooling divides
 *                    by the taps inside the image only
 * - concat        -> Concat on axis 1 (channels, NCHW)
 * - residual      -> `x + scale * branch` as Constant(scale) -> Mul -> Add (-> Relu); a scale of
 *                    exactly 1 (IRv2's last block8) is a plain Add: the same numbers, one op less
 * - globalavgpool -> GlobalAveragePool then Flatten(axis 1): [N, C, 1, 1] -> [N, C]
 * - flatten       -> Flatten(axis 1)
 * - dense         -> Gemm with transB = 1 (canonical dense weights are [out, in])
 * - softmax       -> Softmax(axis 1)
 *
 * Names: the input is `input`, NCHW [N, 3, S, S] with the symbolic batch `N`. The main output is
 * `logits`, or `probabilities` when the graph ends in a softmax; the auxiliary head is
 * `aux_logits`. Every other value is named after its canonical node, except a node whose name is
 * also the name of a block it does not end (the stem's conv `Conv2d_1a_3x3` in the block
 * `Conv2d_1a_3x3` that ends in `Conv2d_1a_3x3/Relu`): its value is `<name>/<op>`, so that the
 * block's name stays free for `exposeBlocks`. Initializers carry the canonical parameter names.
 */
import { blockStats, inferShapes, type Shape } from '../../graphs/shapes.js';
import { graphParams, type Graph, type GraphNode } from '../../graphs/ir.js';

/** TensorProto.DataType values used here (onnx/onnx.proto, `enum DataType`). */
export const ONNX_DTYPE = { float32: 1, float16: 10 } as const;
export type OnnxDataType = (typeof ONNX_DTYPE)[keyof typeof ONNX_DTYPE];

/** The names of the graph's input and outputs, and of its symbolic batch dimension. */
export const ONNX_NAMES = {
  input: 'input',
  batch: 'N',
  logits: 'logits',
  probabilities: 'probabilities',
  aux: 'aux_logits',
} as const;

export type OnnxAttribute =
  | { readonly name: string; readonly type: 'int'; readonly value: number }
  | { readonly name: string; readonly type: 'ints'; readonly value: readonly number[] }
  | { readonly name: string; readonly type: 'float'; readonly value: number };

export interface OnnxNode {
  readonly opType: string;
  readonly name: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attributes: readonly OnnxAttribute[];
  readonly docString?: string;
}

/** A float tensor value of the graph's interface; a string dimension is symbolic. */
export interface OnnxValueInfo {
  readonly name: string;
  readonly dims: readonly (number | string)[];
}

export interface OnnxInitializer {
  /** The initializer's name: the canonical parameter name. */
  readonly name: string;
  readonly dims: readonly number[];
  readonly dataType: OnnxDataType;
}

export interface OnnxGraph {
  readonly name: string;
  /** In topological order. */
  readonly nodes: readonly OnnxNode[];
  readonly inputs: readonly OnnxValueInfo[];
  readonly outputs: readonly OnnxValueInfo[];
  /** In the canonical parameter order (graphParams). */
  readonly initializers: readonly OnnxInitializer[];
}

export interface EmitOptions {
  /**
   * Element type of the stored weights. float16 initializers are each followed by a Cast to
   * float32, so that the graph computes (and takes and returns) float32. Default float32.
   */
  readonly dtype?: 'float32' | 'float16';
  /** Add a graph output named after each block (blockStats), holding the block's output. */
  readonly exposeBlocks?: boolean;
}

const ints = (name: string, value: readonly number[]): OnnxAttribute => ({ name, type: 'ints', value });
const int = (name: string, value: number): OnnxAttribute => ({ name, type: 'int', value });
const float = (name: string, value: number): OnnxAttribute => ({ name, type: 'float', value });

const node = (opType: string, name: string, inputs: readonly string[], output: string, attributes: OnnxAttribute[] = [], docString?: string): OnnxNode => ({
  opType,
  name,
  inputs,
  outputs: [output],
  attributes,
  ...(docString ? { docString } : {}),
});

/** The name of the main output: `probabilities` after a softmax, else `logits`. */
export const mainOutputName = (graph: Graph): string =>
  graph.options.softmax || graph.nodes.find((n) => n.name === graph.outputs.logits)?.op === 'softmax' ? ONNX_NAMES.probabilities : ONNX_NAMES.logits;

/**
 * The ONNX value name of each canonical node's output (see the file comment). Independent of the
 * emit options, so that the same model always has the same value names.
 */
export function valueNames(graph: Graph, outputNode: string = graph.outputs.logits): Map<string, string> {
  const blockEnds = new Map(blockStats(graph).map((b) => [b.block, b.output]));
  const names = new Map<string, string>([[graph.input.name, ONNX_NAMES.input]]);
  for (const n of graph.nodes) {
    const end = blockEnds.get(n.name);
    names.set(n.name, end !== undefined && end !== n.name ? `${n.name}/${n.op}` : n.name);
  }
  names.set(outputNode, mainOutputName(graph));
  if (graph.outputs.aux) names.set(graph.outputs.aux, ONNX_NAMES.aux);
  return names;
}

/** [N, ...per-sample shape]. */
const batched = (shape: Shape): (number | string)[] => [ONNX_NAMES.batch, ...shape];

/**
 * Translates one canonical node. `v` maps canonical names to ONNX value names; `w` maps
 * parameter names to the value that holds them as float32 (the initializer or its Cast).
 */
function emitNode(n: GraphNode, v: (name: string) => string, w: (param: string) => string): OnnxNode[] {
  const out = v(n.name);
  switch (n.op) {
    case 'conv2d':
      return [
        node('Conv', n.name, [v(n.input), w(`${n.name}/weights`), ...(n.bias ? [w(`${n.name}/biases`)] : [])], out, [
          ints('kernel_shape', n.kernel),
          ints('strides', n.stride),
          ints('pads', n.pads), // ONNX order: [top, left, bottom, right], as the canonical Pads
        ]),
      ];
    case 'batchnorm':
      return [
        node(
          'BatchNormalization',
          n.name,
          [v(n.input), ...['gamma', 'beta', 'moving_mean', 'moving_variance'].map((p) => w(`${n.name}/${p}`))],
          out,
          [float('epsilon', n.epsilon)],
        ),
      ];
    case 'relu':
      return [node('Relu', n.name, [v(n.input)], out)];
    case 'maxpool':
      return [node('MaxPool', n.name, [v(n.input)], out, [ints('kernel_shape', n.kernel), ints('strides', n.stride), ints('pads', n.pads)])];
    case 'avgpool':
      return [
        node('AveragePool', n.name, [v(n.input)], out, [
          ints('kernel_shape', n.kernel),
          ints('strides', n.stride),
          ints('pads', n.pads),
          int('count_include_pad', n.countIncludePad ? 1 : 0),
        ]),
      ];
    case 'concat':
      return [node('Concat', n.name, n.inputs.map(v), out, [int('axis', 1)])];
    case 'residual':
      return emitResidual(n.name, v(n.input), v(n.branch), n.scale, n.relu, out);
    case 'globalavgpool':
      return [node('GlobalAveragePool', `${n.name}/pool`, [v(n.input)], `${n.name}/pool`), node('Flatten', n.name, [`${n.name}/pool`], out, [int('axis', 1)])];
    case 'flatten':
      return [node('Flatten', n.name, [v(n.input)], out, [int('axis', 1)])];
    case 'dense':
      return [node('Gemm', n.name, [v(n.input), w(`${n.name}/weights`), w(`${n.name}/biases`)], out, [int('transB', 1)])];
    case 'softmax':
      return [node('Softmax', n.name, [v(n.input)], out, [int('axis', 1)])];
  }
}

/** `x + scale * branch` (then ReLU): Inception-ResNet-v2's residual, as TF-slim computes it. */
function emitResidual(name: string, x: string, branch: string, scale: number, relu: boolean, out: string): OnnxNode[] {
  const nodes: OnnxNode[] = [];
  let scaled = branch;
  if (scale !== 1) {
    nodes.push(node('Constant', `${name}/scale`, [], `${name}/scale`, [float('value_float', scale)]));
    nodes.push(node('Mul', `${name}/mul`, [branch, `${name}/scale`], `${name}/mul`, [], `residual branch scaled by ${scale}`));
    scaled = `${name}/mul`;
  }
  const sum = relu ? `${name}/add` : out;
  nodes.push(node('Add', relu ? `${name}/add` : name, [x, scaled], sum, [], `x + ${scale} * branch`));
  if (relu) nodes.push(node('Relu', name, [sum], out));
  return nodes;
}

/** The canonical graph as an ONNX graph: nodes, interface and initializers (without data). */
export function emitGraph(graph: Graph, options: EmitOptions = {}): OnnxGraph {
  const dtype = options.dtype ?? 'float32';
  const shapes = inferShapes(graph);
  const nodes: GraphNode[] = [...graph.nodes];
  let outputNode = graph.outputs.logits;
  // options.softmax on a graph whose output is still the logits: end it in a softmax here.
  if (graph.options.softmax && nodes.find((n) => n.name === outputNode)?.op !== 'softmax') {
    nodes.push({ op: 'softmax', name: 'Predictions', block: 'Predictions', input: outputNode });
    shapes.set('Predictions', shapes.get(outputNode)!);
    outputNode = 'Predictions';
  }
  const names = valueNames({ ...graph, nodes, outputs: { ...graph.outputs, logits: outputNode } }, outputNode);
  const v = (name: string): string => {
    const value = names.get(name);
    if (value === undefined) throw new Error(`onnx writer: node input ${name} is not defined`);
    return value;
  };

  const params = graphParams(graph);
  const initializers = params.map((p): OnnxInitializer => ({ name: p.name, dims: p.shape, dataType: ONNX_DTYPE[dtype] }));
  const castOf = (param: string) => `${param}/float32`;
  const w = dtype === 'float16' ? castOf : (param: string) => param;

  const byNode = new Map<string, string[]>();
  for (const p of params) byNode.set(p.node, [...(byNode.get(p.node) ?? []), p.name]);
  const onnxNodes: OnnxNode[] = [];
  for (const n of nodes) {
    // float16 storage: each parameter is cast to float32 right before the op that uses it.
    if (dtype === 'float16')
      for (const p of byNode.get(n.name) ?? []) onnxNodes.push(node('Cast', castOf(p), [p], castOf(p), [int('to', ONNX_DTYPE.float32)]));
    onnxNodes.push(...emitNode(n, v, w));
  }

  const outputs: OnnxValueInfo[] = [{ name: v(outputNode), dims: batched(shapes.get(outputNode)!) }];
  if (graph.outputs.aux) outputs.push({ name: v(graph.outputs.aux), dims: batched(shapes.get(graph.outputs.aux)!) });
  if (options.exposeBlocks)
    for (const b of blockStats({ ...graph, nodes })) {
      const value = v(b.output);
      if (value !== b.block) onnxNodes.push(node('Identity', `${b.block}/Identity`, [value], b.block));
      outputs.push({ name: b.block, dims: batched(b.shape) });
    }

  return {
    name: graph.arch,
    nodes: onnxNodes,
    inputs: [{ name: ONNX_NAMES.input, dims: batched(graph.input.shape) }],
    outputs,
    initializers,
  };
}
