/**
 * Crafting ONNX files for the reader and scheme tests: tiny models from scratch, and edits of
 * real files (our writer's, PyTorch's) through the protobuf schema, to cover the forms other
 * exporters use (typed fields, Identity aliases, Constant nodes, MatMul heads, external data).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { onnx } from 'onnx-proto';
import { loadOnnxProto, type OnnxNamespace } from '../../src/readers/onnx/proto.js';

export type { onnx };

export async function onnxNs(): Promise<OnnxNamespace> {
  return loadOnnxProto();
}

/** Decodes a model file, lets `edit` change it, writes it to `out` (or returns the bytes). */
export async function editOnnx(path: string, out: string, edit: (m: onnx.ModelProto, ns: OnnxNamespace) => void): Promise<Uint8Array> {
  const ns = await onnxNs();
  const m = ns.ModelProto.decode(readFileSync(path));
  edit(m, ns);
  const bytes = ns.ModelProto.encode(m).finish();
  writeFileSync(out, bytes);
  return bytes;
}

export const floatTensor = (name: string, dims: number[], values: number[]): onnx.ITensorProto => ({
  name,
  dims,
  dataType: 1,
  rawData: new Uint8Array(Float32Array.from(values).buffer),
});

export const attrInts = (name: string, ints: number[]): onnx.IAttributeProto => ({ name, type: 7, ints });
export const attrInt = (name: string, i: number): onnx.IAttributeProto => ({ name, type: 2, i });
export const attrFloat = (name: string, f: number): onnx.IAttributeProto => ({ name, type: 1, f });

export const valueInfo = (name: string, dims: (number | string)[]): onnx.IValueInfoProto => ({
  name,
  type: { tensorType: { elemType: 1, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
});

/**
 * A small model: input [1, 3, 8, 8] -> Conv 3x3 (4 filters, bias) -> Relu -> Conv 1x1 (2 filters)
 * -> GlobalAveragePool -> Flatten -> Gemm (3 classes). Weights are simple ramps.
 */
export async function tinyModel(options: { extra?: (g: onnx.IGraphProto) => void } = {}): Promise<Uint8Array> {
  const ns = await onnxNs();
  const ramp = (n: number, k = 0.01) => Array.from({ length: n }, (_, i) => (i % 7) * k - 0.03);
  const graph: onnx.IGraphProto = {
    name: 'tiny',
    input: [valueInfo('x', [1, 3, 8, 8])],
    output: [valueInfo('y', [1, 3])],
    initializer: [
      floatTensor('w1', [4, 3, 3, 3], ramp(108)),
      floatTensor('b1', [4], ramp(4)),
      floatTensor('w2', [2, 4, 1, 1], ramp(8)),
      floatTensor('fc.w', [3, 2], ramp(6, 0.1)),
      floatTensor('fc.b', [3], ramp(3)),
    ],
    node: [
      { opType: 'Conv', name: 'conv1', input: ['x', 'w1', 'b1'], output: ['c1'], attribute: [attrInts('kernel_shape', [3, 3]), attrInts('pads', [1, 1, 1, 1])] },
      { opType: 'Relu', name: 'relu1', input: ['c1'], output: ['r1'] },
      { opType: 'Conv', name: 'conv2', input: ['r1', 'w2'], output: ['c2'], attribute: [attrInts('kernel_shape', [1, 1])] },
      { opType: 'GlobalAveragePool', name: 'gap', input: ['c2'], output: ['g'] },
      { opType: 'Flatten', name: 'flat', input: ['g'], output: ['f'], attribute: [attrInt('axis', 1)] },
      { opType: 'Gemm', name: 'fc', input: ['f', 'fc.w', 'fc.b'], output: ['y'], attribute: [attrInt('transB', 1)] },
    ],
  };
  options.extra?.(graph);
  return ns.ModelProto.encode({ irVersion: 8, producerName: 'weightport-test', opsetImport: [{ domain: '', version: 17 }], graph }).finish();
}
