/**
 * The ONNX topology scheme: binds an ONNX model by the shape of its graph, not by tensor names
 * (PyTorch's exporter names folded weights `onnx::Conv_123`; our writer uses canonical names; other
 * tools use anything).
 *
 * How: the ONNX graph is read as canonical-like ops (onnx-ops.ts), then matched against the
 * canonical graph from the outputs back to the input: a canonical node matches an op of the same
 * kind with the same kernel, stride and pads, and their inputs match in order (a concat's inputs in
 * the concat's order; a residual's shortcut and scaled branch in either order of the Add). Every
 * canonical node gets exactly one op and no op serves two nodes, so the correspondence is fixed by
 * structure alone. A model whose batch norms were folded into its convs (no BatchNormalization
 * left) is matched against the folded canonical graph (transforms.ts `foldedGraph`): it becomes a
 * canonical model with conv biases and no batch norm, which every writer takes.
 *
 * Checked beyond the structure: every weight's shape (bind.ts), the residual scales of
 * Inception-ResNet-v2 (0.17, 0.10, 0.20, 1.0), average pools that exclude padding, and the batch-
 * norm epsilon (another epsilon is absorbed exactly into the variance: σ² + ε = (σ² + ε − 0.001)
 * + 0.001).
 */
import { buildGraph } from '../index.js';
import { foldedGraph } from '../transforms.js';
import { ARCHS, graphParams, type Arch, type BuildOptions, type Graph, type GraphNode, type ParamSpec } from '../ir.js';
import { BN_EPSILON } from '../builder.js';
import { bindTable, TRANSFORMS, type BindingSource, type Transform } from './bind.js';
import { buildOpGraph, describeRef, type ConvOp, type DenseOp, type BnOp, type Op, type OpGraph, type ValueRef } from './onnx-ops.js';
import type { BindOptions, Detection, Scheme } from './types.js';
import { SchemeError } from '../../errors.js';
import { isOnnxStructure, type OnnxStructure } from '../../readers/onnx/structure.js';
import type { SourceModel, StoredTensor } from '../../readers/types.js';
import type { CanonicalModel } from '../../model.js';

const ARCH_TITLE: Record<Arch, string> = { inception_v4: 'Inception-v4', inception_resnet_v2: 'Inception-ResNet-v2' };

/** Residual scales are float32 in every file (0.17 is 0.17000000178813934): compare loosely. */
const SCALE_TOLERANCE = 1e-6;
/** Epsilons within this of 0.001 are 0.001 (float32 0.001 is 0.0010000000474974513). */
const EPSILON_TOLERANCE = 1e-9;
/** Thin variants tried for a stem of `c` filters: every d with ceil(32 / d) = c, up to this. */
const MAX_WIDTH_DIVISOR = 64;
const STEM_FILTERS = 32;

/** Where matching first failed: the earliest canonical node (by graph order) that found no partner. */
interface Failure {
  readonly index: number;
  readonly message: string;
}

interface Match {
  readonly nodeOf: ReadonlyMap<string, Op>;
  /** Residual node -> the scale found in the file (1 when there is no Mul). */
  readonly scales: ReadonlyMap<string, { readonly scale: number; readonly where: string }>;
}

function describeNode(n: GraphNode): string {
  switch (n.op) {
    case 'conv2d':
      return `conv ${n.kernel.join('x')} stride ${n.stride[0]}${n.bias ? ' with bias' : ''}`;
    case 'maxpool':
    case 'avgpool':
      return `${n.op === 'maxpool' ? 'max' : 'average'} pool ${n.kernel.join('x')} stride ${n.stride[0]}`;
    case 'concat':
      return `concat of ${n.inputs.length}`;
    case 'residual':
      return `residual add (scale ${n.scale}${n.relu ? ', ReLU' : ''})`;
    case 'globalavgpool':
      return 'global average pool';
    default:
      return n.op;
  }
}

const samePair = (a: readonly number[] | undefined, b: readonly number[]) => a !== undefined && a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * Matches the canonical graph `g` against the op graph from the given output pairs. Returns the
 * correspondence, or the earliest failure.
 */
function matchGraph(g: Graph, ops: OpGraph, pairs: readonly [string, ValueRef][]): Match | Failure {
  const byName = new Map(g.nodes.map((n, i) => [n.name, { n, i }]));
  const nodeOf = new Map<string, Op>();
  const ownerOf = new Map<Op, string>();
  const scales = new Map<string, { scale: number; where: string }>();
  const log: string[] = [];
  let failure: Failure | undefined;

  const fail = (name: string, r: ValueRef, why: string): false => {
    const entry = byName.get(name);
    const index = entry?.i ?? -1;
    if (!failure || index < failure.index) {
      const what = entry ? `${name} (${describeNode(entry.n)})` : `the input '${name}'`;
      failure = { index, message: `at ${what} the graph has ${describeRef(r)}${why ? `: ${why}` : ''}` };
    }
    return false;
  };
  const skipCanonical = (name: string): string => {
    let e = byName.get(name);
    while (e?.n.op === 'flatten') {
      name = e.n.input;
      e = byName.get(name);
    }
    return name;
  };
  const skipOps = (r: ValueRef): ValueRef => {
    while (r.kind === 'op' && r.op.kind === 'flatten' && !r.op.unsupported) r = r.op.input;
    return r;
  };
  const assign = (name: string, op: Op) => {
    nodeOf.set(name, op);
    ownerOf.set(op, name);
    log.push(name);
  };
  const rollback = (to: number) => {
    while (log.length > to) {
      const name = log.pop()!;
      ownerOf.delete(nodeOf.get(name)!);
      nodeOf.delete(name);
      scales.delete(name);
    }
  };
  const flatCanonical = (name: string): string[] => {
    const e = byName.get(skipCanonical(name));
    return e?.n.op === 'concat' ? e.n.inputs.flatMap(flatCanonical) : [name];
  };
  const flatOps = (r: ValueRef): ValueRef[] => {
    r = skipOps(r);
    return r.kind === 'op' && r.op.kind === 'concat' && !r.op.unsupported ? r.op.inputs.flatMap(flatOps) : [r];
  };
  const isBranchLike = (r: ValueRef) => r.kind === 'op' && (r.op.kind === 'mul' || (r.op.kind === 'conv' && r.op.bias !== undefined));

  function match(cName: string, ref: ValueRef): boolean {
    cName = skipCanonical(cName);
    ref = skipOps(ref);
    if (cName === g.input.name) return ref.kind === 'input' || fail(cName, ref, 'expected the model input');
    const entry = byName.get(cName);
    if (!entry) return fail(cName, ref, 'unknown canonical node');
    const c = entry.n;
    if (ref.kind !== 'op') return fail(cName, ref, '');
    const o = ref.op;
    const done = nodeOf.get(cName);
    if (done) return done === o || fail(cName, ref, `already matched to ${describeRef({ kind: 'op', op: done })}`);
    if (ownerOf.has(o)) return fail(cName, ref, `already matched to ${ownerOf.get(o)}`);
    if (o.kind !== 'add' && o.unsupported && !(c.op === 'residual' && o.kind === 'relu')) return fail(cName, ref, o.unsupported);
    switch (c.op) {
      case 'conv2d':
        if (o.kind !== 'conv') return fail(cName, ref, '');
        if (!samePair(o.kernel, c.kernel)) return fail(cName, ref, `kernel ${o.kernel?.join('x')}`);
        if (!samePair(o.stride, c.stride)) return fail(cName, ref, `stride ${o.stride.join('x')}`);
        if (!samePair(o.pads, c.pads)) return fail(cName, ref, o.pads ? `pads [${o.pads}], expected [${c.pads}]` : 'pads that depend on the input size');
        assign(cName, o);
        return match(c.input, o.input);
      case 'batchnorm':
        if (o.kind !== 'bn') return fail(cName, ref, '');
        assign(cName, o);
        return match(c.input, o.input);
      case 'relu':
        if (o.kind !== 'relu') return fail(cName, ref, '');
        assign(cName, o);
        return match(c.input, o.input);
      case 'maxpool':
      case 'avgpool': {
        if (o.kind !== c.op) return fail(cName, ref, '');
        if (!samePair(o.kernel, c.kernel) || !samePair(o.stride, c.stride) || !samePair(o.pads, c.pads))
          return fail(cName, ref, `window ${o.kernel.join('x')} stride ${o.stride.join('x')} pads [${o.pads ?? '?'}]`);
        if (o.kind === 'avgpool' && o.countIncludePad && c.pads.some((p) => p !== 0) && !(c.op === 'avgpool' && c.countIncludePad))
          return fail(cName, ref, 'count_include_pad = 1, but these networks divide by the taps inside the image only');
        assign(cName, o);
        return match(c.input, o.input);
      }
      case 'concat': {
        if (o.kind !== 'concat') return fail(cName, ref, '');
        // Concatenation is associative and exporters merge nested ones (PyTorch turns timm's
        // Inception-C `cat(x0, cat(a, b), cat(c, d), x3)` into one Concat of 6): compare the
        // flattened input lists.
        const cs = flatCanonical(cName);
        const os = flatOps(ref);
        if (os.length !== cs.length) return fail(cName, ref, `${os.length} inputs${os.length !== o.inputs.length ? ' (nested concats merged)' : ''}, expected ${cs.length}`);
        assign(cName, o);
        return cs.every((input, i) => match(input, os[i]));
      }
      case 'residual': {
        let add: Op = o;
        if (c.relu) {
          if (o.kind !== 'relu') return fail(cName, ref, 'expected Relu(Add(x, scale * branch))');
          const inner = skipOps(o.input);
          if (inner.kind !== 'op' || inner.op.kind !== 'add') return fail(cName, ref, 'expected Relu(Add(x, scale * branch))');
          add = inner.op;
        } else if (o.kind !== 'add') return fail(cName, ref, 'expected Add(x, scale * branch)');
        if (add.kind !== 'add') return false;
        const [p, q] = add.inputs.map(skipOps);
        const orders: [ValueRef, ValueRef][] =
          isBranchLike(q) && !isBranchLike(p) ? [[p, q]] : isBranchLike(p) && !isBranchLike(q) ? [[q, p]] : [[p, q], [q, p]];
        for (const [shortcut, branch] of orders) {
          const mark = log.length;
          let scale = 1;
          let where = `${add.node.opType} '${add.node.name}' (no Mul)`;
          let b = branch;
          if (b.kind === 'op' && b.op.kind === 'mul') {
            if (b.op.scale === undefined) return fail(cName, b, b.op.unsupported ?? 'unknown scale');
            scale = b.op.scale;
            where = `Mul '${b.op.node.name}'`;
            b = skipOps(b.op.input);
          }
          assign(cName, o);
          scales.set(cName, { scale, where });
          if (match(c.input, shortcut) && match(c.branch, b)) return true;
          rollback(mark);
        }
        return false;
      }
      case 'globalavgpool':
        if (o.kind !== 'gap') return fail(cName, ref, '');
        assign(cName, o);
        return match(c.input, o.input);
      case 'dense':
        if (o.kind !== 'dense') return fail(cName, ref, '');
        assign(cName, o);
        return match(c.input, o.input);
      case 'softmax':
        if (o.kind !== 'softmax') return fail(cName, ref, '');
        assign(cName, o);
        return match(c.input, o.input);
      case 'flatten':
        return match(c.input, ref); // not reached: skipCanonical
    }
  }

  for (const [name, ref] of pairs) if (!match(name, ref)) return failure ?? { index: -1, message: `output ${name} does not match` };
  return { nodeOf, scales };
}

const isFailure = (m: Match | Failure): m is Failure => 'message' in m;

/** Ops that feed the given values (for counts in messages and the BN-folded decision). */
function reachableOps(refs: readonly ValueRef[]): Op[] {
  const seen = new Set<Op>();
  const stack = [...refs];
  while (stack.length) {
    const r = stack.pop()!;
    if (r.kind !== 'op' || seen.has(r.op)) continue;
    seen.add(r.op);
    const o = r.op;
    switch (o.kind) {
      case 'concat':
      case 'add':
      case 'other':
        stack.push(...o.inputs);
        break;
      default:
        stack.push(o.input);
    }
  }
  return [...seen].sort((a, b) => a.id - b.id);
}

/** A classifier output: the value, and the dense op behind any Softmax / Flatten. */
interface Head {
  readonly name: string;
  readonly ref: ValueRef;
  readonly dense: DenseOp;
  readonly softmax: boolean;
}

function headOf(name: string, ref: ValueRef): Head | undefined {
  let r = ref;
  let softmax = false;
  while (r.kind === 'op' && (r.op.kind === 'softmax' || r.op.kind === 'flatten')) {
    if (r.op.kind === 'softmax') softmax = true;
    r = r.op.input;
  }
  return r.kind === 'op' && r.op.kind === 'dense' ? { name, ref, dense: r.op, softmax } : undefined;
}

/** Everything the scheme learns from a file: what it is, and where each parameter lives. */
export interface OnnxAnalysis {
  readonly arch: Arch;
  readonly options: BuildOptions;
  readonly foldedBn: boolean;
  /** The canonical graph matched (aux head as stored). */
  readonly graph: Graph;
  readonly bindings: ReadonlyMap<string, BindingSource>;
  /** Parameters whose value the graph takes from elsewhere than a stored tensor. */
  readonly missing: readonly { readonly param: string; readonly why: string }[];
  /** Mismatches beyond shapes (residual scales, a bias before batch norm). */
  readonly problems: readonly string[];
  /** What was adjusted (batch-norm epsilon). */
  readonly notes: readonly string[];
  readonly counts: Readonly<Record<string, number>>;
}

const OP_NAMES: Record<Op['kind'], string> = {
  conv: 'Conv',
  bn: 'BatchNormalization',
  relu: 'Relu',
  maxpool: 'MaxPool',
  avgpool: 'AveragePool',
  concat: 'Concat',
  add: 'Add',
  mul: 'Mul',
  gap: 'GlobalAveragePool',
  flatten: 'Flatten',
  dense: 'Gemm',
  softmax: 'Softmax',
  other: 'other',
};

function countOps(ops: readonly Op[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const o of ops) {
    const k = o.kind === 'other' ? o.node.opType : OP_NAMES[o.kind];
    counts[k] = (counts[k] ?? 0) + 1;
  }
  return counts;
}

/** Variance + delta: absorbs a batch-norm epsilon other than 0.001 (see the file comment). */
function varianceShift(delta: number): Transform {
  const shift = (d: Float32Array, by: number) => d.map((v) => v + by);
  return { name: `variance${delta >= 0 ? '+' : ''}${delta}`, storedShape: (s) => [...s], apply: (d) => shift(d, delta), store: (d) => shift(d, -delta) };
}

/** A bias stored as [1, out] (a Gemm's broadcast C). */
const ROW: Transform = { name: 'row', storedShape: (s) => [1, ...s], apply: (d) => d, store: (d) => d };

/**
 * Analyses an ONNX source: recognises the architecture and options from the graph and binds every
 * canonical parameter to a stored tensor. Throws SchemeError when the graph is not one of the two
 * networks, saying where it differs.
 */
export function analyseOnnx(source: SourceModel, options: BindOptions = {}): OnnxAnalysis {
  const s = source.structure as OnnxStructure;
  const tensors = new Map<string, StoredTensor>(source.tensors.map((t) => [t.name, t]));
  const ops = buildOpGraph(s, (name) => tensors.get(name)?.shape);
  const notInception = (why: string) =>
    new SchemeError('onnx', source.path, [], [], [], `the ONNX graph is not ${options.arch ? ARCH_TITLE[options.arch] : 'Inception-v4 or Inception-ResNet-v2'}: ${why}`);

  // Classifier outputs (block outputs written by --expose-blocks are intermediate values: skipped).
  const heads: Head[] = [];
  for (const o of ops.outputs) {
    const h = headOf(o.name, o.ref);
    if (h && !heads.some((x) => x.dense === h.dense)) heads.push(h);
  }
  const live = reachableOps(heads.map((h) => h.ref));
  const counts = countOps(reachableOps(ops.outputs.map((o) => o.ref)));
  const summary = Object.entries(counts)
    .map(([k, n]) => `${n} ${k}`)
    .join(', ');
  if (!ops.input) throw notInception('it has no float input');
  if (heads.length === 0) throw notInception(`no output ends in a classifier (Gemm or MatMul); it has ${summary || 'no operators'}`);
  if (heads.length > 2) throw notInception(`${heads.length} classifier outputs (these networks have the logits and at most an auxiliary head)`);
  const inputInfo = s.inputs.find((i) => i.name === ops.input);
  const dims = inputInfo?.shape;
  const inputSize = dims?.length === 4 && typeof dims[2] === 'number' && dims[2] === dims[3] && dims[2] >= 75 ? dims[2] : 299;

  const stem = live.find((o): o is ConvOp => o.kind === 'conv' && o.input.kind === 'input');
  const stemShape = stem?.weight.kind === 'tensor' ? tensors.get(stem.weight.name)?.shape : undefined;
  if (!stem || !stemShape || stemShape.length !== 4) throw notInception(`no convolution reads the input with a stored 4-D kernel; it has ${summary}`);
  const divisors: number[] = [];
  for (let d = 1; d <= MAX_WIDTH_DIVISOR; d++) if (Math.ceil(STEM_FILTERS / d) === stemShape[0]) divisors.push(d);
  if (divisors.length === 0)
    throw notInception(`its first convolution has ${stemShape[0]} filters; both stems have 32 (or 32/d, rounded up, in thin variants); it has ${summary}`);
  const foldedBn = !live.some((o) => o.kind === 'bn');

  const denseShape = (h: Head) => (h.dense.weight.kind === 'tensor' ? tensors.get(h.dense.weight.name)?.shape : undefined);
  const archs: readonly Arch[] = options.arch ? [options.arch] : ARCHS;
  const failures: string[] = [];
  for (const arch of archs) {
    let best: Failure | undefined;
    for (const d of divisors) {
      // Orders of the heads: [main] or [main, aux] both ways.
      const orders: Head[][] = heads.length === 1 ? [heads] : [heads, [heads[1], heads[0]]];
      for (const [main, aux] of orders) {
        const ws = denseShape(main);
        if (!ws || ws.length !== 2) continue;
        const classes = main.dense.weightInOut ? ws[1] : ws[0];
        const buildOptions: BuildOptions = { classes, aux: aux !== undefined, widthDivisor: d, inputSize, softmax: main.softmax };
        let graph: Graph;
        try {
          graph = buildGraph(arch, buildOptions);
        } catch {
          continue; // an input size too small for the network
        }
        if (foldedBn) graph = foldedGraph(graph).graph;
        const pairs: [string, ValueRef][] = [[graph.outputs.logits, main.ref]];
        if (aux && graph.outputs.aux) pairs.push([graph.outputs.aux, aux.ref]);
        const m = matchGraph(graph, ops, pairs);
        if (isFailure(m)) {
          if (!best || m.index > best.index) best = m;
          continue;
        }
        return bindAnalysis(arch, buildOptions, foldedBn, graph, m, tensors, counts);
      }
    }
    const expected = buildGraph(arch, { aux: heads.length > 1 }).nodes.filter((x) => x.op === 'conv2d').length;
    const convs = counts.Conv ?? 0;
    failures.push(`${ARCH_TITLE[arch]}${convs !== expected ? ` (${expected} Conv)` : ''}: ${best?.message ?? 'no classifier weights of a known shape'}`);
  }
  throw notInception(`it has ${summary}; ${failures.join('; ')}`);
}

function bindAnalysis(
  arch: Arch,
  options: BuildOptions,
  foldedBn: boolean,
  graph: Graph,
  m: Match,
  tensors: ReadonlyMap<string, StoredTensor>,
  counts: Record<string, number>,
): OnnxAnalysis {
  const bindings = new Map<string, BindingSource>();
  const missing: { param: string; why: string }[] = [];
  const problems: string[] = [];
  const notes: string[] = [];
  const specs = new Map<string, ParamSpec[]>();
  for (const p of graphParams(graph)) specs.set(p.node, [...(specs.get(p.node) ?? []), p]);

  const bindRef = (param: string, r: ValueRef | undefined, what: string, transform: Transform = TRANSFORMS.none) => {
    if (r?.kind === 'tensor') {
      const tensor = tensors.get(r.name);
      if (tensor) {
        bindings.set(param, { tensor, transform });
        return;
      }
    }
    missing.push({ param, why: `the ${what} comes from ${r ? describeRef(r) : 'nowhere'}, not from a stored tensor` });
  };

  for (const n of graph.nodes) {
    const o = m.nodeOf.get(n.name);
    if (!o) continue;
    const where = `${o.node.opType} '${o.node.name}'`;
    if (n.op === 'conv2d' && o.kind === 'conv') {
      bindRef(`${n.name}/weights`, o.weight, `weight of ${where}`);
      if (n.bias) {
        if (o.bias) bindRef(`${n.name}/biases`, o.bias, `bias of ${where}`);
        else bindings.set(`${n.name}/biases`, { constant: 0 });
      } else if (o.bias) problems.push(`${where} has a bias, where ${n.name} has none (it is followed by batch norm)`);
    } else if (n.op === 'batchnorm' && o.kind === 'bn') {
      const bn = o as BnOp;
      let variance: Transform = TRANSFORMS.none;
      if (Math.abs(bn.epsilon - BN_EPSILON) > EPSILON_TOLERANCE) {
        variance = varianceShift(bn.epsilon - BN_EPSILON);
        notes.push(`${where}: epsilon ${bn.epsilon} absorbed into the variance`);
      }
      (['gamma', 'beta', 'moving_mean', 'moving_variance'] as const).forEach((p, i) =>
        bindRef(`${n.name}/${p}`, bn.params[i], `${p} of ${where}`, p === 'moving_variance' ? variance : TRANSFORMS.none),
      );
    } else if (n.op === 'dense' && o.kind === 'dense') {
      bindRef(`${n.name}/weights`, o.weight, `weight of ${where}`, o.weightInOut ? TRANSFORMS.inOut : TRANSFORMS.none);
      if (o.bias) {
        const t = o.bias.kind === 'tensor' ? tensors.get(o.bias.name) : undefined;
        bindRef(`${n.name}/biases`, o.bias, `bias of ${where}`, t?.shape.length === 2 ? ROW : TRANSFORMS.none);
      } else bindings.set(`${n.name}/biases`, { constant: 0 });
    } else if (n.op === 'residual') {
      const found = m.scales.get(n.name);
      if (found && Math.abs(found.scale - n.scale) > SCALE_TOLERANCE)
        problems.push(`${n.name}: residual scale ${found.scale} (${found.where}), ${ARCH_TITLE[arch]} uses ${n.scale}`);
    }
  }
  return { arch, options, foldedBn, graph, bindings, missing, problems, notes, counts };
}

function detect(source: SourceModel, options: BindOptions = {}): Detection | null {
  if (source.format !== 'onnx' || !isOnnxStructure(source.structure)) return null;
  const a = analyseOnnx(source, options);
  const convs = a.counts.Conv ?? 0;
  const d = a.options.widthDivisor ?? 1;
  return {
    scheme: 'onnx',
    arch: a.arch,
    options: a.options,
    foldedBn: a.foldedBn,
    reason:
      `ONNX graph topology (${convs} Conv${a.foldedBn ? ', batch norm folded into them' : `, ${a.counts.BatchNormalization ?? 0} BatchNormalization`}) matches ${ARCH_TITLE[a.arch]}` +
      `${d > 1 ? ` (width / ${d})` : ''}, ${a.options.classes} classes${a.options.aux ? ', auxiliary head' : ''}${a.options.softmax ? ', softmax output' : ''}` +
      (a.notes.length ? `; ${a.notes.length} batch norms with another epsilon, absorbed into the variance` : ''),
  };
}

function bind(source: SourceModel, detection: Detection, options: BindOptions = {}): CanonicalModel {
  const a = analyseOnnx(source, { ...options, arch: detection.arch });
  const keepAux = Boolean(options.aux && a.options.aux);
  let graph = buildGraph(a.arch, { ...a.options, aux: keepAux });
  if (a.foldedBn) graph = foldedGraph(graph).graph;
  const problems = [...a.problems, ...a.missing.map((x) => `${x.param}: ${x.why}`)];
  const missingNames = new Set(a.missing.map((x) => x.param));
  let model: CanonicalModel;
  try {
    model = bindTable({
      scheme: 'onnx',
      source,
      graph,
      lookup: (spec) => (missingNames.has(spec.name) ? undefined : a.bindings.get(spec.name)),
      // The graph decides what is a weight: stored tensors it does not bind (residual scales,
      // reshape targets, an unused auxiliary head, dead initializers) are not errors.
      ignored: () => true,
      provenance: { ...(a.options.softmax ? { sourceOutputsProbabilities: true } : {}) },
    });
  } catch (e) {
    // shapes and missing weights (bind.ts), together with what only the graph shows
    if (e instanceof SchemeError && problems.length) throw new SchemeError('onnx', source.path, e.missing, e.extra, e.mismatched, problems.join('; '));
    throw e;
  }
  if (problems.length) throw new SchemeError('onnx', source.path, [], [], [], problems.join('; '));
  return model;
}

export const onnxScheme: Scheme = {
  name: 'onnx',
  description: 'ONNX graphs, bound by topology (any initializer names; BN kept or folded)',
  detect,
  bind,
};
