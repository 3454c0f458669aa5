/**
 * The canonical scheme: tensors named exactly as the canonical parameters (graphs/ir.ts), in the
 * canonical layout. This is what `--scheme canonical` writers emit.
 */
import { buildGraph } from '../index.js';
import { foldedGraph } from '../transforms.js';
import { bindTable, TRANSFORMS, widthDivisorFor } from './bind.js';
import { graphParams, type Graph } from '../ir.js';
import type { BindOptions, Detection, Naming, NamedTensor, Scheme } from './types.js';
import type { SourceModel } from '../../readers/types.js';

function detect(source: SourceModel, options: BindOptions = {}): Detection | null {
  const byName = new Map(source.tensors.map((t) => [t.name, t]));
  const stem = byName.get('Conv2d_1a_3x3/weights');
  if (!stem || stem.shape.length !== 4) return null;
  const widthDivisor = widthDivisorFor(32, stem.shape[0]);
  if (widthDivisor === undefined) return null;
  const arch =
    options.arch ??
    (byName.has('Mixed_5b/Branch_0/Conv2d_1x1/weights') ? 'inception_resnet_v2' : byName.has('Mixed_5b/Branch_0/Conv2d_0a_1x1/weights') ? 'inception_v4' : undefined);
  if (!arch) return null;
  const logits = byName.get('Logits/Logits/biases');
  if (!logits) return null;
  const aux = source.tensors.some((t) => t.name.startsWith('AuxLogits/'));
  const foldedBn = !byName.has('Conv2d_1a_3x3/BatchNorm/beta') && byName.has('Conv2d_1a_3x3/biases');
  return {
    scheme: 'canonical',
    arch,
    options: { classes: logits.shape[0], aux, widthDivisor },
    foldedBn,
    reason: `canonical parameter names (Conv2d_1a_3x3/weights, Logits/Logits/biases), ${arch === 'inception_v4' ? 'Inception-v4' : 'Inception-ResNet-v2'} blocks`,
  };
}

export const canonicalScheme: Scheme = {
  name: 'canonical',
  description: 'canonical names (TF-slim scopes without the network prefix), OIHW kernels, [out, in] dense',
  detect,
  bind(source, detection, options = {}) {
    const keepAux = Boolean(options.aux && detection.options.aux);
    let graph = buildGraph(detection.arch, { ...detection.options, aux: keepAux });
    if (detection.foldedBn) graph = foldedGraph(graph).graph;
    const byName = new Map(source.tensors.map((t) => [t.name, t]));
    return bindTable({
      scheme: 'canonical',
      source,
      graph,
      lookup: (spec) => {
        const tensor = byName.get(spec.name);
        return tensor && { tensor, transform: TRANSFORMS.none };
      },
      ignored: (t) => !keepAux && t.name.startsWith('AuxLogits/'),
    });
  },
};

export const canonicalNaming: Naming = {
  name: 'canonical',
  layout: (graph: Graph): NamedTensor[] =>
    graphParams(graph).map((p) => ({ name: p.name, param: p.name, shape: p.shape, transform: TRANSFORMS.none })),
};
