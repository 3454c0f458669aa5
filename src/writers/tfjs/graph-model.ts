/**
 * The canonical graph as a TensorFlow.js graph-model (`tf.loadGraphModel`), as
 * tensorflowjs_converter's `--output_format tfjs_graph_model` lays it out
 * (tfjs-converter/python/tensorflowjs/converters/tf_saved_model_conversion_v2.py): model.json's
 * `modelTopology` is a frozen TensorFlow GraphDef in protobuf's JSON mapping (`MessageToDict`:
 * camelCase message fields, snake_case attr keys, int64 as decimal strings, `bytes` as base64),
 * whose `Const` nodes carry only dtype and shape; their values are the manifest's weights of the
 * same name. `signature` names the input and the outputs.
 *
 * | canonical       | TF ops (NHWC, float32)                                                       |
 * | --------------- | ---------------------------------------------------------------------------- |
 * | input           | Placeholder `[-1, S, S, 3]`                                                  |
 * | conv2d          | Conv2D `VALID` / `SAME`, or `EXPLICIT` + `explicit_paddings` for other pads; |
 * |                 | + BiasAdd when the conv has a bias                                           |
 * | batchnorm       | FusedBatchNormV3 (inference: `is_training` false), gamma/beta/mean/variance   |
 * | relu / softmax  | Relu / Softmax                                                               |
 * | maxpool         | MaxPool `VALID` / `SAME` (other pads cannot be expressed)                    |
 * | avgpool         | AvgPool `VALID` / `SAME` (TF's SAME divides by the valid taps: the canonical  |
 * |                 | `count_include_pad = false`); Pad + `VALID` for an average that counts pads  |
 * | concat          | ConcatV2 on axis 3                                                           |
 * | residual        | AddV2 [+ Relu]; the scale is folded into the up-projection (schemes/tfjs.ts)  |
 * | globalavgpool   | Mean over axes [1, 2]                                                        |
 * | flatten / dense | Reshape `[-1, F]` / MatMul + BiasAdd                                         |
 * | each output     | Identity (`Identity`, `Identity_1`, ... as the converter names them)         |
 *
 * Batch norm stays a FusedBatchNormV3 node with the canonical parameters (not folded into the
 * conv as the converter's grappler pass would): it is exact (tfjs computes it as its
 * BatchNormalization layer does), the weights are the layers-model's (same names, same HWIO
 * layouts, same residual scale folded), so the tfjs scheme reads a graph-model back as it reads a
 * layers-model, and `tfjsFloat16Model` is what a float16 graph-model holds too. A canonical graph
 * with BN already folded (`foldBatchNorm`) becomes Conv2D + BiasAdd.
 *
 * Names: each canonical node's value is the node `tfjsLayerName(node)` (the layers-model's layer
 * name); helper nodes are `<that>/Conv2D`, `<that>/MatMul`, `<that>/Pad`, `<residual>.add`;
 * int32 operands (axes, shapes, paddings) are Const nodes `<node>/axis`, `/reduction_indices`,
 * `/shape`, `/paddings` stored after the weights in the manifest, as the converter stores them.
 */
import { blockStats, inferShapes, type Shape } from '../../graphs/shapes.js';
import type { Graph, GraphNode } from '../../graphs/ir.js';
import { foldedResidualScales, tfjsLayerName, tfjsNaming } from '../../graphs/schemes/tfjs.js';
import type { CanonicalModel } from '../../model.js';
import type { WriteOptions } from '../types.js';
import type { TfjsPlan } from './index.js';
import { paddingMode } from './topology.js';

/** An attr value in protobuf's JSON mapping (tensorflow/core/framework/attr_value.proto). */
export type AttrValue =
  | { readonly type: string }
  | { readonly s: string }
  | { readonly i: string }
  | { readonly f: number }
  | { readonly b: boolean }
  | { readonly shape: TensorShapeJson }
  | { readonly list: { readonly i?: readonly string[] } }
  | { readonly tensor: { readonly dtype: string; readonly tensorShape: TensorShapeJson } };

export interface TensorShapeJson {
  readonly dim?: readonly { readonly size: string }[];
}

/** A NodeDef in protobuf's JSON mapping (tensorflow/core/framework/node_def.proto). */
export interface NodeDefJson {
  readonly name: string;
  readonly op: string;
  readonly input?: readonly string[];
  readonly attr?: Readonly<Record<string, AttrValue>>;
}

/** A signature entry (TensorInfo in tensorflow/core/protobuf/meta_graph.proto). */
export interface TensorInfoJson {
  readonly name: string;
  readonly dtype: 'DT_FLOAT';
  readonly tensorShape: TensorShapeJson;
}

/** An int32 operand stored in the manifest after the weights. */
export interface Int32Constant {
  readonly name: string;
  readonly shape: readonly number[];
  readonly data: Int32Array;
}

export interface GraphModelTopology {
  /** model.json `modelTopology`: a GraphDef. */
  readonly modelTopology: { readonly node: NodeDefJson[]; readonly library: object; readonly versions: { readonly producer: number } };
  /** model.json `signature`: `inputs` and `outputs` by key, each naming its tensor. */
  readonly signature: { readonly inputs: Record<string, TensorInfoJson>; readonly outputs: Record<string, TensorInfoJson> };
  /** The int32 Const values, in node order. */
  readonly constants: readonly Int32Constant[];
  /** Outputs in signature order: the key (tfjs's `outputNodes`) and the canonical node. */
  readonly outputs: readonly { readonly output: string; readonly node: string }[];
  /** With exposeBlocks: each block (blockStats order) and the index of its output in `outputs`. */
  readonly blocks: readonly { readonly block: string; readonly output: number }[];
}

/**
 * GraphDef version recorded (tensorflow/core/public/version.h `TF_GRAPH_DEF_VERSION`; every op
 * used exists from far earlier). tfjs only reports it (`GraphModel.modelVersion`).
 */
export const GRAPH_DEF_PRODUCER = 1808;

const b64 = (s: string): string => Buffer.from(s, 'ascii').toString('base64');
const T = { T: { type: 'DT_FLOAT' } } as const;
const NHWC = { data_format: { s: b64('NHWC') } } as const;
const ints = (xs: readonly number[]): AttrValue => ({ list: { i: xs.map(String) } });
const shapeJson = (dims: readonly number[]): TensorShapeJson => (dims.length ? { dim: dims.map((d) => ({ size: String(d) })) } : {});
const constNode = (name: string, dtype: 'DT_FLOAT' | 'DT_INT32', shape: readonly number[]): NodeDefJson => ({
  name,
  op: 'Const',
  attr: { value: { tensor: { dtype, tensorShape: shapeJson(shape) } }, dtype: { type: dtype } },
});
/** An NHWC shape with a free batch dimension, from a canonical per-sample shape. */
const batchShape = (s: Shape): number[] => (s.length === 3 ? [-1, s[1], s[2], s[0]] : [-1, ...s]);

export interface GraphModelOptions {
  /** Add every block's output as a model output. */
  readonly exposeBlocks?: boolean;
  /** Stored tfjs weight names (schemes/tfjs.ts `tfjsNaming`), each with its stored shape. */
  readonly weights: readonly { readonly name: string; readonly shape: readonly number[] }[];
}

export function buildGraphModel(graph: Graph, options: GraphModelOptions): GraphModelTopology {
  const shapes = inferShapes(graph);
  const scales = foldedResidualScales(graph); // throws when a scale cannot be folded
  const weightShape = new Map(options.weights.map((w) => [w.name, w.shape]));
  const nodes: NodeDefJson[] = [];
  const constants: Int32Constant[] = [];
  /** TF node that holds each canonical node's value. */
  const valueOf = new Map<string, string>();
  const from = (node: string): string => {
    const v = valueOf.get(node);
    if (!v) throw new Error(`tfjs graph-model: ${node} is used before it is defined`);
    return v;
  };
  const weight = (name: string): string => {
    const shape = weightShape.get(name);
    if (!shape) throw new Error(`tfjs graph-model: no weight ${name}`);
    nodes.push(constNode(name, 'DT_FLOAT', shape));
    return name;
  };
  const int32 = (name: string, shape: readonly number[], values: readonly number[]): string => {
    constants.push({ name, shape, data: Int32Array.from(values) });
    nodes.push(constNode(name, 'DT_INT32', shape));
    return name;
  };
  const op = (name: string, opName: string, input: string[], attr: Record<string, AttrValue> = {}): string => {
    nodes.push({ name, op: opName, input, attr: { ...T, ...attr } });
    return name;
  };

  const [c, h, w] = graph.input.shape;
  const inputName = tfjsLayerName(graph.input.name);
  nodes.push({ name: inputName, op: 'Placeholder', attr: { dtype: { type: 'DT_FLOAT' }, shape: { shape: shapeJson([-1, h, w, c]) } } });
  valueOf.set(graph.input.name, inputName);

  const emit = (n: GraphNode): string => {
    const name = tfjsLayerName(n.name);
    const unsupported = (what: string) => new Error(`tfjs graph-model: ${n.name}: ${what} cannot be expressed`);
    switch (n.op) {
      case 'conv2d': {
        const mode = paddingMode(shapes.get(n.input)!, n.kernel, n.stride, n.pads);
        if (scales.has(n.name) && !n.bias) throw unsupported('a residual scale without a bias');
        const pads = n.pads;
        const conv = op(n.bias ? `${name}/Conv2D` : name, 'Conv2D', [from(n.input), weight(`${name}/kernel`)], {
          strides: ints([1, n.stride[0], n.stride[1], 1]),
          padding: { s: b64(mode ? mode.toUpperCase() : 'EXPLICIT') },
          // NHWC order: [N before, N after, H before, H after, W before, W after, C before, C after].
          explicit_paddings: ints(mode ? [] : [0, 0, pads[0], pads[2], pads[1], pads[3], 0, 0]),
          dilations: ints([1, 1, 1, 1]),
          use_cudnn_on_gpu: { b: true },
          ...NHWC,
        });
        return n.bias ? op(name, 'BiasAdd', [conv, weight(`${name}/bias`)], { ...NHWC }) : conv;
      }
      case 'batchnorm':
        return op(
          name,
          'FusedBatchNormV3',
          [from(n.input), ...['gamma', 'beta', 'moving_mean', 'moving_variance'].map((p) => weight(`${name}/${p}`))],
          { U: { type: 'DT_FLOAT' }, epsilon: { f: n.epsilon }, is_training: { b: false }, exponential_avg_factor: { f: 1 }, ...NHWC },
        );
      case 'relu':
        return op(name, 'Relu', [from(n.input)]);
      case 'softmax':
        return op(name, 'Softmax', [from(n.input)]);
      case 'maxpool':
      case 'avgpool': {
        let mode = paddingMode(shapes.get(n.input)!, n.kernel, n.stride, n.pads);
        let input = from(n.input);
        if (n.op === 'avgpool' && mode === 'same' && n.countIncludePad) mode = undefined;
        if (!mode) {
          // Zero padding is right only for an average that counts the pads.
          if (n.op === 'maxpool' || !n.countIncludePad) throw unsupported(`${n.op} with pads [${n.pads}]`);
          const p = n.pads;
          const paddings = int32(`${name}/paddings`, [4, 2], [0, 0, p[0], p[2], p[1], p[3], 0, 0]);
          input = op(`${name}/Pad`, 'Pad', [input, paddings], { Tpaddings: { type: 'DT_INT32' } });
          mode = 'valid';
        }
        return op(name, n.op === 'maxpool' ? 'MaxPool' : 'AvgPool', [input], {
          ksize: ints([1, n.kernel[0], n.kernel[1], 1]),
          strides: ints([1, n.stride[0], n.stride[1], 1]),
          padding: { s: b64(mode.toUpperCase()) },
          ...NHWC,
        });
      }
      case 'concat':
        return op(name, 'ConcatV2', [...n.inputs.map(from), int32(`${name}/axis`, [], [3])], {
          N: { i: String(n.inputs.length) },
          Tidx: { type: 'DT_INT32' },
        });
      case 'residual': {
        if (n.scale !== 1 && scales.get(n.branch) !== n.scale) throw unsupported(`residual scale ${n.scale}`);
        const sum = op(n.relu ? `${name}.add` : name, 'AddV2', [from(n.input), from(n.branch)]);
        return n.relu ? op(name, 'Relu', [sum]) : sum;
      }
      case 'globalavgpool':
        return op(name, 'Mean', [from(n.input), int32(`${name}/reduction_indices`, [2], [1, 2])], {
          Tidx: { type: 'DT_INT32' },
          keep_dims: { b: false },
        });
      case 'flatten': {
        const features = shapes.get(n.name)![0];
        return op(name, 'Reshape', [from(n.input), int32(`${name}/shape`, [2], [-1, features])], { Tshape: { type: 'DT_INT32' } });
      }
      case 'dense': {
        const mm = op(`${name}/MatMul`, 'MatMul', [from(n.input), weight(`${name}/kernel`)], { transpose_a: { b: false }, transpose_b: { b: false } });
        return op(name, 'BiasAdd', [mm, weight(`${name}/bias`)], { ...NHWC });
      }
    }
  };
  for (const n of graph.nodes) valueOf.set(n.name, emit(n));

  // Outputs: an Identity each, keyed in the signature by the layers-model's output name.
  const outputs: { output: string; node: string }[] = [];
  const signatureOutputs: Record<string, TensorInfoJson> = {};
  const indexOf = (node: string): number => {
    const at = outputs.findIndex((o) => o.node === node);
    if (at >= 0) return at;
    const identity = op(outputs.length === 0 ? 'Identity' : `Identity_${outputs.length}`, 'Identity', [from(node)]);
    const key = tfjsLayerName(node);
    signatureOutputs[key] = { name: `${identity}:0`, dtype: 'DT_FLOAT', tensorShape: shapeJson(batchShape(shapes.get(node)!)) };
    outputs.push({ output: key, node });
    return outputs.length - 1;
  };
  indexOf(graph.outputs.logits);
  if (graph.outputs.aux) indexOf(graph.outputs.aux);
  const blocks = options.exposeBlocks ? blockStats(graph).map((b) => ({ block: b.block, output: indexOf(b.output) })) : [];

  return {
    modelTopology: { node: nodes, library: {}, versions: { producer: GRAPH_DEF_PRODUCER } },
    signature: {
      inputs: { [inputName]: { name: `${inputName}:0`, dtype: 'DT_FLOAT', tensorShape: shapeJson([-1, h, w, c]) } },
      outputs: signatureOutputs,
    },
    constants,
    outputs,
    blocks,
  };
}

/**
 * The graph-model that the tfjs writer writes (`tfjsFormat: 'graph-model'`): the weights in graph
 * order, then the int32 operands; model.json as the converter writes it, with weightport's
 * metadata as in a layers-model (`outputs` name the signature keys).
 */
export function graphModelPlan(model: CanonicalModel, options: WriteOptions): TfjsPlan {
  const graph = model.graph;
  const named = tfjsNaming.layout(graph);
  const topo = buildGraphModel(graph, { exposeBlocks: options.exposeBlocks, weights: named });
  return {
    named,
    constants: topo.constants,
    format: 'graph-model',
    topology: { signature: topo.signature, modelTopology: topo.modelTopology },
    input: { node: tfjsLayerName(graph.input.name) },
    outputs: topo.outputs,
    blocks: topo.blocks,
  };
}
