/**
 * A Keras model config (the JSON of `model_config` in a whole-model .h5, or `config.json` in a
 * .keras archive), read as data: the layer list in model.layers order, each layer's class, name and
 * the few fields a scheme checks. Nothing in it is evaluated (a Lambda's code stays a string).
 */
import type { KerasLayerConfig } from './types.js';

export interface ConfigLayer {
  readonly className: string;
  readonly name: string;
  readonly config: KerasLayerConfig;
  /** Layers of a nested model (Functional, Sequential, Model), in its model.layers order. */
  readonly layers?: readonly ConfigLayer[];
  /** An input layer's `batch_shape` / `batch_input_shape`. */
  readonly batchShape?: readonly (number | null)[];
  /** Names of the layers whose outputs are the model's outputs (nested models). */
  readonly outputs?: readonly string[];
}

export interface ModelConfig {
  readonly className: string;
  readonly name?: string;
  readonly layers: readonly ConfigLayer[];
  /** Names of the output layers (Functional), or the last layer (Sequential). */
  readonly outputs: readonly string[];
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const CONFIG_FIELDS = ['activation', 'use_bias', 'scale', 'center', 'epsilon', 'strides', 'padding', 'kernel_size', 'filters', 'units'] as const;

function pick(config: Record<string, unknown>): KerasLayerConfig {
  const out: Record<string, unknown> = {};
  for (const k of CONFIG_FIELDS) {
    const v = config[k];
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out[k] = v;
    else if (Array.isArray(v) && v.every((x) => typeof x === 'number')) out[k] = v;
    // Keras 3 may serialise an activation as {class_name, config}; keep its name.
    else if (k === 'activation' && isObject(v) && isObject(v.config) && typeof v.config.name === 'string') out[k] = v.config.name;
  }
  return out as KerasLayerConfig;
}

/** The `[layer_name, node_index, tensor_index]` triples of `output_layers` (Keras 2 and 3 alike). */
function outputNames(v: unknown): string[] {
  if (!Array.isArray(v)) return [];
  if (v.length > 0 && typeof v[0] === 'string') return [v[0] as string]; // a single triple
  return v.filter((x): x is unknown[] => Array.isArray(x) && typeof x[0] === 'string').map((x) => x[0] as string);
}

function parseLayers(list: unknown, where: string): ConfigLayer[] {
  if (!Array.isArray(list)) throw new Error(`${where}: 'layers' is not a list`);
  return list.map((l, i) => {
    if (!isObject(l) || typeof l.class_name !== 'string') throw new Error(`${where}: layer ${i} has no class_name`);
    const config = isObject(l.config) ? l.config : {};
    const name = typeof l.name === 'string' ? l.name : typeof config.name === 'string' ? config.name : undefined;
    if (name === undefined) throw new Error(`${where}: layer ${i} (${l.class_name}) has no name`);
    const shape = config.batch_shape ?? config.batch_input_shape;
    const nested = isObject(l.config) && (Array.isArray(config.layers) || (l.class_name === 'Sequential' && Array.isArray(l.config)));
    const layer: ConfigLayer = {
      className: l.class_name,
      name,
      config: pick(config),
      ...(Array.isArray(shape) ? { batchShape: shape as (number | null)[] } : {}),
      ...(nested ? { layers: parseLayers(config.layers, `${where}/${name}`), outputs: outputNames(config.output_layers) } : {}),
    };
    return layer;
  });
}

/** Parses a model config (a JSON string or the parsed value). Throws Error with a reason. */
export function parseModelConfig(json: unknown): ModelConfig {
  const root = typeof json === 'string' ? (JSON.parse(json) as unknown) : json;
  if (!isObject(root) || typeof root.class_name !== 'string') throw new Error('not a Keras model config (no class_name)');
  // Keras 1 / early Keras 2 Sequential: config is the layer list itself.
  const config = Array.isArray(root.config) ? { layers: root.config } : root.config;
  if (!isObject(config)) throw new Error(`a ${root.class_name} without config`);
  const layers = parseLayers(config.layers, root.class_name);
  const outputs = outputNames(config.output_layers);
  return {
    className: root.class_name,
    ...(typeof config.name === 'string' ? { name: config.name } : {}),
    layers,
    outputs: outputs.length ? outputs : layers.length ? [layers[layers.length - 1].name] : [],
  };
}

/** The layer that produces the model's (first) output, following nested models. */
export function outputLayer(model: { layers: readonly ConfigLayer[]; outputs?: readonly string[] }): ConfigLayer | undefined {
  const name = model.outputs?.[0];
  const layer = (name !== undefined ? model.layers.find((l) => l.name === name) : undefined) ?? model.layers.at(-1);
  if (layer?.layers) return outputLayer({ layers: layer.layers, outputs: layer.outputs });
  return layer;
}

/** Whether the model's output is a softmax: a Dense or Activation with softmax, or a Softmax layer. */
export function endsInSoftmax(model: ModelConfig): boolean {
  const last = outputLayer(model);
  if (!last) return false;
  return last.className === 'Softmax' || last.config.activation === 'softmax';
}

/** The square input size stated by the first input layer, if any. */
export function inputSizeOf(model: ModelConfig): number | undefined {
  const first = model.layers.find((l) => l.batchShape) ?? model.layers[0]?.layers?.find((l) => l.batchShape);
  const s = first?.batchShape;
  // channels_last [null, H, W, C]
  return s && s.length === 4 && typeof s[1] === 'number' && s[1] === s[2] ? s[1] : undefined;
}

/**
 * Keras' `naming.to_snake_case` (keras/src/utils/naming.py), which names the groups of a Keras 3
 * weights file after each layer's class: `Conv2D` -> `conv2d`, `BatchNormalization` ->
 * `batch_normalization`.
 */
export function toSnakeCase(name: string): string {
  let s = name.replace(/\W+/g, '');
  s = s.replace(/(.)([A-Z][a-z]+)/g, '$1_$2');
  return s.replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase();
}

/** The class whose snake-cased name is a Keras 3 group family (`conv2d` -> `Conv2D`), for the usual weighted layers. */
export const CLASS_OF_FAMILY: Readonly<Record<string, string>> = {
  conv2d: 'Conv2D',
  batch_normalization: 'BatchNormalization',
  dense: 'Dense',
  depthwise_conv2d: 'DepthwiseConv2D',
  separable_conv2d: 'SeparableConv2D',
  layer_normalization: 'LayerNormalization',
};
