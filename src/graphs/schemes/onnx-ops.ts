/**
 * An ONNX graph read as the few operations the canonical graph is made of (graphs/ir.ts), before
 * matching (onnx.ts). Exporters spell the same computation differently, so each form is reduced
 * to one:
 * - Identity, Dropout (inference), Cast to a float type: the value passes through (PyTorch's
 *   exporter aliases equal initializers with Identity; our float16 files Cast weights to float32).
 * - Flatten, Reshape to 2-D, Squeeze: `flatten` (dense layers check the feature count).
 * - GlobalAveragePool, ReduceMean over H and W: `gap`.
 * - Gemm (transB 0 or 1), MatMul with a stored [in, out] matrix, then optionally Add of a stored
 *   bias: `dense`.
 * - Add and Sum of two computed values: `add`; Mul by a stored one-element constant: `mul`
 *   (Inception-ResNet-v2's residual scale; timm writes `out * scale + x`).
 * Operator semantics: https://onnx.ai/onnx/operators/ (defaults as stated there).
 */
import type { OnnxAttribute, OnnxNode, OnnxStructure } from '../../readers/onnx/structure.js';
import type { Pads, Pair } from '../ir.js';

/** What a value of the ONNX graph is: computed by an op, a stored tensor, or the model's input. */
export type ValueRef =
  | { readonly kind: 'op'; readonly op: Op }
  | { readonly kind: 'tensor'; readonly name: string }
  | { readonly kind: 'input'; readonly name: string }
  /** Fed by the caller but not the model's image input (a weight without initializer). */
  | { readonly kind: 'fed'; readonly name: string };

interface OpBase {
  readonly id: number;
  /** The ONNX node it came from (the last one, for multi-node forms). */
  readonly node: OnnxNode;
}

export interface ConvOp extends OpBase {
  readonly kind: 'conv';
  readonly input: ValueRef;
  readonly weight: ValueRef;
  readonly bias?: ValueRef;
  readonly kernel?: Pair;
  readonly stride: Pair;
  /** undefined when auto_pad cannot be made explicit without shapes (SAME with stride > 1). */
  readonly pads?: Pads;
  /** Why it cannot be an Inception conv (groups, dilations), if so. */
  readonly unsupported?: string;
}

export interface BnOp extends OpBase {
  readonly kind: 'bn';
  readonly input: ValueRef;
  /** scale (gamma), B (beta), input_mean, input_var. */
  readonly params: readonly [ValueRef, ValueRef, ValueRef, ValueRef];
  readonly epsilon: number;
  readonly unsupported?: string;
}

export interface PoolOp extends OpBase {
  readonly kind: 'maxpool' | 'avgpool';
  readonly input: ValueRef;
  readonly kernel: Pair;
  readonly stride: Pair;
  readonly pads?: Pads;
  readonly countIncludePad: boolean;
  readonly unsupported?: string;
}

export interface DenseOp extends OpBase {
  readonly kind: 'dense';
  readonly input: ValueRef;
  readonly weight: ValueRef;
  /** The weight is stored [in, out] (Gemm transB = 0, MatMul), not [out, in]. */
  readonly weightInOut: boolean;
  readonly bias?: ValueRef;
  readonly unsupported?: string;
}

export interface SimpleOp extends OpBase {
  readonly kind: 'relu' | 'gap' | 'flatten' | 'softmax';
  readonly input: ValueRef;
  readonly unsupported?: string;
}

export interface ConcatOp extends OpBase {
  readonly kind: 'concat';
  readonly inputs: readonly ValueRef[];
  readonly unsupported?: string;
}

export interface AddOp extends OpBase {
  readonly kind: 'add';
  readonly inputs: readonly [ValueRef, ValueRef];
}

export interface MulOp extends OpBase {
  readonly kind: 'mul';
  readonly input: ValueRef;
  /** The constant factor, when it is a stored one-element tensor whose value is known. */
  readonly scale?: number;
  /** The constant's tensor name. */
  readonly scaleTensor?: string;
  readonly unsupported?: string;
}

/** An op that no Inception graph contains (or that we cannot read as one). */
export interface OtherOp extends OpBase {
  readonly kind: 'other';
  readonly inputs: readonly ValueRef[];
  readonly unsupported: string;
}

export type Op = ConvOp | BnOp | PoolOp | DenseOp | SimpleOp | ConcatOp | AddOp | MulOp | OtherOp;

export interface OpGraph {
  /** The model's image input. */
  readonly input?: string;
  readonly values: ReadonlyMap<string, ValueRef>;
  readonly ops: readonly Op[];
  /** Graph outputs, resolved. */
  readonly outputs: readonly { readonly name: string; readonly ref: ValueRef }[];
}

const DEFAULT_DOMAINS = new Set(['', 'ai.onnx']);
/** TensorProto.DataType values of float types (FLOAT, FLOAT16, DOUBLE, BFLOAT16). */
const FLOAT_TYPES = new Set([1, 10, 11, 16]);

const num = (a: OnnxAttribute | undefined, dflt: number): number => (typeof a === 'number' ? a : dflt);
const nums = (a: OnnxAttribute | undefined): readonly number[] | undefined =>
  Array.isArray(a) && a.every((x) => typeof x === 'number') ? (a as readonly number[]) : undefined;
const str = (a: OnnxAttribute | undefined, dflt: string): string => (typeof a === 'string' ? a : dflt);

function pair(a: OnnxAttribute | undefined, dflt: number): Pair | undefined {
  const v = nums(a);
  if (v === undefined) return [dflt, dflt];
  return v.length === 2 ? [v[0], v[1]] : undefined;
}

/**
 * Explicit pads for a 2-D window, or undefined when they depend on the input size (auto_pad SAME
 * with a stride above 1: then the split of an odd total is only known with shapes).
 */
function padsOf(attrs: Readonly<Record<string, OnnxAttribute>>, kernel: Pair, stride: Pair): Pads | undefined {
  const auto = str(attrs.auto_pad, 'NOTSET');
  if (auto === 'VALID') return [0, 0, 0, 0];
  if (auto === 'SAME_UPPER' || auto === 'SAME_LOWER') {
    if (stride[0] !== 1 || stride[1] !== 1) return undefined;
    const [th, tw] = [kernel[0] - 1, kernel[1] - 1];
    const small = (t: number) => (auto === 'SAME_UPPER' ? Math.floor(t / 2) : Math.ceil(t / 2));
    return [small(th), small(tw), th - small(th), tw - small(tw)];
  }
  const p = nums(attrs.pads);
  if (p === undefined) return [0, 0, 0, 0];
  return p.length === 4 ? [p[0], p[1], p[2], p[3]] : undefined;
}

/**
 * Reads the structure as ops; never throws (problems are recorded on the ops, for the matcher to
 * report). `shapeOf` gives a stored tensor's shape (a Conv may leave kernel_shape to its weights).
 */
export function buildOpGraph(s: OnnxStructure, shapeOf: (tensor: string) => readonly number[] | undefined = () => undefined): OpGraph {
  const values = new Map<string, ValueRef>();
  for (const t of s.initializers) values.set(t, { kind: 'tensor', name: t });
  const image = s.inputs.find((i) => i.elemType === undefined || FLOAT_TYPES.has(i.elemType));
  for (const i of s.inputs) values.set(i.name, i === image ? { kind: 'input', name: i.name } : { kind: 'fed', name: i.name });
  const ops: Op[] = [];
  const ref = (name: string): ValueRef => values.get(name) ?? { kind: 'fed', name };
  const isStored = (r: ValueRef | undefined): r is { kind: 'tensor'; name: string } => r?.kind === 'tensor';
  const scalarOf = (r: ValueRef): number | undefined => {
    if (!isStored(r)) return undefined;
    const v = s.values[r.name];
    return v && v.length === 1 ? v[0] : undefined;
  };
  let id = 0;
  const push = <T extends Op>(op: T): ValueRef => {
    ops.push(op);
    return { kind: 'op', op };
  };

  for (const node of s.nodes) {
    const a = node.attributes;
    const ins = node.inputs.map((n) => (n ? ref(n) : undefined));
    const in0 = ins[0] ?? { kind: 'fed' as const, name: '' };
    const out = node.outputs[0];
    const set = (r: ValueRef) => {
      if (out) values.set(out, r);
    };
    const other = (why: string) =>
      set(push({ kind: 'other', id: id++, node, inputs: ins.filter((x): x is ValueRef => x !== undefined), unsupported: why }));
    if (!DEFAULT_DOMAINS.has(node.domain)) {
      other(`operator ${node.domain}.${node.opType} is not part of these networks`);
      continue;
    }
    switch (node.opType) {
      case 'Constant':
        if (out) values.set(out, { kind: 'tensor', name: out });
        break;
      case 'Identity':
      case 'Dropout':
        set(in0);
        break;
      case 'Cast':
        if (FLOAT_TYPES.has(num(a.to, 0))) set(in0);
        else other(`Cast to data type ${num(a.to, 0)}`);
        break;
      case 'Conv': {
        const w = ins[1] ?? { kind: 'fed' as const, name: '' };
        const wShape = isStored(w) ? shapeOf(w.name) : undefined;
        const kernel = a.kernel_shape !== undefined ? pair(a.kernel_shape, NaN) : wShape?.length === 4 ? ([wShape[2], wShape[3]] as const) : undefined;
        const stride = pair(a.strides, 1) ?? [NaN, NaN];
        const dil = nums(a.dilations);
        const unsupported =
          num(a.group, 1) !== 1
            ? `grouped convolution (group ${num(a.group, 1)})`
            : dil && dil.some((d) => d !== 1)
              ? `dilated convolution [${dil}]`
              : kernel === undefined
                ? 'a convolution whose kernel size is unknown'
                : undefined;
        set(
          push({
            kind: 'conv',
            id: id++,
            node,
            input: in0,
            weight: w,
            ...(ins[2] ? { bias: ins[2] } : {}),
            ...(kernel ? { kernel, pads: padsOf(a, kernel, stride) } : {}),
            stride,
            ...(unsupported ? { unsupported } : {}),
          }),
        );
        break;
      }
      case 'BatchNormalization': {
        const p = [1, 2, 3, 4].map((i) => ins[i] ?? { kind: 'fed' as const, name: '' }) as unknown as [ValueRef, ValueRef, ValueRef, ValueRef];
        const unsupported = num(a.training_mode, 0) !== 0 ? 'batch norm in training mode' : node.outputs.length > 1 && node.outputs.slice(1).some(Boolean) ? 'batch norm with running-statistics outputs (training)' : undefined;
        set(push({ kind: 'bn', id: id++, node, input: in0, params: p, epsilon: num(a.epsilon, 1e-5), ...(unsupported ? { unsupported } : {}) }));
        break;
      }
      case 'Relu':
        set(push({ kind: 'relu', id: id++, node, input: in0 }));
        break;
      case 'MaxPool':
      case 'AveragePool': {
        const kernel = pair(a.kernel_shape, NaN) ?? [NaN, NaN];
        const stride = pair(a.strides, 1) ?? [NaN, NaN];
        const dil = nums(a.dilations);
        const unsupported =
          num(a.ceil_mode, 0) !== 0
            ? 'ceil_mode 1'
            : dil && dil.some((d) => d !== 1)
              ? `dilations [${dil}]`
              : node.outputs.length > 1 && node.outputs[1]
                ? 'MaxPool with an Indices output'
                : num(a.storage_order, 0) !== 0
                  ? 'storage_order 1'
                  : undefined;
        set(
          push({
            kind: node.opType === 'MaxPool' ? 'maxpool' : 'avgpool',
            id: id++,
            node,
            input: in0,
            kernel,
            stride,
            pads: padsOf(a, kernel, stride),
            countIncludePad: num(a.count_include_pad, 0) !== 0,
            ...(unsupported ? { unsupported } : {}),
          }),
        );
        break;
      }
      case 'GlobalAveragePool':
        set(push({ kind: 'gap', id: id++, node, input: in0 }));
        break;
      case 'ReduceMean': {
        // Axes: an attribute up to opset 17, the second input from 18.
        const axes = nums(a.axes) ?? (ins[1] && isStored(ins[1]) ? s.values[ins[1].name] : undefined);
        const spatial = axes !== undefined && axes.length === 2 && [...axes].map((x) => (x < 0 ? x + 4 : x)).sort().join() === '2,3';
        if (spatial) set(push({ kind: 'gap', id: id++, node, input: in0 }));
        else other(`ReduceMean over axes [${axes ?? 'all'}] (a global average pool reduces axes 2 and 3)`);
        break;
      }
      case 'Flatten':
        set(push({ kind: 'flatten', id: id++, node, input: in0, ...(num(a.axis, 1) !== 1 ? { unsupported: `Flatten on axis ${num(a.axis, 1)}` } : {}) }));
        break;
      case 'Squeeze':
        set(push({ kind: 'flatten', id: id++, node, input: in0 }));
        break;
      case 'Reshape': {
        const shape = ins[1] && isStored(ins[1]) ? s.values[ins[1].name] : undefined;
        set(push({ kind: 'flatten', id: id++, node, input: in0, ...(shape?.length === 2 ? {} : { unsupported: `Reshape to [${shape ?? '?'}] (not a flatten to 2-D)` }) }));
        break;
      }
      case 'Concat': {
        const axis = num(a.axis, NaN);
        set(
          push({
            kind: 'concat',
            id: id++,
            node,
            inputs: ins.map((x) => x ?? { kind: 'fed' as const, name: '' }),
            ...(axis === 1 || axis === -3 ? {} : { unsupported: `Concat on axis ${axis} (channels are axis 1)` }),
          }),
        );
        break;
      }
      case 'Gemm': {
        const unsupported =
          num(a.transA, 0) !== 0 ? 'Gemm with transA' : num(a.alpha, 1) !== 1 || num(a.beta, 1) !== 1 ? `Gemm with alpha ${num(a.alpha, 1)}, beta ${num(a.beta, 1)}` : undefined;
        set(
          push({
            kind: 'dense',
            id: id++,
            node,
            input: in0,
            weight: ins[1] ?? { kind: 'fed', name: '' },
            weightInOut: num(a.transB, 0) === 0,
            ...(ins[2] ? { bias: ins[2] } : {}),
            ...(unsupported ? { unsupported } : {}),
          }),
        );
        break;
      }
      case 'MatMul':
        set(push({ kind: 'dense', id: id++, node, input: in0, weight: ins[1] ?? { kind: 'fed', name: '' }, weightInOut: true }));
        break;
      case 'Add':
      case 'Sum': {
        const [x, y] = [ins[0], ins[1]];
        if (ins.length !== 2 || !x || !y) {
          other(`${node.opType} of ${ins.length} inputs`);
          break;
        }
        const stored = isStored(x) ? x : isStored(y) ? y : undefined;
        const other_ = stored === x ? y : x;
        if (stored && !isStored(other_)) {
          // A bias added to a MatMul: the dense layer's bias.
          if (other_.kind === 'op' && other_.op.kind === 'dense' && !other_.op.bias) {
            set(push({ ...other_.op, id: id++, node, bias: stored }));
            break;
          }
          other(`${node.opType} of a stored tensor '${stored.name}'`);
          break;
        }
        set(push({ kind: 'add', id: id++, node, inputs: [x, y] }));
        break;
      }
      case 'Mul': {
        const [x, y] = [ins[0], ins[1]];
        const c = x && isStored(x) ? x : y && isStored(y) ? y : undefined;
        const v = c === x ? y : x;
        if (!c || !v || ins.length !== 2) {
          other('Mul of two computed values');
          break;
        }
        const scale = scalarOf(c);
        set(
          push({
            kind: 'mul',
            id: id++,
            node,
            input: v,
            scaleTensor: c.name,
            ...(scale !== undefined ? { scale } : { unsupported: `Mul by '${c.name}', which is not a one-element constant` }),
          }),
        );
        break;
      }
      case 'Softmax': {
        const axis = num(a.axis, s.opset >= 13 ? -1 : 1);
        set(push({ kind: 'softmax', id: id++, node, input: in0, ...(axis === 1 || axis === -1 ? {} : { unsupported: `Softmax on axis ${axis}` }) }));
        break;
      }
      default:
        other(`operator ${node.opType} is not part of these networks`);
    }
  }
  return {
    ...(image ? { input: image.name } : {}),
    values,
    ops,
    outputs: s.outputs.map((o) => ({ name: o.name, ref: ref(o.name) })),
  };
}

/** A short description of a value for messages: `Conv '/features.0/conv/Conv'`. */
export function describeRef(r: ValueRef): string {
  switch (r.kind) {
    case 'op':
      return `${r.op.node.opType} '${r.op.node.name}'`;
    case 'tensor':
      return `stored tensor '${r.name}'`;
    case 'input':
      return `the input '${r.name}'`;
    case 'fed':
      return r.name ? `graph input '${r.name}'` : 'a missing input';
  }
}
