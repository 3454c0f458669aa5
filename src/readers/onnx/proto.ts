/**
 * The ONNX protobuf schema (onnx-proto: the generated protobufjs 6 code for onnx.proto, IR 8),
 * loaded on first use so that importing the reader registry costs nothing.
 */
import type { onnx } from 'onnx-proto';

export type OnnxNamespace = typeof onnx;
export type { onnx };

let loading: Promise<OnnxNamespace> | undefined;

export function loadOnnxProto(): Promise<OnnxNamespace> {
  loading ??= import('onnx-proto').then((m) => {
    const mod = m as unknown as { onnx?: OnnxNamespace; default?: { onnx: OnnxNamespace } };
    return mod.onnx ?? mod.default!.onnx;
  });
  return loading;
}

/** protobufjs decodes int64 fields to `Long` objects (long.js), or to numbers without it. */
export type Int64 = number | { toNumber(): number };

/** An int64 as a JS number, or undefined when it is not a safe integer. */
export function int64ToNumber(v: Int64 | null | undefined): number | undefined {
  if (v === null || v === undefined) return 0;
  if (typeof v === 'number') return Number.isSafeInteger(v) ? v : undefined;
  const n = v.toNumber(); // exact within 2^53, which is all we accept
  return Number.isSafeInteger(n) ? n : undefined;
}

/** TensorProto.DataType (onnx/onnx.proto) -> our dtype names; undefined for the ones we do not read. */
export const ONNX_DTYPES: Readonly<Record<number, import('../../tensor.js').DType | undefined>> = {
  1: 'float32',
  2: 'uint8',
  3: 'int8',
  4: 'uint16',
  5: 'int16',
  6: 'int32',
  7: 'int64',
  9: 'bool',
  10: 'float16',
  11: 'float64',
  16: 'bfloat16',
};

/** Names of TensorProto.DataType values, for error messages. */
export const ONNX_DTYPE_NAMES: readonly string[] = [
  'UNDEFINED', 'FLOAT', 'UINT8', 'INT8', 'UINT16', 'INT16', 'INT32', 'INT64', 'STRING', 'BOOL', 'FLOAT16', 'DOUBLE',
  'UINT32', 'UINT64', 'COMPLEX64', 'COMPLEX128', 'BFLOAT16', 'FLOAT8E4M3FN', 'FLOAT8E4M3FNUZ', 'FLOAT8E5M2',
  'FLOAT8E5M2FNUZ', 'UINT4', 'INT4', 'FLOAT4E2M1',
];
