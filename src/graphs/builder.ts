/**
 * A small builder that the two network definitions share: it tracks shapes while nodes are added,
 * so that every conv knows its input channels and SAME padding becomes explicit pads.
 */
import type { Arch, BuildOptions, Graph, GraphNode, Pads, Pair } from './ir.js';
import { inferShapes } from './shapes.js';

/** TF's padding modes, as the network definitions state them. */
export type Padding = 'SAME' | 'VALID';

/** Batch-norm epsilon of every conv unit (TF-slim, Keras and timm all use 0.001). */
export const BN_EPSILON = 0.001;

/** Smallest input the stems and reductions accept (TF-slim's own minimum). */
export const MIN_INPUT_SIZE = 75;

export const DEFAULT_OPTIONS: Required<BuildOptions> = {
  classes: 1000,
  aux: false,
  widthDivisor: 1,
  inputSize: 299,
  softmax: false,
};

export function resolveOptions(opts: BuildOptions = {}): Required<BuildOptions> {
  const o = { ...DEFAULT_OPTIONS, ...opts };
  for (const [key, min] of [['classes', 1], ['widthDivisor', 1], ['inputSize', MIN_INPUT_SIZE]] as const) {
    const v = o[key];
    if (!Number.isInteger(v) || v < min) throw new RangeError(`${key} must be an integer >= ${min}, got ${v}`);
  }
  return o;
}

/** SAME occurs only with stride 1 and odd kernels in these networks, so pads are symmetric. */
function padsFor(kernel: Pair, stride: Pair, padding: Padding): Pads {
  if (padding === 'VALID') return [0, 0, 0, 0];
  if (stride[0] !== 1 || stride[1] !== 1 || kernel[0] % 2 === 0 || kernel[1] % 2 === 0)
    throw new Error(`SAME padding is only supported for stride 1 and odd kernels (got ${kernel}, stride ${stride})`);
  const ph = (kernel[0] - 1) / 2;
  const pw = (kernel[1] - 1) / 2;
  return [ph, pw, ph, pw];
}

const pair = (v: number | Pair): Pair => (typeof v === 'number' ? [v, v] : v);

export interface UnitOptions {
  readonly stride?: number;
  readonly padding?: Padding;
}

export function createBuilder(arch: Arch, options: Required<BuildOptions>) {
  const nodes: GraphNode[] = [];
  const channels = new Map<string, number>();
  const inputName = 'input';
  channels.set(inputName, 3);
  let block = '';

  const add = <N extends GraphNode>(node: N, outChannels: number): string => {
    if (channels.has(node.name)) throw new Error(`duplicate node name ${node.name}`);
    nodes.push(node);
    channels.set(node.name, outChannels);
    return node.name;
  };
  const channelsOf = (name: string): number => {
    const c = channels.get(name);
    if (c === undefined) throw new Error(`unknown node ${name}`);
    return c;
  };

  return {
    input: inputName,
    /** Channel count of the thin variant. */
    ch: (c: number): number => Math.ceil(c / options.widthDivisor),
    channelsOf,
    /** Sets the block that the following nodes belong to. */
    block(name: string): void {
      block = name;
    },
    /** conv (no bias) + batchnorm + ReLU, named as a TF-slim conv2d scope. Returns the ReLU. */
    convUnit(name: string, input: string, out: number, kernel: number | Pair, o: UnitOptions = {}): string {
      const k = pair(kernel);
      const s = pair(o.stride ?? 1);
      const conv = add(
        {
          op: 'conv2d',
          name,
          block,
          input,
          inChannels: channelsOf(input),
          outChannels: out,
          kernel: k,
          stride: s,
          pads: padsFor(k, s, o.padding ?? 'SAME'),
          bias: false,
        },
        out,
      );
      const bn = add({ op: 'batchnorm', name: `${name}/BatchNorm`, block, input: conv, channels: out, epsilon: BN_EPSILON }, out);
      return add({ op: 'relu', name: `${name}/Relu`, block, input: bn }, out);
    },
    /** A conv with bias and no batch norm or activation (the residual up-projections). */
    convBias(name: string, input: string, out: number, kernel: number): string {
      const k = pair(kernel);
      return add(
        {
          op: 'conv2d',
          name,
          block,
          input,
          inChannels: channelsOf(input),
          outChannels: out,
          kernel: k,
          stride: [1, 1],
          pads: padsFor(k, [1, 1], 'SAME'),
          bias: true,
        },
        out,
      );
    },
    maxPool(name: string, input: string, kernel: number, o: UnitOptions = {}): string {
      const k = pair(kernel);
      const s = pair(o.stride ?? 1);
      return add({ op: 'maxpool', name, block, input, kernel: k, stride: s, pads: padsFor(k, s, o.padding ?? 'SAME') }, channelsOf(input));
    },
    avgPool(name: string, input: string, kernel: number, o: UnitOptions = {}): string {
      const k = pair(kernel);
      const s = pair(o.stride ?? 1);
      return add(
        { op: 'avgpool', name, block, input, kernel: k, stride: s, pads: padsFor(k, s, o.padding ?? 'SAME'), countIncludePad: false },
        channelsOf(input),
      );
    },
    concat(name: string, inputs: readonly string[]): string {
      return add({ op: 'concat', name, block, inputs }, inputs.reduce((sum, i) => sum + channelsOf(i), 0));
    },
    residual(name: string, input: string, branch: string, scale: number, relu: boolean): string {
      if (channelsOf(input) !== channelsOf(branch)) throw new Error(`${name}: residual channel mismatch`);
      return add({ op: 'residual', name, block, input, branch, scale, relu }, channelsOf(input));
    },
    globalAvgPool(name: string, input: string): string {
      return add({ op: 'globalavgpool', name, block, input }, channelsOf(input));
    },
    flatten(name: string, input: string): string {
      return add({ op: 'flatten', name, block, input }, channelsOf(input));
    },
    dense(name: string, input: string, out: number): string {
      return add({ op: 'dense', name, block, input, inFeatures: channelsOf(input), outFeatures: out }, out);
    },
    softmax(name: string, input: string): string {
      return add({ op: 'softmax', name, block, input }, channelsOf(input));
    },
    /** Spatial size of a node's output, known while building (aux heads need it for their kernel). */
    spatialOf(name: string): number {
      const g = this.finish({ logits: name });
      const shape = inferShapes(g).get(name);
      if (!shape || shape.length !== 3) throw new Error(`${name} is not a feature map`);
      return shape[1];
    },
    /**
     * Ends the graph in the heads of both architectures, as TF-slim builds them: a global average
     * pool and the logits (then a softmax, if the options ask for one) on `x`, and, with the `aux`
     * option, the auxiliary head on `preAux`: a 5x5 average pool at stride 3, a 1x1 conv, a conv
     * as large as its map (1x1 out), the logits. The two TF-slim files name a few scopes apart.
     */
    finishWithHeads(x: string, preAux: string, names: { readonly pool: string; readonly auxConv: string; readonly auxLogits: string }): Graph {
      this.block(names.pool);
      const pooled = this.globalAvgPool(names.pool, x);
      this.block('Logits');
      let logits = this.dense('Logits/Logits', pooled, options.classes);
      if (options.softmax) {
        this.block('Predictions');
        logits = this.softmax('Predictions', logits);
      }
      if (!options.aux) return this.finish({ logits });
      this.block('AuxLogits');
      let a = this.avgPool('AuxLogits/AvgPool_1a_5x5', preAux, 5, { stride: 3, padding: 'VALID' });
      a = this.convUnit('AuxLogits/Conv2d_1b_1x1', a, this.ch(128), 1);
      a = this.convUnit(names.auxConv, a, this.ch(768), this.spatialOf(a), { padding: 'VALID' });
      a = this.flatten('AuxLogits/Flatten', a);
      return this.finish({ logits, aux: this.dense(names.auxLogits, a, options.classes) });
    },
    finish(outputs: Graph['outputs']): Graph {
      return {
        arch,
        options,
        input: { name: inputName, shape: [3, options.inputSize, options.inputSize] },
        nodes: [...nodes],
        outputs,
      };
    },
  };
}

export type Builder = ReturnType<typeof createBuilder>;
