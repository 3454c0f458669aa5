/** Model-level transforms that several readers and writers share. */
import type { BatchNormNode, Conv2dNode, Graph, GraphNode } from './ir.js';
import { UsageError } from '../errors.js';
import { createModel, type CanonicalModel, type CanonicalParam, type ParamSource } from '../model.js';
import { giveBack } from '../io/pool.js';

/** Bias given to an added background class: it never wins and takes no probability. */
export const ADDED_BACKGROUND_BIAS = -1e4;

const withOptions = (graph: Graph, options: Partial<Graph['options']>, nodes = graph.nodes): Graph => ({
  ...graph,
  options: { ...graph.options, ...options },
  nodes,
});

const paramMap = (model: CanonicalModel): Map<string, CanonicalParam> => new Map(model.params.map((p) => [p.name, p]));

/** A param's values passed on unchanged: a fresh source stays fresh, so that its writer still gives the memory back. */
const sameAs = (p: CanonicalParam): ParamSource => (p.freshReads ? { fresh: () => p.read() } : () => p.read());

/** Once values read from `p` have been computed into a new array: a fresh read is ours alone, its memory goes back to io/pool. */
const doneWith = (p: CanonicalParam, data: Float32Array): void => {
  if (p.freshReads) giveBack(data);
};

/**
 * Converts between 1001 classes (index 0 is TF-slim's "background") and 1000: dropping removes
 * row 0 of every dense layer's weights and bias; adding inserts a row of zeros with bias
 * ADDED_BACKGROUND_BIAS. Only 1000 <-> 1001 is meaningful; other counts throw.
 */
export function withClasses(model: CanonicalModel, classes: number): CanonicalModel {
  const from = model.graph.options.classes;
  if (classes === from) return model;
  if (!((from === 1001 && classes === 1000) || (from === 1000 && classes === 1001)))
    throw new RangeError(`cannot convert ${from} classes to ${classes}: only 1000 <-> 1001 (background class) is defined`);
  const nodes = model.graph.nodes.map((n): GraphNode => (n.op === 'dense' ? { ...n, outFeatures: classes } : n));
  const graph = withOptions(model.graph, { classes }, nodes);
  const values = new Map<string, ParamSource>();
  for (const p of model.params) {
    if (p.role !== 'dense.weights' && p.role !== 'dense.biases') {
      values.set(p.name, sameAs(p));
      continue;
    }
    const rowSize = p.role === 'dense.weights' ? p.shape[1] : 1;
    values.set(p.name, {
      fresh: async () => {
        const data = await p.read();
        let out: Float32Array;
        if (classes < from) out = data.slice(rowSize);
        else {
          out = new Float32Array(data.length + rowSize);
          out.set(data, rowSize);
          if (p.role === 'dense.biases') out[0] = ADDED_BACKGROUND_BIAS;
        }
        doneWith(p, data);
        return out;
      },
    });
  }
  return createModel(graph, values, model.provenance);
}

/** Ends the model in a softmax (or removes it). */
export function withSoftmax(model: CanonicalModel, softmax: boolean): CanonicalModel {
  const g = model.graph;
  if (g.options.softmax === softmax) return model;
  let nodes: readonly GraphNode[];
  let logits: string;
  if (softmax) {
    const sm: GraphNode = { op: 'softmax', name: 'Predictions', block: 'Predictions', input: g.outputs.logits };
    const at = g.nodes.findIndex((n) => n.name === g.outputs.logits) + 1;
    nodes = [...g.nodes.slice(0, at), sm, ...g.nodes.slice(at)];
    logits = sm.name;
  } else {
    const sm = g.nodes.find((n) => n.name === g.outputs.logits);
    if (sm?.op !== 'softmax') throw new Error('graph output is not a softmax');
    nodes = g.nodes.filter((n) => n !== sm);
    logits = sm.input;
  }
  const graph = { ...withOptions(g, { softmax }, nodes), outputs: { ...g.outputs, logits } };
  return createModel(graph, new Map(model.params.map((p) => [p.name, sameAs(p)])), model.provenance);
}

/** The graph of a model with batch norm folded: no batchnorm nodes, every conv biased. */
export function foldedGraph(g: Graph): { graph: Graph; folded: Map<string, BatchNormNode> } {
  const byName = new Map(g.nodes.map((n) => [n.name, n]));
  const folded = new Map<string, BatchNormNode>(); // conv name -> its BN
  const rename = new Map<string, string>(); // BN name -> conv name
  for (const n of g.nodes) {
    if (n.op !== 'batchnorm') continue;
    const conv = byName.get(n.input);
    if (conv?.op !== 'conv2d') throw new Error(`${n.name} does not follow a conv`);
    folded.set(conv.name, n);
    rename.set(n.name, conv.name);
  }
  const r = (name: string) => rename.get(name) ?? name;
  const nodes: GraphNode[] = [];
  for (const n of g.nodes) {
    if (n.op === 'batchnorm') continue;
    if (n.op === 'conv2d') nodes.push(folded.has(n.name) ? { ...n, bias: true } : n);
    else if (n.op === 'concat') nodes.push({ ...n, inputs: n.inputs.map(r) });
    else if (n.op === 'residual') nodes.push({ ...n, input: r(n.input), branch: r(n.branch) });
    else nodes.push({ ...n, input: r(n.input) } as GraphNode);
  }
  const outputs = { logits: r(g.outputs.logits), ...(g.outputs.aux ? { aux: r(g.outputs.aux) } : {}) };
  return { graph: { ...g, nodes, outputs }, folded };
}

/**
 * Folds every batch norm into the conv before it: w' = w·γ/√(σ²+ε) per output channel,
 * b' = β + (b − μ)·γ/√(σ²+ε). The graph loses its batchnorm nodes and the convs gain biases.
 */
export function foldBatchNorm(model: CanonicalModel): CanonicalModel {
  const { graph, folded } = foldedGraph(model.graph);
  const hadBias = new Set(model.graph.nodes.filter((n): n is Conv2dNode => n.op === 'conv2d' && n.bias).map((n) => n.name));
  const old = paramMap(model);
  const param = (name: string) => old.get(name)!;
  const values = new Map<string, ParamSource>();
  for (const [conv, bn] of folded) {
    const [weights, gamma, variance, beta, mean] = [`${conv}/weights`, ...['gamma', 'moving_variance', 'beta', 'moving_mean'].map((v) => `${bn.name}/${v}`)].map(param);
    const bias = hadBias.has(conv) ? param(`${conv}/biases`) : undefined;
    // Needed by both the weights and the bias: read gamma and variance once.
    let scaleOnce: Promise<Float32Array> | undefined;
    const scale = () =>
      (scaleOnce ??= Promise.all([gamma.read(), variance.read()]).then(([g, v]) => {
        const s = g.map((x, c) => x / Math.sqrt(v[c] + bn.epsilon));
        doneWith(gamma, g);
        doneWith(variance, v);
        return s;
      }));
    values.set(weights.name, {
      fresh: async () => {
        const [w, s] = await Promise.all([weights.read(), scale()]);
        // a fresh read is scaled where it lies (the same float32 rounding as into a new array)
        const out = weights.freshReads ? w : new Float32Array(w.length);
        const per = w.length / s.length;
        for (let c = 0, i = 0; c < s.length; c++) for (const end = i + per; i < end; i++) out[i] = w[i] * s[c];
        return out;
      },
    });
    values.set(`${conv}/biases`, {
      fresh: async () => {
        const [be, m, s] = await Promise.all([beta.read(), mean.read(), scale()]);
        const b = bias ? await bias.read() : new Float32Array(s.length);
        const out = be.map((v, c) => v + (b[c] - m[c]) * s[c]);
        doneWith(beta, be);
        doneWith(mean, m);
        if (bias) doneWith(bias, b);
        return out;
      },
    });
  }
  for (const p of model.params) if (!p.role.startsWith('bn.') && !values.has(p.name)) values.set(p.name, sameAs(p));
  return createModel(graph, values, model.provenance);
}

/**
 * For namings that store no batch-norm gamma (Keras' `scale=False`): folds γ into the moving
 * variance, σ'² = (σ² + ε)/γ² − ε, which normalises identically, so that γ = 1 can be dropped.
 * Channels whose γ is exactly 1 are left untouched (bit for bit). Throws a UsageError when a γ is
 * not positive or σ'² would be negative: such a model cannot be stored without gamma.
 */
export function withUnitGamma(model: CanonicalModel, namingName: string): CanonicalModel {
  const old = paramMap(model);
  const values = new Map<string, ParamSource>();
  for (const p of model.params) values.set(p.name, sameAs(p));
  for (const n of model.graph.nodes) {
    if (n.op !== 'batchnorm') continue;
    const gammaName = `${n.name}/gamma`;
    const gammaParam = old.get(gammaName)!;
    const varParam = old.get(`${n.name}/moving_variance`)!;
    values.set(gammaName, { fresh: async () => new Float32Array(n.channels).fill(1) });
    values.set(varParam.name, {
      fresh: async () => {
        const [gamma, variance] = await Promise.all([gammaParam.read(), varParam.read()]);
        // a fresh read is changed where it lies
        const out = varParam.freshReads ? variance : Float32Array.from(variance);
        for (let c = 0; c < out.length; c++) {
          const g = gamma[c];
          if (g === 1) continue;
          const v = (variance[c] + n.epsilon) / (g * g) - n.epsilon;
          if (!(g > 0) || !(v >= 0))
            throw new UsageError(`the ${namingName} naming stores no batch-norm gamma, and ${gammaName}[${c}] = ${g} cannot be folded into the variance: choose another naming`);
          out[c] = v;
        }
        doneWith(gammaParam, gamma);
        return out;
      },
    });
  }
  return createModel(model.graph, values, model.provenance);
}
