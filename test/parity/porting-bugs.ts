/**
 * The classic porting bugs, each as a change to a canonical model (graph or weights), and the
 * block where a parity check must put the first divergence. Used by the first-diverging-layer
 * tests: the buggy model is written as one side, the correct one as the other.
 */
import { createModel, type CanonicalModel, type ParamSource } from '../../src/model.js';
import { withClasses } from '../../src/graphs/transforms.js';
import type { Arch, Graph, GraphNode } from '../../src/graphs/ir.js';

export interface PortingBug {
  readonly name: string;
  readonly arch: Arch;
  /** Classes of the correct model (1001 for the class-offset bug). */
  readonly classes?: number;
  /** The block that the first divergence must be reported at. */
  readonly block: string;
  /** The buggy model made from the correct one. */
  inject(model: CanonicalModel): CanonicalModel;
}

const sources = (model: CanonicalModel): Map<string, ParamSource> => new Map(model.params.map((p) => [p.name, () => p.read()]));

/** The model with some nodes replaced and some parameters recomputed. */
function edit(
  model: CanonicalModel,
  nodes: (n: GraphNode) => GraphNode,
  params: Record<string, (read: (name: string) => Promise<Float32Array>) => Promise<Float32Array>> = {},
): CanonicalModel {
  const graph: Graph = { ...model.graph, nodes: model.graph.nodes.map(nodes) };
  const values = sources(model);
  const byName = new Map(model.params.map((p) => [p.name, p]));
  const read = (name: string) => byName.get(name)!.read();
  for (const [name, f] of Object.entries(params)) {
    if (!byName.has(name)) throw new Error(`no parameter ${name}`);
    values.set(name, () => f(read));
  }
  return createModel(graph, values, model.provenance);
}

const nodeNamed = <T extends GraphNode['op']>(name: string, op: T, change: (n: Extract<GraphNode, { op: T }>) => GraphNode) => (n: GraphNode): GraphNode => {
  if (n.name !== name) return n;
  if (n.op !== op) throw new Error(`${name} is a ${n.op}, not a ${op}`);
  return change(n as Extract<GraphNode, { op: T }>);
};

export const PORTING_BUGS: readonly PortingBug[] = [
  {
    name: 'residual scale dropped (x + up instead of x + 0.17 up)',
    arch: 'inception_resnet_v2',
    block: 'Repeat/block35_4',
    inject: (m) => edit(m, nodeNamed('Repeat/block35_4', 'residual', (n) => ({ ...n, scale: 1 }))),
  },
  {
    name: 'average pooling counts the padding (count_include_pad = 1)',
    arch: 'inception_v4',
    block: 'Mixed_5c',
    inject: (m) => edit(m, nodeNamed('Mixed_5c/Branch_3/AvgPool_0a_3x3', 'avgpool', (n) => ({ ...n, countIncludePad: true }))),
  },
  {
    name: 'class offset: the last of 1001 classes dropped instead of the background',
    arch: 'inception_v4',
    classes: 1001,
    block: 'Logits',
    inject: (m) => {
      // The correct port drops row 0 (withClasses); the bug keeps rows 0..999.
      const right = withClasses(m, 1000);
      const from = new Map(m.params.map((p) => [p.name, p]));
      return edit(right, (n) => n, {
        'Logits/Logits/weights': async () => {
          const w = from.get('Logits/Logits/weights')!;
          return (await w.read()).slice(0, 1000 * w.shape[1]);
        },
        'Logits/Logits/biases': async () => (await from.get('Logits/Logits/biases')!.read()).slice(0, 1000),
      });
    },
  },
  {
    name: 'kernel transposed the wrong way (a 1x7 stored as 7x1)',
    arch: 'inception_v4',
    block: 'Mixed_6b',
    inject: (m) =>
      edit(
        m,
        nodeNamed('Mixed_6b/Branch_1/Conv2d_0b_1x7', 'conv2d', (n) => ({ ...n, kernel: [n.kernel[1], n.kernel[0]], pads: [n.pads[1], n.pads[0], n.pads[3], n.pads[2]] })),
      ),
  },
  {
    name: 'batch norm mean and variance swapped',
    arch: 'inception_resnet_v2',
    block: 'Mixed_6a',
    inject: (m) => {
      const bn = 'Mixed_6a/Branch_1/Conv2d_0b_3x3/BatchNorm';
      return edit(m, (n) => n, {
        [`${bn}/moving_mean`]: (read) => read(`${bn}/moving_variance`),
        [`${bn}/moving_variance`]: (read) => read(`${bn}/moving_mean`),
      });
    },
  },
  {
    name: 'one output-channel pair swapped in one conv',
    arch: 'inception_resnet_v2',
    block: 'Repeat_1/block17_5',
    inject: (m) => {
      const w = 'Repeat_1/block17_5/Branch_1/Conv2d_0b_1x7/weights';
      return edit(m, (n) => n, {
        [w]: async (read) => {
          const data = (await read(w)).slice();
          const per = data.length / m.params.find((p) => p.name === w)!.shape[0];
          for (let i = 0; i < per; i++) [data[i], data[per + i]] = [data[per + i], data[i]];
          return data;
        },
      });
    },
  },
];
