/**
 * The ONNX reader: a ModelProto (onnx/onnx.proto) decoded with protobufjs. Weights are the graph's
 * initializers and the outputs of its Constant nodes; the graph itself (nodes, attributes) is the
 * source's `structure`, which the topology scheme (graphs/schemes/onnx.ts) binds by, since ONNX
 * names say little (PyTorch names folded weights `onnx::Conv_123`). `Identity` nodes that alias
 * initializers (PyTorch's exporter deduplicates equal tensors that way) stay in the structure.
 *
 * Memory: the model file is read once and decoded in place; raw_data tensors are views into it.
 * External data (models over 2 GB) is read per tensor, on read(), after a bounds check at open.
 */
import { stat } from 'node:fs/promises';
import { readRegularFile } from '../../io/files.js';
import { basename } from 'node:path';
import { FormatError } from '../../errors.js';
import type { Probe, Reader, ReadOptions, SourceModel, StoredTensor } from '../types.js';
import { looksLikeOnnx } from './match.js';
import { int64ToNumber, loadOnnxProto, type onnx } from './proto.js';
import type { OnnxAttribute, OnnxNode, OnnxStructure, OnnxValueInfo } from './structure.js';
import { decodeTensor, ExternalFiles, type TensorContext } from './tensors.js';

export type { OnnxAttribute, OnnxNode, OnnxStructure, OnnxValueInfo } from './structure.js';
export { isOnnxStructure, SMALL_TENSOR_ELEMENTS } from './structure.js';

/** AttributeProto.AttributeType (onnx/onnx.proto). */
const ATTR = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7, STRINGS: 8 } as const;
const ATTR_NAMES: Record<number, string> = { 5: 'GRAPH', 9: 'TENSORS', 10: 'GRAPHS', 11: 'SPARSE_TENSOR', 12: 'SPARSE_TENSORS', 13: 'TYPE_PROTO', 14: 'TYPE_PROTOS' };

const utf8 = new TextDecoder('utf-8', { fatal: false });

/**
 * The byte offset in a protobufjs decoding error ("index out of range: 12 + 10 > 20", "invalid
 * wire type 7 at offset 3"), when it has one.
 */
function decodeErrorOffset(e: unknown): number | undefined {
  const m = /index out of range: (\d+)|at offset (\d+)/.exec((e as Error)?.message ?? '');
  return m ? Number(m[1] ?? m[2]) : undefined;
}

function attributeValue(a: onnx.IAttributeProto, tensorName: string | undefined): OnnxAttribute {
  const ints = (xs: readonly (number | { toNumber(): number })[]) => xs.map((x) => int64ToNumber(x) ?? NaN);
  let type = a.type ?? 0;
  if (type === 0) {
    // IR < 2 files may leave the type out: infer it from the field that is set.
    if (Object.hasOwn(a, 'f')) type = ATTR.FLOAT;
    else if (Object.hasOwn(a, 'i')) type = ATTR.INT;
    else if (Object.hasOwn(a, 's')) type = ATTR.STRING;
    else if (Object.hasOwn(a, 't')) type = ATTR.TENSOR;
    else if (a.floats?.length) type = ATTR.FLOATS;
    else if (a.ints?.length) type = ATTR.INTS;
    else if (a.strings?.length) type = ATTR.STRINGS;
  }
  switch (type) {
    case ATTR.FLOAT:
      return a.f ?? 0;
    case ATTR.INT:
      return int64ToNumber(a.i ?? 0) ?? NaN;
    case ATTR.STRING:
      return utf8.decode(a.s ?? new Uint8Array(0));
    case ATTR.TENSOR:
      return tensorName !== undefined ? { tensor: tensorName } : { unsupported: 'TENSOR' };
    case ATTR.FLOATS:
      return [...(a.floats ?? [])];
    case ATTR.INTS:
      return ints(a.ints ?? []);
    case ATTR.STRINGS:
      return (a.strings ?? []).map((s) => utf8.decode(s));
    default:
      return { unsupported: ATTR_NAMES[type] ?? String(type) };
  }
}

function valueInfo(v: onnx.IValueInfoProto): OnnxValueInfo {
  const tt = v.type?.tensorType;
  const shape = tt?.shape?.dim?.map((d) =>
    Object.hasOwn(d, 'dimValue') ? (int64ToNumber(d.dimValue) ?? null) : d.dimParam ? d.dimParam : null,
  );
  return { name: v.name ?? '', ...(shape ? { shape } : {}), ...(tt?.elemType ? { elemType: tt.elemType } : {}) };
}

/** Opens and validates an ONNX model; tensors are read on demand. */
export async function openOnnx(path: string, _options: ReadOptions = {}): Promise<SourceModel> {
  const fail = (what: string, where: { tensor?: string; offset?: number } = {}) => new FormatError('onnx', { file: path, ...where }, what);
  let buffer: Buffer;
  try {
    const info = await stat(path);
    if (info.isDirectory()) throw fail('is a folder, not an .onnx file');
    buffer = await readRegularFile(path);
  } catch (e) {
    if (e instanceof FormatError) throw e;
    throw fail(`cannot read: ${(e as Error).message}`);
  }
  const proto = await loadOnnxProto();
  let model: onnx.ModelProto;
  try {
    model = proto.ModelProto.decode(buffer);
  } catch (e) {
    const offset = decodeErrorOffset(e);
    throw new FormatError('onnx', { file: path, ...(offset !== undefined ? { offset } : {}) }, `not a valid ONNX protobuf (truncated or corrupt): ${(e as Error).message}`, { cause: e });
  }
  const graph = model.graph;
  if (!graph) throw fail('the model has no graph');
  if (graph.sparseInitializer?.length) throw fail(`sparse initializers are not supported (${graph.sparseInitializer[0].values?.name ?? 'unnamed'})`);

  const external = new ExternalFiles();
  const ctx: TensorContext = { file: path, buffer, external };
  const tensors: StoredTensor[] = [];
  const values: Record<string, readonly number[]> = {};
  const defined = new Set<string>();
  const add = async (t: onnx.ITensorProto, name: string) => {
    if (defined.has(name)) throw fail(`two tensors or nodes define '${name}'`, { tensor: name });
    defined.add(name);
    const d = await decodeTensor(t, name, ctx);
    tensors.push(d.tensor);
    if (d.small) values[name] = d.small;
  };

  try {
    const initializers: string[] = [];
    for (const [i, t] of (graph.initializer ?? []).entries()) {
      const name = t.name ?? '';
      if (!name) throw fail(`initializer #${i} has no name`);
      await add(t, name);
      initializers.push(name);
    }
    const inputs = (graph.input ?? []).map(valueInfo).filter((v) => !defined.has(v.name)); // IR < 4 lists initializers as inputs too
    for (const v of inputs) {
      if (!v.name) throw fail('a graph input has no name');
      defined.add(v.name);
    }

    const nodes: OnnxNode[] = [];
    for (const [i, n] of (graph.node ?? []).entries()) {
      const name = n.name || `#${i}`;
      const opType = n.opType ?? '';
      const domain = n.domain ?? '';
      const outputs = [...(n.output ?? [])];
      const isConstant = opType === 'Constant' && (domain === '' || domain === 'ai.onnx');
      const attributes: Record<string, OnnxAttribute> = {};
      for (const a of n.attribute ?? []) {
        const key = a.name ?? '';
        attributes[key] = attributeValue(a, isConstant && key === 'value' ? outputs[0] : undefined);
      }
      if (isConstant) await addConstant(n, name, outputs[0], add, fail);
      for (const o of outputs) {
        if (!o) continue;
        if (!isConstant && defined.has(o)) throw fail(`node '${name}' redefines '${o}'`);
        defined.add(o);
      }
      nodes.push({ name, opType, domain, inputs: [...(n.input ?? [])], outputs, attributes });
    }
    for (const n of nodes)
      for (const v of n.inputs)
        if (v && !defined.has(v))
          throw fail(`node '${n.name}' (${n.opType}) reads '${v}', which no initializer, input or node defines (a missing initializer?)`, { tensor: v });
    const outputs = (graph.output ?? []).map(valueInfo);
    for (const o of outputs) if (!defined.has(o.name)) throw fail(`graph output '${o.name}' is not defined by any node`, { tensor: o.name });

    const opsets = Object.fromEntries((model.opsetImport ?? []).map((o) => [o.domain || 'ai.onnx', int64ToNumber(o.version) ?? 0]));
    const opset = opsets['ai.onnx'] ?? 0;
    const structure: OnnxStructure = { kind: 'onnx', opset, inputs, outputs, nodes, initializers, values };
    const metadata = {
      irVersion: int64ToNumber(model.irVersion),
      opset,
      opsets,
      producerName: model.producerName ?? '',
      producerVersion: model.producerVersion ?? '',
      domain: model.domain ?? '',
      modelVersion: int64ToNumber(model.modelVersion),
      graphName: graph.name ?? '',
      metadataProps: Object.fromEntries((model.metadataProps ?? []).map((p) => [p.key ?? '', p.value ?? ''])),
      nodes: nodes.length,
      initializers: initializers.length,
      externalData: external.files.map((f) => basename(f)),
    };
    let closed = false;
    return {
      format: 'onnx',
      path,
      files: [path, ...external.files],
      metadata,
      tensors,
      structure,
      async close() {
        if (closed) return;
        closed = true;
        await external.close();
      },
    };
  } catch (e) {
    await external.close();
    throw e;
  }
}

/** A Constant node's value as a tensor named after its output (onnx Operators.md, Constant). */
async function addConstant(
  n: onnx.INodeProto,
  name: string,
  output: string | undefined,
  add: (t: onnx.ITensorProto, name: string) => Promise<void>,
  fail: (what: string, where?: { tensor?: string }) => FormatError,
): Promise<void> {
  if (!output) throw fail(`Constant node '${name}' has no output`);
  const attrs = n.attribute ?? [];
  if (attrs.length !== 1) throw fail(`Constant node '${name}' needs exactly one value attribute, has ${attrs.length}`, { tensor: output });
  const a = attrs[0];
  switch (a.name) {
    case 'value':
      if (!a.t) throw fail(`Constant node '${name}' has no tensor value`, { tensor: output });
      return add(a.t, output);
    case 'value_float':
      return add({ dataType: 1, dims: [], floatData: [a.f ?? 0] }, output);
    case 'value_floats':
      return add({ dataType: 1, dims: [a.floats?.length ?? 0], floatData: a.floats ?? [] }, output);
    case 'value_int':
      return add({ dataType: 7, dims: [], int64Data: [a.i ?? 0] }, output);
    case 'value_ints':
      return add({ dataType: 7, dims: [a.ints?.length ?? 0], int64Data: a.ints ?? [] }, output);
    case 'value_string':
    case 'value_strings':
      return; // strings are no weights; the node stays in the structure
    default:
      throw fail(`Constant node '${name}': unsupported value attribute '${a.name}'`, { tensor: output });
  }
}

export const onnxReader: Reader = {
  format: 'onnx',
  description: 'ONNX model: initializers (raw or typed), external data files, Constant nodes; the graph for binding by topology',
  match: (probe: Probe) => !probe.isDirectory && looksLikeOnnx(probe.head, probe.size, probe.path),
  open: openOnnx,
};
