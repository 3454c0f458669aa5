/** Model-level transforms that several readers and writers share. */
import type { BatchNormNode, Conv2dNode, Graph, GraphNode } from './ir.js';
import { UsageError } from '../errors.js';
import { createModel, type CanonicalModel, type CanonicalParam, type ParamSource } from '../model.js';

/** Bias given to an added background class: it never wins and takes no probability. */
export const ADDED_BACKGROUND_BIAS = -1e4;

const withOptions = (graph: Graph, options: Partial<Graph['options']>, nodes = graph.nodes): Graph => ({
  ...graph,
  options: { ...graph.options, ...options },
  nodes,
});

const paramMap = (model: CanonicalModel): Map<string, CanonicalParam> => new Map(model.params.map((p) => [p.name, p]));

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
  const old = paramMap(model);
  const values = new Map<string, ParamSource>();
  for (const p of model.params) {
    if (p.role !== 'dense.weights' && p.role !== 'dense.biases') {
      values.set(p.name, () => p.read());
      continue;
    }
    const rowSize = p.role === 'dense.weights' ? p.shape[1] : 1;
    values.set(p.name, async () => {
      const data = await old.get(p.name)!.read();
      if (classes < from) return data.slice(rowSize);
      const out = new Float32Array(data.length + rowSize);
      out.set(data, rowSize);
      if (p.role === 'dense.biases') out[0] = ADDED_BACKGROUND_BIAS;
      return out;
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
  return createModel(graph, new Map(model.params.map((p) => [p.name, () => p.read()])), model.provenance);
}

/**
 * Folds every batch norm into the conv before it: w' = w·γ/√(σ²+ε) per output channel,
 * b' = β + (b − μ)·γ/√(σ²+ε). The graph loses its batchnorm nodes and the convs gain biases.
 */
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
  const read = (name: string) => old.get(name)!.read();
  const values = new Map<string, ParamSource>();
  for (const [conv, bn] of folded) {
    // Needed by both the weights and the bias: read gamma and variance once.
    let scaleOnce: Promise<Float32Array> | undefined;
    const scale = () =>
      (scaleOnce ??= Promise.all([read(`${bn.name}/gamma`), read(`${bn.name}/moving_variance`)]).then(([gamma, variance]) =>
        gamma.map((v, c) => v / Math.sqrt(variance[c] + bn.epsilon)),
      ));
    values.set(`${conv}/weights`, async () => {
      const [w, s] = await Promise.all([read(`${conv}/weights`), scale()]);
      const per = w.length / s.length;
      return w.map((v, i) => v * s[Math.floor(i / per)]);
    });
    values.set(`${conv}/biases`, async () => {
      const [beta, mean, s] = await Promise.all([read(`${bn.name}/beta`), read(`${bn.name}/moving_mean`), scale()]);
      const b = hadBias.has(conv) ? await read(`${conv}/biases`) : new Float32Array(s.length);
      return beta.map((v, c) => v + (b[c] - mean[c]) * s[c]);
    });
  }
  for (const p of model.params) if (!p.role.startsWith('bn.') && !values.has(p.name)) values.set(p.name, () => p.read());
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
  for (const p of model.params) values.set(p.name, () => p.read());
  for (const n of model.graph.nodes) {
    if (n.op !== 'batchnorm') continue;
    const gammaName = `${n.name}/gamma`;
    const varName = `${n.name}/moving_variance`;
    values.set(gammaName, async () => new Float32Array(n.channels).fill(1));
    values.set(varName, async () => {
      const [gamma, variance] = await Promise.all([old.get(gammaName)!.read(), old.get(varName)!.read()]);
      const out = Float32Array.from(variance);
      for (let c = 0; c < out.length; c++) {
        const g = gamma[c];
        if (g === 1) continue;
        const v = (variance[c] + n.epsilon) / (g * g) - n.epsilon;
        if (!(g > 0) || !(v >= 0))
          throw new UsageError(`the ${namingName} naming stores no batch-norm gamma, and ${gammaName}[${c}] = ${g} cannot be folded into the variance: choose another naming`);
        out[c] = v;
      }
      return out;
    });
  }
  return createModel(model.graph, values, model.provenance);
}
