/**
 * weightport's TensorFlow.js naming: the layers-model that the tfjs writer emits (and that tfjs's
 * own `model.save` writes back unchanged); its graph-model holds the same weights under the same
 * names (writers/tfjs/graph-model.ts).
 *
 * - Layer names are canonical node names with every `/` replaced by `.`
 *   (`Mixed_5b/Branch_1/Conv2d_0b_5x5` -> `Mixed_5b.Branch_1.Conv2d_0b_5x5`). tfjs accepts `/` in
 *   names (tfjs-layers/src/common.ts, `tensorNameRegex`), but Keras rejects it in layer names and
 *   a weight name `layer/kernel` would no longer split at its last `/` unambiguously. Canonical
 *   names never hold a `.`, so the mapping is one-to-one.
 * - Weights are `<layer>/<weight>` as tfjs-layers names its variables: `kernel` and `bias` for
 *   Conv2D and Dense, `gamma`, `beta`, `moving_mean`, `moving_variance` for BatchNormalization,
 *   in layer order and, within a layer, in the order the layer creates them.
 * - Layouts are TF's: conv kernels HWIO, dense kernels [in, out].
 * - Inception-ResNet-v2's residual scale is folded into the up-projection conv
 *   (`x + s·(W∗y + b) = x + (sW)∗y + sb`): tfjs ships no layer that multiplies by a constant
 *   (Keras uses a Lambda or CustomScaleLayer, which tfjs cannot load). Reading divides by s again;
 *   `fl(fl(w·s)/s)` is w or one ulp from it, so those tensors round-trip within 1 ulp, all others
 *   bit for bit.
 */
import { buildGraph } from '../index.js';
import { foldedGraph } from '../transforms.js';
import { hwioToOihw, oihwToHwio, placed, scaleInPlace } from '../layout.js';
import { bindTable, TRANSFORMS, widthDivisorFor, type Transform } from './bind.js';
import { graphParams, type Graph, type ParamRole } from '../ir.js';
import type { BindOptions, Detection, Naming, NamedTensor, Scheme } from './types.js';
import type { SourceModel } from '../../readers/types.js';

/** tfjs layer name of a canonical node. */
export const tfjsLayerName = (node: string): string => node.replaceAll('/', '.');
/** Canonical node name of a layer named by `tfjsLayerName`. */
export const canonicalNodeName = (layer: string): string => layer.replaceAll('.', '/');

/** The tfjs-layers variable name of each kind of parameter. */
export const TFJS_WEIGHT_NAMES: Readonly<Record<ParamRole, string>> = {
  'conv.weights': 'kernel',
  'conv.biases': 'bias',
  'bn.gamma': 'gamma',
  'bn.beta': 'beta',
  'bn.moving_mean': 'moving_mean',
  'bn.moving_variance': 'moving_variance',
  'dense.weights': 'kernel',
  'dense.biases': 'bias',
};

/**
 * The residual scale folded into each up-projection conv (conv node name -> scale), for every
 * residual node whose scale is not 1. The branch must be a biased conv (the up-projection).
 */
export function foldedResidualScales(graph: Graph): Map<string, number> {
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const scales = new Map<string, number>();
  for (const n of graph.nodes) {
    if (n.op !== 'residual' || n.scale === 1) continue;
    const branch = byName.get(n.branch);
    if (branch?.op !== 'conv2d' || !branch.bias)
      throw new Error(`${n.name}: the residual scale can only be folded into a biased conv, and ${n.branch} is not one`);
    scales.set(branch.name, n.scale);
  }
  return scales;
}

/**
 * Stored = scale · canonical, in float32 arithmetic (layout.ts `Scaling`): a kernel is scaled as
 * it is transposed (one pass), a bias copied (or taken over) and scaled.
 */
function scaled(role: 'conv.weights' | 'conv.biases', scale: number): Transform {
  const mul = { by: scale };
  const div = { by: scale, divide: true };
  if (role === 'conv.weights')
    return {
      name: `hwio·${scale}`,
      storedShape: TRANSFORMS.hwio.storedShape,
      apply: (stored, storedShape, into) => hwioToOihw(stored, storedShape, into, div),
      store: (canonical, shape, into) => oihwToHwio(canonical, shape, into, mul),
    };
  // the caller's array stays as it is: scaled in `into`, or in a copy
  const own = (data: Float32Array, into: Float32Array | undefined) => placed(data, into ?? new Float32Array(data.length));
  return {
    name: `none·${scale}`,
    storedShape: TRANSFORMS.none.storedShape,
    apply: (stored, _, into) => scaleInPlace(own(stored, into), div),
    store: (canonical, _, into) => scaleInPlace(own(canonical, into), mul),
  };
}

export const tfjsNaming: Naming = {
  name: 'tfjs',
  layout(graph: Graph): NamedTensor[] {
    const scales = foldedResidualScales(graph);
    return graphParams(graph).map((p) => {
      let transform: Transform =
        p.role === 'conv.weights' ? TRANSFORMS.hwio : p.role === 'dense.weights' ? TRANSFORMS.inOut : TRANSFORMS.none;
      const s = scales.get(p.node);
      if (s !== undefined && (p.role === 'conv.weights' || p.role === 'conv.biases')) transform = scaled(p.role, s);
      return {
        name: `${tfjsLayerName(p.node)}/${TFJS_WEIGHT_NAMES[p.role]}`,
        param: p.name,
        shape: transform.storedShape(p.shape),
        transform,
      };
    });
  },
};

interface TopologyLayer {
  readonly class_name?: string;
  readonly name?: string;
  readonly config?: { readonly name?: string; readonly batch_input_shape?: readonly (number | null)[] };
}

/** Layers of a Keras topology (`modelTopology`, possibly under `model_config`), when there is one. */
function topologyLayers(structure: unknown): readonly TopologyLayer[] {
  const s = structure as { modelTopology?: { model_config?: unknown; config?: { layers?: unknown } } } | undefined;
  let topo = s?.modelTopology as { model_config?: unknown; config?: { layers?: unknown } } | undefined;
  if (topo?.model_config) topo = topo.model_config as typeof topo;
  const layers = topo?.config?.layers;
  return Array.isArray(layers) ? (layers as TopologyLayer[]) : [];
}

interface GraphNodeJson {
  readonly name?: string;
  readonly op?: string;
  readonly attr?: { readonly shape?: { readonly shape?: { readonly dim?: readonly { readonly size?: string | number }[] } } };
}

/** Nodes of a graph-model's GraphDef (`modelTopology.node`), when it is one. */
function graphModelNodes(structure: unknown): readonly GraphNodeJson[] | undefined {
  const node = (structure as { modelTopology?: { node?: unknown } } | undefined)?.modelTopology?.node;
  return Array.isArray(node) ? (node as GraphNodeJson[]) : undefined;
}

function detect(source: SourceModel, options: BindOptions = {}): Detection | null {
  const byName = new Map(source.tensors.map((t) => [t.name, t]));
  const stem = byName.get('Conv2d_1a_3x3/kernel');
  if (!stem || stem.shape.length !== 4 || stem.shape[2] !== 3) return null;
  const widthDivisor = widthDivisorFor(32, stem.shape[3]);
  if (widthDivisor === undefined) return null;
  const arch =
    options.arch ??
    (byName.has('Mixed_5b.Branch_0.Conv2d_1x1/kernel')
      ? 'inception_resnet_v2'
      : byName.has('Mixed_5b.Branch_0.Conv2d_0a_1x1/kernel')
        ? 'inception_v4'
        : undefined);
  if (!arch) return null;
  const logits = byName.get('Logits.Logits/bias');
  if (!logits || logits.shape.length !== 1) return null;
  const aux = source.tensors.some((t) => t.name.startsWith('AuxLogits.'));
  const foldedBn = !byName.has('Conv2d_1a_3x3.BatchNorm/gamma') && byName.has('Conv2d_1a_3x3/bias');
  const layers = topologyLayers(source.structure);
  // A graph-model (writers/tfjs/graph-model.ts) holds the same weights; its GraphDef tells the
  // softmax (a Softmax node `Predictions`) and the input size (the Placeholder's shape).
  const nodes = graphModelNodes(source.structure) ?? [];
  const softmax =
    layers.some((l) => (l.config?.name ?? l.name) === 'Predictions') || nodes.some((n) => n.name === 'Predictions' && n.op === 'Softmax');
  const inputShape = layers.find((l) => l.class_name === 'InputLayer')?.config?.batch_input_shape;
  const placeholder = nodes.find((n) => n.op === 'Placeholder')?.attr?.shape?.shape?.dim?.[1]?.size;
  const inputSize = typeof inputShape?.[1] === 'number' ? inputShape[1] : placeholder !== undefined ? Number(placeholder) || undefined : undefined;
  return {
    scheme: 'tfjs',
    arch,
    options: { classes: logits.shape[0], aux, widthDivisor, ...(softmax ? { softmax } : {}), ...(inputSize ? { inputSize } : {}) },
    foldedBn,
    reason: `weightport's tfjs layer names (Conv2d_1a_3x3/kernel, Logits.Logits/bias), HWIO kernels${arch === 'inception_resnet_v2' ? ', residual scales folded into the up-projections' : ''}`,
  };
}

export const tfjsScheme: Scheme = {
  name: 'tfjs',
  description: "weightport's tfjs layers-model or graph-model: canonical names with '/' -> '.', HWIO kernels, [in, out] dense, residual scale folded",
  detect,
  bind(source, detection, options = {}) {
    const keepAux = Boolean(options.aux && detection.options.aux);
    let graph = buildGraph(detection.arch, { ...detection.options, aux: keepAux });
    if (detection.foldedBn) graph = foldedGraph(graph).graph;
    const byParam = new Map(tfjsNaming.layout(graph).map((t) => [t.param!, t]));
    const byName = new Map(source.tensors.map((t) => [t.name, t]));
    // A graph-model's int32 Consts are operands (axes, shapes, paddings), not parameters.
    const graphModel = graphModelNodes(source.structure) !== undefined;
    return bindTable({
      scheme: 'tfjs',
      source,
      graph,
      lookup: (spec) => {
        const named = byParam.get(spec.name);
        const tensor = named && byName.get(named.name);
        return tensor && named.transform && { tensor, transform: named.transform };
      },
      ignored: (t) => (graphModel && t.dtype === 'int32') || (!keepAux && t.name.startsWith('AuxLogits.')),
      provenance: graph.options.softmax ? { sourceOutputsProbabilities: true } : undefined,
    });
  },
};
