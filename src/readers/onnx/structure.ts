/**
 * What the ONNX reader exposes as `SourceModel.structure`: the main graph as plain data (nodes with
 * op type, inputs, outputs and attributes), for schemes that bind by topology (graphs/schemes/onnx.ts).
 * No protobuf objects leak out: attribute values are numbers, strings and arrays.
 */

/** An attribute value, as plain data. */
export type OnnxAttribute =
  | number
  | string
  | readonly number[]
  | readonly string[]
  /** A tensor attribute (Constant's `value`): the name of the stored tensor that holds it. */
  | { readonly tensor: string }
  /** Kinds we do not decode (graphs, sparse tensors, type protos), by ONNX type name. */
  | { readonly unsupported: string };

export interface OnnxNode {
  readonly name: string;
  readonly opType: string;
  /** Operator set domain; '' (or 'ai.onnx') is the default one. */
  readonly domain: string;
  /** Value names; '' marks an omitted optional input. */
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attributes: Readonly<Record<string, OnnxAttribute>>;
}

export interface OnnxValueInfo {
  readonly name: string;
  /** Dimensions: numbers, or the symbolic name (`batch`), or null when unknown. */
  readonly shape?: readonly (number | string | null)[];
  /** TensorProto.DataType of the element type (1 = float). */
  readonly elemType?: number;
}

export interface OnnxStructure {
  readonly kind: 'onnx';
  /** Opset of the default domain. */
  readonly opset: number;
  /** Graph inputs that are not initializers (the model's real inputs). */
  readonly inputs: readonly OnnxValueInfo[];
  readonly outputs: readonly OnnxValueInfo[];
  /** In file order (which ONNX requires to be topological). */
  readonly nodes: readonly OnnxNode[];
  /** Names of the initializers, in file order. */
  readonly initializers: readonly string[];
  /**
   * The values of small tensors stored inside the model (initializers and Constant outputs of at
   * most SMALL_TENSOR_ELEMENTS elements), as numbers: residual scales, reshape targets. Schemes need
   * them while binding, which reads no weights.
   */
  readonly values: Readonly<Record<string, readonly number[]>>;
}

/** Tensors up to this many elements have their values in `OnnxStructure.values`. */
export const SMALL_TENSOR_ELEMENTS = 16;

export const isOnnxStructure = (s: unknown): s is OnnxStructure =>
  typeof s === 'object' && s !== null && (s as { kind?: unknown }).kind === 'onnx';
