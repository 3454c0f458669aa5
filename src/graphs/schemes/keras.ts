/**
 * The Keras scheme: Keras models of Inception-ResNet-v2 (keras.applications) and Inception-v4
 * (third-party ports and models written in the same style), bound the way Keras itself loads a
 * legacy .h5: by the ORDER of the layers that have weights, not by their names
 * (keras/src/legacy/saving/legacy_h5_format.py, load_weights_from_hdf5_group). So automatic names
 * from any counter (`conv2d_1...` from Keras 2, `conv2d...` from tf.keras and Keras 3),
 * keras.applications' names (`block35_1_conv`, `conv_7b`, `predictions`), TF-slim-like names and
 * unnamed ports all bind the same way, every shape checked against the canonical graph.
 *
 * The order is model.layers: Keras sorts a functional model's layers by depth (the longest path
 * to the output, deepest first) and breaks ties by the order in which a depth-first walk from the
 * output, through each layer's inputs in order, first reaches them (keras/src/ops/function.py,
 * map_graph and _build_map). `kerasModelLayers` replays that on the canonical graph written as
 * Keras layers (conv2d_bn = Conv2D + BatchNormalization(scale=False) + Activation; the residual
 * `x + s·up` = CustomScaleLayer([x, up]) then Activation), which test/graphs/schemes/keras.test.ts
 * checks against model.layers as Keras prints it.
 *
 * Layouts: conv kernels HWIO (TRANSFORMS.hwio), dense kernels [in, out] (TRANSFORMS.inOut); batch
 * norm without gamma (`scale=False`) gets gamma = 1; the biased residual up-projections keep their
 * biases. A model whose last Dense has a softmax (the config says so; without a config, a last
 * layer named `predictions` as keras.applications names it) is bound with the graph's softmax, and
 * the provenance says the source outputs probabilities.
 *
 * Keras 3 `.weights.h5` files without their config give the order within each class only
 * (`conv2d`, `conv2d_1`, ...): they are matched class by class, as Keras 3 addresses them.
 *
 * The same table is the `keras` Naming (safetensors `--naming keras`): `<layer>/<weight>` with
 * Keras 3's automatic names (keras.applications' names for Inception-ResNet-v2), in load order.
 * Sources from other readers bind by those names.
 */
import { SchemeError, type ShapeMismatch } from '../../errors.js';
import type { StoredTensor, SourceModel } from '../../readers/types.js';
import { isKerasStructure, type KerasLayer, type KerasStructure } from '../../readers/keras/types.js';
import { buildGraph } from '../index.js';
import type { Arch, BuildOptions, Graph, GraphNode } from '../ir.js';
import { bindTable, TRANSFORMS, widthDivisorFor, type BindingSource, type Transform } from './bind.js';
import type { BindOptions, Detection, Naming, NamedTensor, Scheme } from './types.js';

// ---------------------------------------------------------------------------------------------
// The canonical graph as Keras layers, in model.layers order

/** One weight of a Keras layer: the canonical parameter it holds, or a constant it stands for. */
export interface KerasWeightSpec {
  /** Keras' variable name: kernel, bias, gamma, beta, moving_mean, moving_variance. */
  readonly name: string;
  readonly param: string;
  /** Shape as Keras stores it. */
  readonly shape: readonly number[];
  readonly transform: Transform;
}

export interface KerasLayerSpec {
  /** Keras 3's name for the layer (keras.applications' names for Inception-ResNet-v2). */
  readonly name: string;
  readonly className: string;
  /** The canonical node the layer implements. */
  readonly node: string;
  /** Stored weights, in Keras' order (BatchNormalization(scale=False) stores no gamma). */
  readonly weights: readonly KerasWeightSpec[];
  /** Params a Keras layer does not store, with their value (BN gamma = 1). */
  readonly constants: ReadonlyMap<string, number>;
  /** What the config of this layer should say (checked when the file has a config). */
  readonly expect: { readonly strides?: readonly number[]; readonly padding?: string; readonly epsilon?: number };
}

interface Building {
  className: string;
  node: string;
  inputs: number[];
  named?: string;
  weights: KerasWeightSpec[];
  constants: Map<string, number>;
  expect: KerasLayerSpec['expect'];
}

/** keras.applications' names for Inception-ResNet-v2 blocks: `Repeat/block35_1` -> `block35_1`, `Block8` -> `block8_10`. */
function irv2BlockName(scope: string): string | undefined {
  const m = /^Repeat(?:_\d)?\/(block\d+_\d+)$/.exec(scope);
  if (m) return m[1];
  return scope === 'Block8' ? 'block8_10' : undefined;
}

/** Keras' automatic layer-name prefixes (snake-cased class names). */
const AUTO_PREFIX: Readonly<Record<string, string>> = {
  InputLayer: 'input_layer',
  Conv2D: 'conv2d',
  BatchNormalization: 'batch_normalization',
  Activation: 'activation',
  MaxPooling2D: 'max_pooling2d',
  AveragePooling2D: 'average_pooling2d',
  Concatenate: 'concatenate',
  CustomScaleLayer: 'custom_scale_layer',
  GlobalAveragePooling2D: 'global_average_pooling2d',
  Flatten: 'flatten',
  Dense: 'dense',
};

/** The names keras.applications (and the same style for Inception-v4) gives; undefined: automatic. */
function applicationsName(graph: Graph, b: Building, byName: ReadonlyMap<string, GraphNode>): string | undefined {
  const node = byName.get(b.node);
  if (b.className === 'Dense') return 'predictions';
  if (b.className === 'GlobalAveragePooling2D') return 'avg_pool';
  if (b.className === 'Concatenate' && /^Mixed_\d[a-z]$/.test(b.node)) return b.node.toLowerCase();
  if (graph.arch !== 'inception_resnet_v2') return undefined;
  if (b.node.startsWith('Conv2d_7b_1x1')) {
    if (b.className === 'Conv2D') return 'conv_7b';
    if (b.className === 'BatchNormalization') return 'conv_7b_bn';
    if (b.className === 'Activation') return 'conv_7b_ac';
  }
  const scope = b.node.slice(0, b.node.lastIndexOf('/'));
  const block = irv2BlockName(scope);
  if (block && b.className === 'Concatenate' && b.node.endsWith('/concat')) return `${block}_mixed`;
  if (block && b.className === 'Conv2D' && node?.op === 'conv2d' && node.bias) return `${block}_conv`;
  const residualBlock = irv2BlockName(b.node);
  if (residualBlock && b.className === 'Activation') return `${residualBlock}_ac`;
  return undefined;
}

/**
 * The canonical graph as Keras layers, in Keras' model.layers order (file comment), with Keras 3's
 * names. Auxiliary heads are left out (no Keras model has one).
 */
export function kerasModelLayers(graph: Graph): KerasLayerSpec[] {
  const layers: Building[] = [{ className: 'InputLayer', node: graph.input.name, inputs: [], weights: [], constants: new Map(), expect: {} }];
  const out = new Map<string, number>([[graph.input.name, 0]]);
  const add = (b: Omit<Building, 'constants' | 'weights' | 'expect'> & Partial<Building>): number => {
    layers.push({ weights: [], constants: new Map(), expect: {}, ...b });
    return layers.length - 1;
  };
  const src = (name: string): number => {
    const i = out.get(name);
    if (i === undefined) throw new Error(`kerasModelLayers: ${name} is used before it is defined`);
    return i;
  };
  for (const n of graph.nodes) {
    switch (n.op) {
      case 'conv2d': {
        const weights: KerasWeightSpec[] = [
          { name: 'kernel', param: `${n.name}/weights`, shape: [n.kernel[0], n.kernel[1], n.inChannels, n.outChannels], transform: TRANSFORMS.hwio },
        ];
        if (n.bias) weights.push({ name: 'bias', param: `${n.name}/biases`, shape: [n.outChannels], transform: TRANSFORMS.none });
        const padding = n.pads.every((p) => p === 0) ? 'valid' : 'same';
        out.set(n.name, add({ className: 'Conv2D', node: n.name, inputs: [src(n.input)], weights, expect: { strides: [...n.stride], padding } }));
        break;
      }
      case 'batchnorm': {
        const v = (name: string) => ({ name, param: `${n.name}/${name}`, shape: [n.channels], transform: TRANSFORMS.none });
        out.set(
          n.name,
          add({
            className: 'BatchNormalization',
            node: n.name,
            inputs: [src(n.input)],
            weights: [v('beta'), v('moving_mean'), v('moving_variance')],
            constants: new Map([[`${n.name}/gamma`, 1]]),
            expect: { epsilon: n.epsilon },
          }),
        );
        break;
      }
      case 'relu':
        out.set(n.name, add({ className: 'Activation', node: n.name, inputs: [src(n.input)] }));
        break;
      case 'maxpool':
      case 'avgpool':
        out.set(n.name, add({ className: n.op === 'maxpool' ? 'MaxPooling2D' : 'AveragePooling2D', node: n.name, inputs: [src(n.input)] }));
        break;
      case 'concat':
        out.set(n.name, add({ className: 'Concatenate', node: n.name, inputs: n.inputs.map(src) }));
        break;
      case 'residual': {
        let i = add({ className: 'CustomScaleLayer', node: n.name, inputs: [src(n.input), src(n.branch)] });
        if (n.relu) i = add({ className: 'Activation', node: n.name, inputs: [i] });
        out.set(n.name, i);
        break;
      }
      case 'globalavgpool':
        out.set(n.name, add({ className: 'GlobalAveragePooling2D', node: n.name, inputs: [src(n.input)] }));
        break;
      case 'flatten':
        out.set(n.name, add({ className: 'Flatten', node: n.name, inputs: [src(n.input)] }));
        break;
      case 'dense':
        out.set(
          n.name,
          add({
            className: 'Dense',
            node: n.name,
            inputs: [src(n.input)],
            weights: [
              { name: 'kernel', param: `${n.name}/weights`, shape: [n.inFeatures, n.outFeatures], transform: TRANSFORMS.inOut },
              { name: 'bias', param: `${n.name}/biases`, shape: [n.outFeatures], transform: TRANSFORMS.none },
            ],
          }),
        );
        break;
      case 'softmax': // Keras' Dense(activation='softmax'): the same layer
        out.set(n.name, src(n.input));
        break;
    }
  }

  // Keras 3 names, counted in creation order (which is graph order), as keras.applications' code names them.
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const counters = new Map<string, number>();
  for (const b of layers) {
    b.named = applicationsName(graph, b, byName);
    if (b.named) continue;
    const prefix = AUTO_PREFIX[b.className];
    const k = counters.get(prefix) ?? 0;
    counters.set(prefix, k + 1);
    b.named = k === 0 ? prefix : `${prefix}_${k}`;
  }

  // map_graph: depth = longest path to the output; ties by first reach of a depth-first walk.
  const output = src(graph.outputs.logits);
  const index = new Map<number, number>();
  const stack = [output];
  const visited = new Set<number>();
  // _build_map_helper numbers a layer when it first enters it, then recurses into its inputs in
  // order; an explicit stack that marks on pop and pushes the inputs in reverse enters layers in
  // the same (pre-)order.
  while (stack.length) {
    const i = stack.pop()!;
    if (visited.has(i)) continue;
    visited.add(i);
    index.set(i, index.size);
    for (let k = layers[i].inputs.length - 1; k >= 0; k--) if (!visited.has(layers[i].inputs[k])) stack.push(layers[i].inputs[k]);
  }
  const depth = new Map<number, number>([[output, 0]]);
  for (let i = layers.length - 1; i >= 0; i--) {
    const d = depth.get(i);
    if (d === undefined) continue;
    for (const p of layers[i].inputs) depth.set(p, Math.max(depth.get(p) ?? 0, d + 1));
  }
  const order = [...depth.keys()].sort((a, b) => depth.get(b)! - depth.get(a)! || index.get(a)! - index.get(b)!);
  return order.map((i) => {
    const b = layers[i];
    return { name: b.named!, className: b.className, node: b.node, weights: b.weights, constants: b.constants, expect: b.expect };
  });
}

/** The layers that have weights, in load order. */
export const kerasWeightedLayers = (graph: Graph): KerasLayerSpec[] => kerasModelLayers(graph).filter((l) => l.weights.length > 0);

// ---------------------------------------------------------------------------------------------
// Matching the file's layers

type Kind = 'conv' | 'bn' | 'dense' | 'other';

/** A file layer as the matcher sees it. */
interface FileLayer {
  readonly name: string;
  readonly className?: string;
  readonly kind: Kind;
  readonly weights: readonly StoredTensor[];
  readonly weightNames: readonly string[];
  readonly config?: KerasLayer['config'];
  /** Position in the file's load order (model order), for messages. */
  readonly position: number;
}

const KIND_OF_CLASS: Readonly<Record<string, Kind>> = { Conv2D: 'conv', BatchNormalization: 'bn', Dense: 'dense' };

function kindOfWeights(ws: readonly StoredTensor[]): Kind {
  const ranks = ws.map((w) => w.shape.length);
  if (ranks[0] === 4 && ranks.length <= 2 && ranks.slice(1).every((r) => r === 1)) return 'conv';
  if (ranks[0] === 2 && ranks.length <= 2 && ranks.slice(1).every((r) => r === 1)) return 'dense';
  if (ranks.length >= 2 && ranks.length <= 4 && ranks.every((r) => r === 1)) return 'bn';
  return 'other';
}

const kindOfLayer = (l: { className?: string; weights: readonly StoredTensor[] }): Kind =>
  (l.className !== undefined ? KIND_OF_CLASS[l.className] : undefined) ?? (l.className === undefined ? kindOfWeights(l.weights) : 'other');

const kindOfSpec = (s: KerasLayerSpec): Kind => KIND_OF_CLASS[s.className] ?? 'other';

/** Layers of a source: the Keras reader's structure, or `layer/weight` names grouped in order. */
function fileLayers(source: SourceModel): { layers: FileLayer[]; order: KerasStructure['order']; structure?: KerasStructure } {
  if (isKerasStructure(source.structure)) {
    const s = source.structure;
    return {
      layers: s.layers.map((l, position) => ({ name: l.name, className: l.className, kind: kindOfLayer(l), weights: l.weights, weightNames: l.weightNames, config: l.config, position })),
      order: s.order,
      structure: s,
    };
  }
  const layers: { name: string; weights: StoredTensor[]; weightNames: string[] }[] = [];
  for (const t of source.tensors) {
    const cut = t.name.lastIndexOf('/');
    const layer = cut > 0 ? t.name.slice(0, cut) : t.name;
    if (layers.at(-1)?.name !== layer) layers.push({ name: layer, weights: [], weightNames: [] });
    layers.at(-1)!.weights.push(t);
    layers.at(-1)!.weightNames.push(t.name.slice(cut + 1));
  }
  return { layers: layers.map((l, position) => ({ ...l, kind: kindOfWeights(l.weights), position })), order: 'model' };
}

/** The stored shapes a file layer must have to be `spec` (BN may also store gamma), as shape keys. */
function shapesFit(spec: readonly string[], specKind: Kind, layer: readonly string[]): boolean {
  if (specKind === 'bn' && layer.length === spec.length + 1) return layer.every((k) => k === spec[0]);
  return layer.length === spec.length && spec.every((k, i) => k === layer[i]);
}

const shapeKeys = (weights: readonly { readonly shape: readonly number[] }[]): string[] => weights.map((w) => w.shape.join());

type Step = { readonly spec?: KerasLayerSpec; readonly layer?: FileLayer };

/**
 * Aligns expected and stored layers (edit distance: an exact fit costs 0, the same kind with other
 * shapes 1 (reported as wrong shapes), a missing or an extra layer 1), so that a mismatch is
 * reported as what it is: one layer missing, one extra, or one of the wrong shape.
 */
function align(specs: readonly KerasLayerSpec[], layers: readonly FileLayer[]): { steps: Step[]; cost: number } {
  const n = specs.length;
  const m = layers.length;
  // Shape keys and kinds once (the table below compares up to a million pairs).
  const specKinds = specs.map(kindOfSpec);
  const specShapes = specs.map((s) => shapeKeys(s.weights));
  const layerShapes = layers.map((l) => shapeKeys(l.weights));
  const sub = (i: number, j: number): number => {
    if (specKinds[i] !== layers[j].kind) return Infinity;
    return shapesFit(specShapes[i], specKinds[i], layerShapes[j]) ? 0 : 1;
  };
  // The usual case: every layer in place.
  if (n === m && specs.every((_, i) => sub(i, i) === 0)) return { steps: specs.map((spec, i) => ({ spec, layer: layers[i] })), cost: 0 };
  const w = m + 1;
  const cost = new Uint32Array((n + 1) * w);
  for (let i = 0; i <= n; i++) cost[i * w] = i;
  for (let j = 0; j <= m; j++) cost[j] = j;
  for (let i = 1; i <= n; i++)
    for (let j = 1; j <= m; j++)
      cost[i * w + j] = Math.min(cost[(i - 1) * w + j] + 1, cost[i * w + j - 1] + 1, cost[(i - 1) * w + j - 1] + sub(i - 1, j - 1));
  const steps: Step[] = [];
  let i = n;
  let j = m;
  while (i > 0 || j > 0) {
    if (i > 0 && j > 0 && cost[i * w + j] === cost[(i - 1) * w + j - 1] + sub(i - 1, j - 1)) {
      steps.push({ spec: specs[i - 1], layer: layers[j - 1] });
      i--;
      j--;
    } else if (i > 0 && cost[i * w + j] === cost[(i - 1) * w + j] + 1) {
      steps.push({ spec: specs[i - 1] });
      i--;
    } else {
      steps.push({ layer: layers[j - 1] });
      j--;
    }
  }
  return { steps: steps.reverse(), cost: cost[n * w + m] };
}

/** Aligns in model order, or class by class (`per-class` sources). */
function alignAll(specs: readonly KerasLayerSpec[], layers: readonly FileLayer[], order: KerasStructure['order']): { steps: Step[]; cost: number } {
  if (order === 'model') return align(specs, layers);
  const kinds: Kind[] = ['conv', 'bn', 'dense', 'other'];
  const steps: Step[] = [];
  let cost = 0;
  for (const k of kinds) {
    const r = align(
      specs.filter((s) => kindOfSpec(s) === k),
      layers.filter((l) => l.kind === k),
    );
    steps.push(...r.steps);
    cost += r.cost;
  }
  return { steps, cost };
}

// ---------------------------------------------------------------------------------------------
// Detection

interface Candidate {
  readonly arch: Arch;
  readonly options: BuildOptions;
  readonly graph: Graph;
  readonly specs: KerasLayerSpec[];
}

function candidateGraph(arch: Arch, options: BuildOptions): Candidate {
  const graph = buildGraph(arch, { ...options, aux: false });
  return { arch, options, graph, specs: kerasWeightedLayers(graph) };
}

/** Whether the source outputs probabilities, and why. */
function softmaxOf(structure: KerasStructure | undefined, last: FileLayer | undefined): { softmax: boolean; why: string } {
  if (structure?.softmax !== undefined) return { softmax: structure.softmax, why: structure.softmax ? 'the config ends in a softmax' : 'the config ends without softmax' };
  const base = last?.name.slice(last.name.lastIndexOf('/') + 1);
  if (base === 'predictions') return { softmax: true, why: "no config: a last layer named 'predictions' is keras.applications' Dense with softmax" };
  return { softmax: false, why: 'no config: the output is taken to be logits (use --softmax if the model ends in a softmax)' };
}

const ARCH_LABEL: Readonly<Record<Arch, string>> = { inception_v4: 'Inception-v4', inception_resnet_v2: 'Inception-ResNet-v2' };

/** Names as the `keras` naming writes them (`conv2d/kernel`), when a non-Keras source has exactly those. */
function detectByName(source: SourceModel, options: BindOptions): Detection | null {
  const byName = new Map(source.tensors.map((t) => [t.name, t]));
  const stem = byName.get('conv2d/kernel');
  const logits = byName.get('predictions/bias');
  if (!stem || stem.shape.length !== 4 || stem.shape[2] !== 3 || !logits || logits.shape.length !== 1) return null;
  const widthDivisor = widthDivisorFor(32, stem.shape[3]);
  if (widthDivisor === undefined) return null;
  // weightport's safetensors writer records whether the model ends in a softmax (Keras' does).
  const outputs = (source.metadata.__metadata__ as Record<string, unknown> | undefined)?.outputs;
  const softmax = outputs === 'probabilities';
  for (const arch of options.arch ? [options.arch] : (['inception_resnet_v2', 'inception_v4'] as const)) {
    const naming = kerasNaming.layout(buildGraph(arch, { classes: logits.shape[0], widthDivisor }));
    if (naming.length === source.tensors.length && naming.every((t) => byName.get(t.name)?.shape.join() === t.shape.join()))
      return {
        scheme: 'keras',
        arch,
        options: { classes: logits.shape[0], widthDivisor, ...(softmax ? { softmax } : {}) },
        reason: `Keras layer/weight names as keras.applications writes them (conv2d/kernel ... predictions/bias), ${ARCH_LABEL[arch]}${softmax ? '; the file says the model outputs probabilities' : ''}`,
      };
  }
  return null;
}

function detect(source: SourceModel, options: BindOptions = {}): Detection | null {
  const { layers, order, structure } = fileLayers(source);
  if (!structure) return detectByName(source, options);
  const convs = layers.filter((l) => l.kind === 'conv');
  const denses = layers.filter((l) => l.kind === 'dense');
  const stem = convs[0]?.weights[0];
  const head = denses.at(-1)?.weights[0];
  if (!stem || stem.shape[2] !== 3) return null;
  const widthDivisor = widthDivisorFor(32, stem.shape[3]);
  if (widthDivisor === undefined) return null;
  // Without a classifier (include_top=False) the file is still claimed, so that bind names the
  // missing Dense.
  const classes = head?.shape[1] ?? 1000;
  const { softmax, why } = softmaxOf(structure, layers.at(-1));
  const inputSize = structure.inputSize !== undefined && structure.inputSize !== 299 ? { inputSize: structure.inputSize } : {};
  const opts: BuildOptions = { classes, widthDivisor, softmax, ...inputSize };
  let best: { c: Candidate; cost: number } | undefined;
  for (const arch of options.arch ? [options.arch] : (['inception_resnet_v2', 'inception_v4'] as const)) {
    const c = candidateGraph(arch, opts);
    // A cheap bound first: the edit distance is at least the difference in layer counts.
    const bound = Math.abs(c.specs.length - layers.length);
    if (best && bound >= best.cost) continue;
    const { cost } = alignAll(c.specs, layers, order);
    if (!best || cost < best.cost) best = { c, cost };
  }
  if (!best) return null;
  // Claim a Keras file when most of it lines up (so that bind can say exactly what does not);
  // a forced --arch is always bound (and reported).
  if (!options.arch && best.cost > best.c.specs.length / 2) return null;
  const named = layers.some((l) => /(^|\/)(block35_1_conv|conv_7b|predictions)$/.test(l.name)) ? "keras.applications' layer names" : `layer names such as '${layers[0].name}'`;
  return {
    scheme: 'keras',
    arch: best.c.arch,
    options: opts,
    reason:
      `Keras ${structure.layout} file, ${layers.length} layers with weights bound by ${order === 'model' ? 'their order (as Keras loads a legacy .h5)' : 'class and index (a Keras 3 .weights.h5 without config)'}` +
      `, ${named}; ${ARCH_LABEL[best.c.arch]}; ${why}`,
  };
}

// ---------------------------------------------------------------------------------------------
// Binding

const FLOAT_DTYPES = new Set(['float32', 'float16', 'bfloat16', 'float64']);

function describe(l: FileLayer): string {
  return `'${l.name}'${l.className ? ` (${l.className})` : ''} [${l.weights.map((w) => `[${w.shape}]`).join(', ')}]`;
}

function describeSpec(s: KerasLayerSpec): string {
  return `a ${s.className} [${s.weights.map((w) => `[${w.shape}]`).join(', ')}] for ${s.node}`;
}

/** Checks what the config says of a layer against the canonical node (strides, padding, epsilon). */
function configFaults(spec: KerasLayerSpec, layer: FileLayer): string | undefined {
  if (layer.className !== undefined && layer.className !== spec.className)
    return `layer #${layer.position} ${describe(layer)} is a ${layer.className}, ${spec.node} needs a ${spec.className}`;
  const c = layer.config;
  if (!c) return undefined;
  const e = spec.expect;
  if (e.strides && c.strides && c.strides.join() !== e.strides.join())
    return `layer #${layer.position} '${layer.name}' has strides [${c.strides}], ${spec.node} needs [${e.strides}]`;
  // A 1x1 kernel pads nothing either way.
  const pointwise = spec.weights[0]?.shape[0] === 1 && spec.weights[0]?.shape[1] === 1;
  if (e.padding && c.padding && c.padding !== e.padding && !pointwise) return `layer #${layer.position} '${layer.name}' has padding '${c.padding}', ${spec.node} needs '${e.padding}'`;
  if (e.epsilon !== undefined && c.epsilon !== undefined && Math.abs(c.epsilon - e.epsilon) > 1e-9)
    return `layer #${layer.position} '${layer.name}' has epsilon ${c.epsilon}, ${spec.node} needs ${e.epsilon}`;
  if (spec.className === 'BatchNormalization' && c.center === false) return `layer #${layer.position} '${layer.name}' has no beta (center=False)`;
  return undefined;
}

function bind(source: SourceModel, detection: Detection, options: BindOptions = {}) {
  const c = candidateGraph(options.arch ?? detection.arch, { ...detection.options, aux: false });
  const { layers, order, structure } = fileLayers(source);
  if (!structure) return bindByName(source, c, detection);
  const { steps } = alignAll(c.specs, layers, order);
  const missing: string[] = [];
  const extra: string[] = [];
  const mismatched: ShapeMismatch[] = [];
  const notes: string[] = [];
  const values = new Map<string, BindingSource>();
  let previous: FileLayer | undefined;
  for (const { spec, layer } of steps) {
    if (spec && !layer) {
      missing.push(...spec.weights.map((w) => w.param));
      notes.push(`${describeSpec(spec)} is missing${previous ? ` after layer #${previous.position} '${previous.name}'` : ' at the start'}`);
      continue;
    }
    if (layer && !spec) {
      extra.push(...layer.weights.map((w) => w.name));
      notes.push(`layer #${layer.position} ${describe(layer)} has no place in ${ARCH_LABEL[c.arch]}`);
      previous = layer;
      continue;
    }
    previous = layer;
    const s = spec!;
    const l = layer!;
    const fault = configFaults(s, l);
    if (fault) notes.push(fault);
    // BatchNormalization(scale=True) stores gamma first.
    const hasGamma = kindOfSpec(s) === 'bn' && l.weights.length === s.weights.length + 1;
    const stored = hasGamma ? l.weights.slice(1) : l.weights;
    if (hasGamma) {
      const gamma = [...s.constants.keys()][0];
      values.set(gamma, { tensor: l.weights[0], transform: TRANSFORMS.none });
    } else for (const [param, value] of s.constants) values.set(param, { constant: value });
    if (stored.length !== s.weights.length) {
      notes.push(`layer #${l.position} '${l.name}' has ${l.weights.length} weights (${l.weightNames.join(', ')}), ${s.node} needs ${s.weights.length} (${s.weights.map((w) => w.name).join(', ')})`);
      missing.push(...s.weights.slice(stored.length).map((w) => w.param));
      extra.push(...stored.slice(s.weights.length).map((w) => w.name));
    }
    s.weights.forEach((w, i) => {
      const t = stored[i];
      if (!t) return;
      if (!FLOAT_DTYPES.has(t.dtype)) notes.push(`${t.name} holds ${t.dtype} values, a weight must be floating point`);
      if (t.shape.join() !== w.shape.join()) mismatched.push({ param: w.param, source: t.name, expected: w.shape, found: t.shape });
      else values.set(w.param, { tensor: t, transform: w.transform });
    });
  }
  if (missing.length || extra.length || mismatched.length || notes.length)
    throw new SchemeError(
      'keras',
      source.path,
      missing,
      extra,
      mismatched,
      `${layers.length} layers with weights, ${ARCH_LABEL[c.arch]} needs ${c.specs.length}: ${notes.slice(0, 3).join('; ')}${notes.length > 3 ? `; ... (${notes.length} faults)` : ''}`,
    );
  return bindTable({
    scheme: 'keras',
    source,
    graph: c.graph,
    lookup: (p) => values.get(p.name),
    provenance: { ...(c.graph.options.softmax ? { sourceOutputsProbabilities: true } : {}) },
  });
}

function bindByName(source: SourceModel, c: Candidate, detection: Detection) {
  const byName = new Map(source.tensors.map((t) => [t.name, t]));
  const table = new Map<string, BindingSource>();
  for (const spec of c.specs) {
    for (const [param, value] of spec.constants) table.set(param, { constant: value });
    for (const w of spec.weights) {
      const t = byName.get(`${spec.name}/${w.name}`);
      if (t) table.set(w.param, { tensor: t, transform: w.transform });
    }
  }
  void detection;
  return bindTable({
    scheme: 'keras',
    source,
    graph: c.graph,
    lookup: (p) => table.get(p.name),
    provenance: { ...(c.graph.options.softmax ? { sourceOutputsProbabilities: true } : {}) },
  });
}

export const kerasScheme: Scheme = {
  name: 'keras',
  description: 'Keras models (keras.applications Inception-ResNet-v2, Inception-v4 ports): bound by layer order as Keras loads them, HWIO kernels, [in, out] dense, no BN gamma',
  detect,
  bind,
};

/**
 * The Keras naming: `<layer>/<weight>` in load order, with the layer names Keras 3 gives
 * (keras.applications' for Inception-ResNet-v2), kernels HWIO, dense [in, out], batch norm
 * without gamma (as keras.applications stores it: a model whose gamma is not 1 loses it).
 */
export const kerasNaming: Naming = {
  name: 'keras',
  layout: (graph: Graph): NamedTensor[] =>
    kerasWeightedLayers(graph).flatMap((l) => l.weights.map((w) => ({ name: `${l.name}/${w.name}`, param: w.param, shape: w.shape, transform: w.transform }))),
};
