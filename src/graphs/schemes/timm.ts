/**
 * timm's naming (pytorch-image-models 1.0.x, `timm/models/inception_v4.py` and
 * `timm/models/inception_resnet_v2.py`, themselves from Cadene's tensorflow-model-zoo.torch).
 *
 * Every conv unit is a `ConvNormAct` module `<prefix>` holding `conv.weight` (OIHW, no bias) and
 * `bn.{weight, bias, running_mean, running_var, num_batches_tracked}` (gamma, beta, moving mean and
 * variance, BatchNorm2d eps 0.001); the residual up-projections are plain `nn.Conv2d` with
 * `weight` and `bias`; the head is an `nn.Linear` (`[out, in]`). Both layouts are the canonical
 * one: every transform is the identity.
 *
 * - Inception-v4: `features.0..21` (an nn.Sequential: 3 stem units, Mixed3a, Mixed4a, Mixed5a,
 *   4 × InceptionA, ReductionA, 7 × InceptionB, ReductionB, 3 × InceptionC), head `last_linear`.
 * - Inception-ResNet-v2: `conv2d_1a`, `conv2d_2a`, `conv2d_2b`, `conv2d_3b`, `conv2d_4a`,
 *   `mixed_5b`, `repeat.0..9` (Block35), `mixed_6a`, `repeat_1.0..19` (Block17), `mixed_7a`,
 *   `repeat_2.0..8` (Block8), `block8` (scale 1, no ReLU), `conv2d_7b`, head `classif`.
 *
 * The table lists the units in timm's module registration order, so `layout()` gives exactly
 * `model.state_dict()`'s order (checked against the real timm in test/graphs/schemes/timm.test.ts).
 *
 * Not representable, and how it is handled:
 * - timm has no auxiliary heads: `layout()` leaves `AuxLogits/...` out (a timm model loads the file
 *   with `strict=True`); reading never produces one.
 * - A model whose batch norm is folded into conv biases (an ONNX export) is written unfolded: the
 *   conv bias becomes `bn.bias`, with `bn.weight` = 1, `bn.running_mean` = 0 and
 *   `bn.running_var` = 1 − eps, so that timm computes conv + bias exactly (γ/√(var + eps) = 1).
 * - `num_batches_tracked` (int64 scalar, 0) is written so that `load_state_dict(strict=True)`
 *   finds every buffer; it is ignored when reading.
 */
import { buildGraph } from '../index.js';
import { graphParams, type Arch, type Graph, type ParamSpec } from '../ir.js';
import { bindTable, TRANSFORMS, widthDivisorFor } from './bind.js';
import type { BindOptions, Detection, Naming, NamedTensor, Scheme } from './types.js';
import type { SourceModel } from '../../readers/types.js';

/** One timm module and the canonical node it holds. */
interface Unit {
  /** timm module path, for example `mixed_5b.branch1.1`. */
  readonly timm: string;
  /** Canonical conv (or dense) node name, for example `Mixed_5b/Branch_1/Conv2d_0b_5x5`. */
  readonly canonical: string;
  /** `unit`: ConvNormAct; `conv`: nn.Conv2d with bias (up-projection); `linear`: the head. */
  readonly kind: 'unit' | 'conv' | 'linear';
}

const unit = (timm: string, canonical: string): Unit => ({ timm, canonical, kind: 'unit' });

/** `[timm suffix, canonical suffix]` pairs of a block, expanded under both prefixes. */
function block(timm: string, canonical: string, pairs: readonly (readonly [string, string])[]): Unit[] {
  return pairs.map(([t, c]) => unit(`${timm}.${t}`, `${canonical}/${c}`));
}

const V4_A = [
  ['branch0', 'Branch_0/Conv2d_0a_1x1'],
  ['branch1.0', 'Branch_1/Conv2d_0a_1x1'],
  ['branch1.1', 'Branch_1/Conv2d_0b_3x3'],
  ['branch2.0', 'Branch_2/Conv2d_0a_1x1'],
  ['branch2.1', 'Branch_2/Conv2d_0b_3x3'],
  ['branch2.2', 'Branch_2/Conv2d_0c_3x3'],
  ['branch3.1', 'Branch_3/Conv2d_0b_1x1'],
] as const;

const V4_B = [
  ['branch0', 'Branch_0/Conv2d_0a_1x1'],
  ['branch1.0', 'Branch_1/Conv2d_0a_1x1'],
  ['branch1.1', 'Branch_1/Conv2d_0b_1x7'],
  ['branch1.2', 'Branch_1/Conv2d_0c_7x1'],
  ['branch2.0', 'Branch_2/Conv2d_0a_1x1'],
  ['branch2.1', 'Branch_2/Conv2d_0b_7x1'],
  ['branch2.2', 'Branch_2/Conv2d_0c_1x7'],
  ['branch2.3', 'Branch_2/Conv2d_0d_7x1'],
  ['branch2.4', 'Branch_2/Conv2d_0e_1x7'],
  ['branch3.1', 'Branch_3/Conv2d_0b_1x1'],
] as const;

/** InceptionC: timm's flat `branch1_1a` / `branch2_3b` members, in registration order. */
const V4_C = [
  ['branch0', 'Branch_0/Conv2d_0a_1x1'],
  ['branch1_0', 'Branch_1/Conv2d_0a_1x1'],
  ['branch1_1a', 'Branch_1/Conv2d_0b_1x3'],
  ['branch1_1b', 'Branch_1/Conv2d_0c_3x1'],
  ['branch2_0', 'Branch_2/Conv2d_0a_1x1'],
  ['branch2_1', 'Branch_2/Conv2d_0b_3x1'],
  ['branch2_2', 'Branch_2/Conv2d_0c_1x3'],
  ['branch2_3a', 'Branch_2/Conv2d_0d_1x3'],
  ['branch2_3b', 'Branch_2/Conv2d_0e_3x1'],
  ['branch3.1', 'Branch_3/Conv2d_0b_1x1'],
] as const;

function inceptionV4Units(): Unit[] {
  const units: Unit[] = [
    unit('features.0', 'Conv2d_1a_3x3'),
    unit('features.1', 'Conv2d_2a_3x3'),
    unit('features.2', 'Conv2d_2b_3x3'),
    unit('features.3.conv', 'Mixed_3a/Branch_1/Conv2d_0a_3x3'), // Mixed3a: maxpool first, conv second
    ...block('features.4', 'Mixed_4a', [
      ['branch0.0', 'Branch_0/Conv2d_0a_1x1'],
      ['branch0.1', 'Branch_0/Conv2d_1a_3x3'],
      ['branch1.0', 'Branch_1/Conv2d_0a_1x1'],
      ['branch1.1', 'Branch_1/Conv2d_0b_1x7'],
      ['branch1.2', 'Branch_1/Conv2d_0c_7x1'],
      ['branch1.3', 'Branch_1/Conv2d_1a_3x3'],
    ]),
    unit('features.5.conv', 'Mixed_5a/Branch_0/Conv2d_1a_3x3'), // Mixed5a: conv first, maxpool second
  ];
  let i = 6;
  for (const s of 'bcde') units.push(...block(`features.${i++}`, `Mixed_5${s}`, V4_A));
  units.push(
    ...block(`features.${i++}`, 'Mixed_6a', [
      ['branch0', 'Branch_0/Conv2d_1a_3x3'],
      ['branch1.0', 'Branch_1/Conv2d_0a_1x1'],
      ['branch1.1', 'Branch_1/Conv2d_0b_3x3'],
      ['branch1.2', 'Branch_1/Conv2d_1a_3x3'],
    ]),
  );
  for (const s of 'bcdefgh') units.push(...block(`features.${i++}`, `Mixed_6${s}`, V4_B));
  units.push(
    ...block(`features.${i++}`, 'Mixed_7a', [
      ['branch0.0', 'Branch_0/Conv2d_0a_1x1'],
      ['branch0.1', 'Branch_0/Conv2d_1a_3x3'],
      ['branch1.0', 'Branch_1/Conv2d_0a_1x1'],
      ['branch1.1', 'Branch_1/Conv2d_0b_1x7'],
      ['branch1.2', 'Branch_1/Conv2d_0c_7x1'],
      ['branch1.3', 'Branch_1/Conv2d_1a_3x3'],
    ]),
  );
  for (const s of 'bcd') units.push(...block(`features.${i++}`, `Mixed_7${s}`, V4_C));
  units.push({ timm: 'last_linear', canonical: 'Logits/Logits', kind: 'linear' });
  return units;
}

/** A residual block: its branches, then the biased 1x1 up-projection `conv2d`. */
function residualBlock(timm: string, canonical: string, pairs: readonly (readonly [string, string])[]): Unit[] {
  return [...block(timm, canonical, pairs), { timm: `${timm}.conv2d`, canonical: `${canonical}/Conv2d_1x1`, kind: 'conv' }];
}

const BLOCK35 = [
  ['branch0', 'Branch_0/Conv2d_1x1'],
  ['branch1.0', 'Branch_1/Conv2d_0a_1x1'],
  ['branch1.1', 'Branch_1/Conv2d_0b_3x3'],
  ['branch2.0', 'Branch_2/Conv2d_0a_1x1'],
  ['branch2.1', 'Branch_2/Conv2d_0b_3x3'],
  ['branch2.2', 'Branch_2/Conv2d_0c_3x3'],
] as const;

const BLOCK17 = [
  ['branch0', 'Branch_0/Conv2d_1x1'],
  ['branch1.0', 'Branch_1/Conv2d_0a_1x1'],
  ['branch1.1', 'Branch_1/Conv2d_0b_1x7'],
  ['branch1.2', 'Branch_1/Conv2d_0c_7x1'],
] as const;

const BLOCK8 = [
  ['branch0', 'Branch_0/Conv2d_1x1'],
  ['branch1.0', 'Branch_1/Conv2d_0a_1x1'],
  ['branch1.1', 'Branch_1/Conv2d_0b_1x3'],
  ['branch1.2', 'Branch_1/Conv2d_0c_3x1'],
] as const;

function inceptionResNetV2Units(): Unit[] {
  const units: Unit[] = [
    unit('conv2d_1a', 'Conv2d_1a_3x3'),
    unit('conv2d_2a', 'Conv2d_2a_3x3'),
    unit('conv2d_2b', 'Conv2d_2b_3x3'),
    unit('conv2d_3b', 'Conv2d_3b_1x1'),
    unit('conv2d_4a', 'Conv2d_4a_3x3'),
    ...block('mixed_5b', 'Mixed_5b', [
      ['branch0', 'Branch_0/Conv2d_1x1'],
      ['branch1.0', 'Branch_1/Conv2d_0a_1x1'],
      ['branch1.1', 'Branch_1/Conv2d_0b_5x5'],
      ['branch2.0', 'Branch_2/Conv2d_0a_1x1'],
      ['branch2.1', 'Branch_2/Conv2d_0b_3x3'],
      ['branch2.2', 'Branch_2/Conv2d_0c_3x3'],
      ['branch3.1', 'Branch_3/Conv2d_0b_1x1'],
    ]),
  ];
  for (let i = 0; i < 10; i++) units.push(...residualBlock(`repeat.${i}`, `Repeat/block35_${i + 1}`, BLOCK35));
  units.push(
    ...block('mixed_6a', 'Mixed_6a', [
      ['branch0', 'Branch_0/Conv2d_1a_3x3'],
      ['branch1.0', 'Branch_1/Conv2d_0a_1x1'],
      ['branch1.1', 'Branch_1/Conv2d_0b_3x3'],
      ['branch1.2', 'Branch_1/Conv2d_1a_3x3'],
    ]),
  );
  for (let i = 0; i < 20; i++) units.push(...residualBlock(`repeat_1.${i}`, `Repeat_1/block17_${i + 1}`, BLOCK17));
  units.push(
    ...block('mixed_7a', 'Mixed_7a', [
      ['branch0.0', 'Branch_0/Conv2d_0a_1x1'],
      ['branch0.1', 'Branch_0/Conv2d_1a_3x3'],
      ['branch1.0', 'Branch_1/Conv2d_0a_1x1'],
      ['branch1.1', 'Branch_1/Conv2d_1a_3x3'],
      ['branch2.0', 'Branch_2/Conv2d_0a_1x1'],
      ['branch2.1', 'Branch_2/Conv2d_0b_3x3'],
      ['branch2.2', 'Branch_2/Conv2d_1a_3x3'],
    ]),
  );
  for (let i = 0; i < 9; i++) units.push(...residualBlock(`repeat_2.${i}`, `Repeat_2/block8_${i + 1}`, BLOCK8));
  units.push(...residualBlock('block8', 'Block8', BLOCK8));
  units.push(unit('conv2d_7b', 'Conv2d_7b_1x1'));
  units.push({ timm: 'classif', canonical: 'Logits/Logits', kind: 'linear' });
  return units;
}

/** timm module path -> canonical node, in timm's registration (state_dict) order. */
export const TIMM_UNITS: Readonly<Record<Arch, readonly Unit[]>> = {
  inception_v4: inceptionV4Units(),
  inception_resnet_v2: inceptionResNetV2Units(),
};

/** Names of the heads, which give the class count. */
const HEAD: Readonly<Record<Arch, string>> = { inception_v4: 'last_linear', inception_resnet_v2: 'classif' };
/** The stem conv, which gives the width divisor (32 filters at full size). */
const STEM: Readonly<Record<Arch, string>> = { inception_v4: 'features.0.conv.weight', inception_resnet_v2: 'conv2d_1a.conv.weight' };

const NUM_BATCHES_TRACKED = { dtype: 'int64', value: 0 } as const;

/**
 * Every stored tensor of `graph` in timm's naming and order. The auxiliary head, if the graph has
 * one, is left out (timm has none); folded batch norm is written unfolded (see the file comment).
 */
function layout(graph: Graph): NamedTensor[] {
  const params = new Map(graphParams(graph).map((p) => [p.name, p]));
  const nodes = new Map(graph.nodes.map((n) => [n.name, n]));
  const out: NamedTensor[] = [];
  const param = (name: string, p: string): void => {
    const spec = params.get(p);
    if (!spec) throw new Error(`timm naming: the ${graph.arch} graph has no parameter ${p}`);
    out.push({ name, param: p, shape: spec.shape, transform: TRANSFORMS.none });
  };
  for (const u of TIMM_UNITS[graph.arch]) {
    if (u.kind === 'linear' || u.kind === 'conv') {
      param(`${u.timm}.weight`, `${u.canonical}/weights`);
      param(`${u.timm}.bias`, `${u.canonical}/biases`);
      continue;
    }
    param(`${u.timm}.conv.weight`, `${u.canonical}/weights`);
    const bn = `${u.canonical}/BatchNorm`;
    if (nodes.get(bn)?.op === 'batchnorm') {
      param(`${u.timm}.bn.weight`, `${bn}/gamma`);
      param(`${u.timm}.bn.bias`, `${bn}/beta`);
      param(`${u.timm}.bn.running_mean`, `${bn}/moving_mean`);
      param(`${u.timm}.bn.running_var`, `${bn}/moving_variance`);
    } else {
      // Folded: conv + bias. BN(y) = γ(y − μ)/√(σ² + ε) + β is the identity plus β when γ = 1,
      // μ = 0 and σ² = 1 − ε.
      const conv = nodes.get(u.canonical);
      if (conv?.op !== 'conv2d' || !conv.bias) throw new Error(`timm naming: ${u.canonical} has neither batch norm nor a bias`);
      const c = [conv.outChannels];
      const eps = 0.001; // timm's norm_eps for both networks (BasicConv2d eps=0.001)
      out.push({ name: `${u.timm}.bn.weight`, shape: c, constant: { dtype: 'float32', value: 1 } });
      param(`${u.timm}.bn.bias`, `${u.canonical}/biases`);
      out.push({ name: `${u.timm}.bn.running_mean`, shape: c, constant: { dtype: 'float32', value: 0 } });
      out.push({ name: `${u.timm}.bn.running_var`, shape: c, constant: { dtype: 'float32', value: 1 - eps } });
    }
    out.push({ name: `${u.timm}.bn.num_batches_tracked`, shape: [], constant: NUM_BATCHES_TRACKED });
  }
  return out;
}

export const timmNaming: Naming = { name: 'timm', layout };

function detect(source: SourceModel, options: BindOptions = {}): Detection | null {
  const byName = new Map(source.tensors.map((t) => [t.name, t]));
  const found = (['inception_v4', 'inception_resnet_v2'] as const).filter((a) => byName.has(STEM[a]) && byName.has(`${HEAD[a]}.bias`));
  const arch = options.arch ?? found[0];
  if (!arch || !found.includes(arch)) return null;
  const stem = byName.get(STEM[arch])!;
  const head = byName.get(`${HEAD[arch]}.bias`)!;
  if (stem.shape.length !== 4 || head.shape.length !== 1) return null;
  const widthDivisor = widthDivisorFor(32, stem.shape[0]);
  if (widthDivisor === undefined) return null;
  return {
    scheme: 'timm',
    arch,
    options: { classes: head.shape[0], aux: false, widthDivisor },
    foldedBn: false,
    reason: `timm module names (${STEM[arch]}, ${HEAD[arch]}.bias), ${arch === 'inception_v4' ? 'Inception-v4' : 'Inception-ResNet-v2'}`,
  };
}

export const timmScheme: Scheme = {
  name: 'timm',
  description: "timm's module names (features.N / conv2d_1a, mixed_5b, repeat.N ...), OIHW kernels, [out, in] linear, BN with gamma",
  detect,
  bind(source, detection) {
    const graph = buildGraph(detection.arch, { ...detection.options, aux: false });
    const byParam = new Map<string, string>();
    for (const t of layout(graph)) if (t.param) byParam.set(t.param, t.name);
    const byName = new Map(source.tensors.map((t) => [t.name, t]));
    return bindTable({
      scheme: 'timm',
      source,
      graph,
      lookup: (spec: ParamSpec) => {
        const name = byParam.get(spec.name);
        const tensor = name === undefined ? undefined : byName.get(name);
        return tensor && { tensor, transform: TRANSFORMS.none };
      },
      ignored: (t) => t.name.endsWith('.num_batches_tracked'),
    });
  },
};
