/**
 * TF-slim's naming (tensorflow/models research/slim/nets/inception_v4.py and
 * inception_resnet_v2.py), as TF-slim checkpoints store it: every canonical name under the network
 * scope, `InceptionV4/<canonical>` or `InceptionResnetV2/<canonical>` (the canonical names are
 * TF-slim's scopes, graphs/ir.ts). Conv kernels are HWIO `[kh, kw, in, out]`, dense weights
 * `[in, out]`; batch norm is stored without gamma (`scale=False`: beta, moving_mean,
 * moving_variance), so gamma = 1, but a stored `BatchNorm/gamma` is taken. The classifiers have
 * 1001 classes, background at 0 (`--classes 1000` drops it, api.bindModel).
 *
 * Training checkpoints hold more than the network. Reported and left out:
 * - the auxiliary head `AuxLogits/...` (kept with `--aux`);
 * - `global_step`;
 * - optimizer slots: `<var>/RMSProp`, `<var>/RMSProp_1`, `<var>/Momentum`, `<var>/Adam`,
 *   `<var>/Adam_1`, and `beta1_power` / `beta2_power`;
 * - `<var>/ExponentialMovingAverage` shadows, unless `--ema`: then each parameter with a shadow
 *   takes the shadow's value (the raw value is left out), the others their raw value.
 *
 * Writing (`--naming slim`) stores `BatchNorm/gamma` too: TF-slim's Saver restores only the
 * variables its graph has, so the extra tensor is harmless, and it keeps a gamma that is not 1.
 */
import { buildGraph } from '../index.js';
import { foldedGraph } from '../transforms.js';
import { graphParams, type Arch, type Graph, type ParamRole } from '../ir.js';
import { bindTable, TRANSFORMS, widthDivisorFor, type Transform } from './bind.js';
import type { BindOptions, Detection, Naming, NamedTensor, Scheme } from './types.js';
import type { SourceModel, StoredTensor } from '../../readers/types.js';

/** The network scope of each architecture. */
export const SLIM_SCOPES: Readonly<Record<Arch, string>> = { inception_v4: 'InceptionV4', inception_resnet_v2: 'InceptionResnetV2' };

export const EMA_SUFFIX = '/ExponentialMovingAverage';
/** Optimizer slot suffixes (tf.compat.v1.train optimizers' slot names). */
const SLOT_SUFFIX = /\/(RMSProp|RMSProp_1|Momentum|Adam|Adam_1|Adagrad|Ftrl|Ftrl_1)$/;

/** Why a stored tensor of a TF-slim checkpoint is not part of the network, or undefined. */
export function slimLeftOut(name: string): string | undefined {
  if (name === 'global_step' || name.endsWith('/global_step')) return 'global_step (training step counter)';
  if (SLOT_SUFFIX.test(name)) return `optimizer slot (${SLOT_SUFFIX.exec(name)![1]})`;
  if (/(^|\/)beta[12]_power$/.test(name)) return 'optimizer state (Adam)';
  if (name.endsWith(EMA_SUFFIX)) return 'ExponentialMovingAverage shadow (used with --ema)';
  if (/^[^/]+\/AuxLogits\//.test(name)) return 'auxiliary head (kept with --aux)';
  return undefined;
}

const transformFor = (role: ParamRole): Transform =>
  role === 'conv.weights' ? TRANSFORMS.hwio : role === 'dense.weights' ? TRANSFORMS.inOut : TRANSFORMS.none;

function detect(source: SourceModel, options: BindOptions = {}): Detection | null {
  const byName = new Map(source.tensors.map((t) => [t.name, t]));
  const archs = (Object.keys(SLIM_SCOPES) as Arch[]).filter((a) => byName.has(`${SLIM_SCOPES[a]}/Conv2d_1a_3x3/weights`));
  const arch = options.arch && archs.includes(options.arch) ? options.arch : archs[0];
  if (!arch) return null;
  const scope = SLIM_SCOPES[arch];
  const stem = byName.get(`${scope}/Conv2d_1a_3x3/weights`)!;
  // HWIO: [3, 3, 3, filters]
  if (stem.shape.length !== 4 || stem.shape[0] !== 3 || stem.shape[1] !== 3 || stem.shape[2] !== 3) return null;
  const widthDivisor = widthDivisorFor(32, stem.shape[3]);
  if (widthDivisor === undefined) return null;
  const logits = byName.get(`${scope}/Logits/Logits/biases`);
  const classes = logits?.shape.length === 1 ? logits.shape[0] : undefined;
  if (classes === undefined) return null;
  const aux = source.tensors.some((t) => t.name.startsWith(`${scope}/AuxLogits/`) && slimLeftOut(t.name)?.startsWith('auxiliary'));
  const foldedBn = !byName.has(`${scope}/Conv2d_1a_3x3/BatchNorm/beta`) && byName.has(`${scope}/Conv2d_1a_3x3/biases`);
  const left = new Map<string, number>();
  for (const t of source.tensors) {
    const why = slimLeftOut(t.name);
    if (why) left.set(why.replace(/ \(.*/, ''), (left.get(why.replace(/ \(.*/, '')) ?? 0) + 1);
  }
  const emaCount = source.tensors.filter((t) => t.name.endsWith(EMA_SUFFIX)).length;
  const parts = [
    `TF-slim names under ${scope}/ (${stem.name} [${stem.shape}]${widthDivisor > 1 ? `: width / ${widthDivisor}` : ''})`,
    `${classes} classes${classes === 1001 ? ' (background at 0)' : ''}`,
    aux ? 'auxiliary head stored' : 'no auxiliary head',
  ];
  if (emaCount) parts.push(`${emaCount} ExponentialMovingAverage shadows${options.ema ? ' (used: --ema)' : ''}`);
  if (left.size) parts.push(`left out: ${[...left].map(([k, n]) => `${n} ${k}`).join(', ')}`);
  return {
    scheme: 'slim',
    arch,
    options: { classes, aux, widthDivisor },
    ...(foldedBn ? { foldedBn } : {}),
    reason: parts.join('; '),
  };
}

function bind(source: SourceModel, detection: Detection, options: BindOptions = {}) {
  const scope = SLIM_SCOPES[detection.arch];
  const keepAux = Boolean(options.aux && detection.options.aux);
  let graph = buildGraph(detection.arch, { ...detection.options, aux: keepAux });
  if (detection.foldedBn) graph = foldedGraph(graph).graph;
  const byName = new Map(source.tensors.map((t) => [t.name, t]));
  const shadowed = new Set<StoredTensor>();
  return bindTable({
    scheme: 'slim',
    source,
    graph,
    lookup(spec) {
      const name = `${scope}/${spec.name}`;
      const shadow = options.ema ? byName.get(`${name}${EMA_SUFFIX}`) : undefined;
      const raw = byName.get(name);
      if (shadow && raw) shadowed.add(raw);
      const tensor = shadow ?? raw;
      if (tensor) return { tensor, transform: transformFor(spec.role) };
      if (spec.role === 'bn.gamma') return { constant: 1 };
      return undefined;
    },
    ignored(t) {
      if (shadowed.has(t)) return true;
      const why = slimLeftOut(t.name);
      if (!why) return false;
      return !(keepAux && why.startsWith('auxiliary'));
    },
    provenance: { sourceClasses: detection.options.classes },
  });
}

export const slimScheme: Scheme = {
  name: 'slim',
  description: 'TF-slim names (InceptionV4/..., InceptionResnetV2/...), HWIO kernels, [in, out] dense, BN without gamma',
  detect,
  bind,
};

export const slimNaming: Naming = {
  name: 'slim',
  layout(graph: Graph): NamedTensor[] {
    const scope = SLIM_SCOPES[graph.arch];
    return graphParams(graph).map((p) => {
      const transform = transformFor(p.role);
      return { name: `${scope}/${p.name}`, param: p.name, shape: transform.storedShape(p.shape), transform };
    });
  },
};
