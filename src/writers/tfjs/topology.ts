/**
 * The canonical graph as a Keras functional topology that TensorFlow.js's `tf.loadLayersModel`
 * deserialises (tfjs-layers/src/engine/container.ts `fromConfig`, the layer classes'
 * `getConfig`). Only layers that tfjs ships are used:
 *
 * | canonical       | tfjs layer(s)                                                            |
 * | --------------- | ------------------------------------------------------------------------ |
 * | input           | InputLayer, NHWC `[null, S, S, 3]`                                       |
 * | conv2d          | Conv2D `valid` or `same` when the pads equal TF's SAME pads; otherwise  |
 * |                 | ZeroPadding2D (`<layer>.pad`) + `valid`                                  |
 * | batchnorm       | BatchNormalization (axis -1, center and scale)                           |
 * | relu / softmax  | Activation `relu` / `softmax`                                            |
 * | maxpool         | MaxPooling2D `valid` / `same` (other pads cannot be expressed)            |
 * | avgpool         | AveragePooling2D; `same` only where it excludes padding as the graph     |
 * |                 | says (TF and tfjs divide by the valid taps: count_include_pad = false)   |
 * | concat          | Concatenate (axis -1)                                                    |
 * | residual        | Add (`<layer>.add` when a ReLU follows) [+ Activation `relu`]; the scale |
 * |                 | is folded into the up-projection's kernel and bias (schemes/tfjs.ts)     |
 * | globalavgpool   | GlobalAveragePooling2D                                                   |
 * | flatten / dense | Flatten / Dense                                                          |
 *
 * No Lambda and no custom layer: tfjs can load neither. Each layer is named after its canonical
 * node (`tfjsLayerName`: `/` -> `.`), so every node's value is the output of the layer of that
 * name.
 */
import { inferShapes, blockStats, type Shape } from '../../graphs/shapes.js';
import type { Graph, GraphNode, Pads, Pair } from '../../graphs/ir.js';
import { foldedResidualScales, tfjsLayerName } from '../../graphs/schemes/tfjs.js';

/** One layer of a Keras functional config, in the (pythonic) form model.json stores. */
export interface KerasLayerJson {
  readonly class_name: string;
  readonly name: string;
  readonly config: Record<string, unknown>;
  /** Keras 2 form: one list per call, of [layer, node index, tensor index, kwargs]. */
  readonly inbound_nodes: unknown[];
}

/** A model output: the layer whose output it is and the canonical node that computes it. */
export interface TfjsOutput {
  readonly layer: string;
  readonly node: string;
}

export interface Topology {
  /** `modelTopology` of model.json. */
  readonly modelTopology: {
    readonly class_name: 'Functional';
    readonly config: { name: string; layers: KerasLayerJson[]; input_layers: unknown[]; output_layers: unknown[] };
    readonly keras_version: string;
    readonly backend: string;
  };
  /** Outputs in model order: the logits (or probabilities), the aux logits, then block outputs. */
  readonly outputs: readonly TfjsOutput[];
  /** With exposeBlocks: each block (blockStats order) and the index of its output in `outputs`. */
  readonly blocks: readonly { readonly block: string; readonly output: number }[];
}

/**
 * The topology records the tfjs-layers version it was written for, as tfjs's own `model.save`
 * does (`keras_version: 'tfjs-layers <version>'`, container.ts `updatedConfig`).
 */
export const TFJS_LAYERS_VERSION = 'tfjs-layers 4.22.0';

/** TF's SAME padding of one dimension (tensorflow/core/framework/kernel_shape_util.cc). */
function samePads(size: number, kernel: number, stride: number): [number, number] {
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + kernel - size, 0);
  const before = Math.floor(total / 2);
  return [before, total - before];
}

/** `valid`, `same`, or undefined when the pads are neither. */
export function paddingMode(input: Shape, kernel: Pair, stride: Pair, pads: Pads): 'valid' | 'same' | undefined {
  if (pads.every((p) => p === 0)) return 'valid';
  const [t, b] = samePads(input[1], kernel[0], stride[0]);
  const [l, r] = samePads(input[2], kernel[1], stride[1]);
  return pads[0] === t && pads[1] === l && pads[2] === b && pads[3] === r ? 'same' : undefined;
}

const inbound = (...layers: string[]): unknown[] => [layers.map((l) => [l, 0, 0, {}])];
const base = (name: string) => ({ name, trainable: true, dtype: 'float32' });

/**
 * The order in which tfjs (and Keras) list a functional model's layers, and so its weights
 * (`model.weights`, which `model.save` writes in that order): tfjs-layers/src/engine/container.ts,
 * constructor. A depth-first walk from each output in turn numbers the layers as first met and
 * lists nodes after their inputs; walking that list backwards, a layer's depth is the largest
 * (depth of a consumer + 1), outputs at 0. Layers are sorted by decreasing depth, ties by number.
 * Every layer here is called once, so a layer and its node are one.
 */
export function tfjsLayerOrder(layers: readonly KerasLayerJson[], outputs: readonly string[]): KerasLayerJson[] {
  const byName = new Map(layers.map((l) => [l.name, l]));
  const inputsOf = (name: string): string[] => ((byName.get(name)!.inbound_nodes[0] as unknown[][] | undefined) ?? []).map((x) => x[0] as string);
  const index = new Map<string, number>();
  const finished = new Set<string>();
  const decreasing: string[] = [];
  const visit = (name: string): void => {
    if (finished.has(name)) return;
    if (!index.has(name)) index.set(name, index.size);
    for (const i of inputsOf(name)) visit(i);
    finished.add(name);
    decreasing.push(name);
  };
  for (const o of outputs) visit(o);
  const depth = new Map<string, number>();
  for (const name of [...decreasing].reverse()) {
    const d = depth.get(name) ?? 0;
    depth.set(name, d);
    for (const i of inputsOf(name)) depth.set(i, Math.max(d + 1, depth.get(i) ?? 0));
  }
  const unused = layers.filter((l) => !index.has(l.name)).map((l) => l.name);
  if (unused.length) throw new Error(`tfjs topology: layers that no output uses: ${unused.slice(0, 3).join(', ')}`);
  return [...layers].sort((a, b) => depth.get(b.name)! - depth.get(a.name)! || index.get(a.name)! - index.get(b.name)!);
}

export interface TopologyOptions {
  /** Add every block's output as a model output. */
  readonly exposeBlocks?: boolean;
}

export function buildTopology(graph: Graph, options: TopologyOptions = {}): Topology {
  const shapes = inferShapes(graph);
  const scales = foldedResidualScales(graph); // throws when a scale cannot be folded
  const layers: KerasLayerJson[] = [];
  /** Layer that holds each canonical node's value. */
  const layerOf = new Map<string, string>();
  const add = (class_name: string, name: string, config: Record<string, unknown>, inputs: string[]): string => {
    layers.push({ class_name, name, config: { ...base(name), ...config }, inbound_nodes: inputs.length ? inbound(...inputs) : [] });
    return name;
  };
  const from = (node: string): string => {
    const l = layerOf.get(node);
    if (!l) throw new Error(`tfjs topology: ${node} is used before it is defined`);
    return l;
  };

  const [c, h, w] = graph.input.shape;
  layerOf.set(
    graph.input.name,
    add('InputLayer', tfjsLayerName(graph.input.name), { batch_input_shape: [null, h, w, c], sparse: false }, []),
  );

  const emit = (n: GraphNode): string => {
    const name = tfjsLayerName(n.name);
    const unsupported = (what: string) => new Error(`tfjs topology: ${n.name}: ${what} cannot be expressed with tfjs layers`);
    switch (n.op) {
      case 'conv2d': {
        let input = from(n.input);
        let padding = paddingMode(shapes.get(n.input)!, n.kernel, n.stride, n.pads);
        if (!padding) {
          input = add('ZeroPadding2D', `${name}.pad`, { padding: [[n.pads[0], n.pads[2]], [n.pads[1], n.pads[3]]], data_format: 'channels_last' }, [input]);
          padding = 'valid';
        }
        if (scales.has(n.name) && !n.bias) throw unsupported('a residual scale without a bias');
        return add(
          'Conv2D',
          name,
          {
            filters: n.outChannels,
            kernel_size: [...n.kernel],
            strides: [...n.stride],
            padding,
            data_format: 'channels_last',
            dilation_rate: [1, 1],
            activation: 'linear',
            use_bias: n.bias,
          },
          [input],
        );
      }
      case 'batchnorm':
        return add('BatchNormalization', name, { axis: -1, momentum: 0.99, epsilon: n.epsilon, center: true, scale: true }, [from(n.input)]);
      case 'relu':
        return add('Activation', name, { activation: 'relu' }, [from(n.input)]);
      case 'softmax':
        return add('Activation', name, { activation: 'softmax' }, [from(n.input)]);
      case 'maxpool':
      case 'avgpool': {
        const padding = paddingMode(shapes.get(n.input)!, n.kernel, n.stride, n.pads);
        let input = from(n.input);
        let mode = padding;
        if (n.op === 'avgpool' && padding === 'same' && n.countIncludePad) mode = undefined;
        if (!mode) {
          // Zero padding is right only for an average that counts the pads.
          if (n.op === 'maxpool' || !n.countIncludePad) throw unsupported(`${n.op} with pads [${n.pads}]`);
          input = add('ZeroPadding2D', `${name}.pad`, { padding: [[n.pads[0], n.pads[2]], [n.pads[1], n.pads[3]]], data_format: 'channels_last' }, [input]);
          mode = 'valid';
        }
        return add(
          n.op === 'maxpool' ? 'MaxPooling2D' : 'AveragePooling2D',
          name,
          { pool_size: [...n.kernel], strides: [...n.stride], padding: mode, data_format: 'channels_last' },
          [input],
        );
      }
      case 'concat':
        return add('Concatenate', name, { axis: -1 }, n.inputs.map(from));
      case 'residual': {
        if (n.scale !== 1 && scales.get(n.branch) !== n.scale) throw unsupported(`residual scale ${n.scale}`);
        const sum = add('Add', n.relu ? `${name}.add` : name, {}, [from(n.input), from(n.branch)]);
        return n.relu ? add('Activation', name, { activation: 'relu' }, [sum]) : sum;
      }
      case 'globalavgpool':
        return add('GlobalAveragePooling2D', name, { data_format: 'channels_last' }, [from(n.input)]);
      case 'flatten':
        return add('Flatten', name, { data_format: 'channels_last' }, [from(n.input)]);
      case 'dense':
        return add('Dense', name, { units: n.outFeatures, activation: 'linear', use_bias: true }, [from(n.input)]);
    }
  };
  for (const n of graph.nodes) layerOf.set(n.name, emit(n));

  const outputs: TfjsOutput[] = [];
  const indexOf = (node: string): number => {
    const at = outputs.findIndex((o) => o.node === node);
    if (at >= 0) return at;
    outputs.push({ layer: from(node), node });
    return outputs.length - 1;
  };
  indexOf(graph.outputs.logits);
  if (graph.outputs.aux) indexOf(graph.outputs.aux);
  const blocks = options.exposeBlocks ? blockStats(graph).map((b) => ({ block: b.block, output: indexOf(b.output) })) : [];
  const ordered = tfjsLayerOrder(layers, outputs.map((o) => o.layer));

  return {
    modelTopology: {
      class_name: 'Functional',
      config: {
        name: graph.arch,
        layers: ordered,
        input_layers: [[layerOf.get(graph.input.name)!, 0, 0]],
        output_layers: outputs.map((o) => [o.layer, 0, 0]),
      },
      keras_version: TFJS_LAYERS_VERSION,
      backend: 'tensor_flow.js',
    },
    outputs,
    blocks,
  };
}
