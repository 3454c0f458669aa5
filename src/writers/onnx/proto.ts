/**
 * ModelProto framing for streaming: protobufjs (onnx-proto, ONNX IR 8 schema) encodes everything
 * but the tensor bytes; this module frames those pieces by hand so that each initializer's data
 * can be written straight from the parameter's array, one tensor at a time, never holding the
 * whole model in memory.
 *
 * Protobuf wire format (https://protobuf.dev/programming-guides/encoding/): a message is a
 * sequence of fields, `key = field_number << 3 | wire_type` as a varint, then the value; an
 * embedded message or a bytes field is wire type 2 (LEN): a varint byte count, then the bytes.
 * Fields may come in any order and a repeated field's elements need not be adjacent, so a
 * message is the concatenation of separately encoded parts. Field numbers: onnx/onnx.proto.
 *
 * File layout written (field numbers in brackets):
 *   ModelProto  ir_version[1] producer_name[2] producer_version[3] doc_string[6]
 *               graph[7] = GraphProto  node[1]... name[2]
 *                                      initializer[5]... = TensorProto dims[1] data_type[2] name[8]
 *                                                          raw_data[9] (inline) | external_data[13]
 *                                                          data_location[14] (external)
 *                                      input[11] output[12]
 *               opset_import[8] metadata_props[14]
 */
import type { OnnxAttribute, OnnxGraph, OnnxNode, OnnxValueInfo } from './graph.js';

/** Field numbers (onnx/onnx.proto) of the fields framed by hand. */
export const FIELD = {
  /** ModelProto.graph */
  modelGraph: 7,
  /** GraphProto.initializer (repeated TensorProto) */
  graphInitializer: 5,
  /** TensorProto.raw_data */
  tensorRawData: 9,
} as const;

/** Protobuf wire type of length-delimited fields. */
const WIRE_LEN = 2;

/** TensorProto.DataLocation.EXTERNAL (onnx/onnx.proto). */
const DATA_LOCATION_EXTERNAL = 1;

/** AttributeProto.AttributeType values (onnx/onnx.proto). */
const ATTRIBUTE_TYPE = { float: 1, int: 2, ints: 7 } as const;

/** Base-128 varint of a non-negative integer up to 2^53 (no bit operators: they are 32-bit). */
export function varint(n: number): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`varint: ${n} is not a non-negative safe integer`);
  const bytes: number[] = [];
  while (n >= 0x80) {
    bytes.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  bytes.push(n);
  return Uint8Array.from(bytes);
}

/** The key and length prefix of a length-delimited field holding `length` bytes. */
export const lengthPrefix = (field: number, length: number): Uint8Array => concat([varint((field << 3) | WIRE_LEN), varint(length)]);

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The generated onnx-proto module (protobufjs 6 static code); loaded only by `write`. */
export type OnnxProto = typeof import('onnx-proto').onnx;

export async function loadOnnxProto(): Promise<OnnxProto> {
  const mod = await import('onnx-proto');
  // A CommonJS module that assigns module.exports: Node exposes it as the default export only.
  return (mod.default ?? mod).onnx;
}

export interface ModelInfo {
  readonly irVersion: number;
  readonly opset: number;
  readonly producerName: string;
  readonly producerVersion: string;
  readonly docString: string;
  readonly metadata: readonly (readonly [string, string])[];
}

/** Where one initializer's bytes go: inline (raw_data) or a range of the external data file. */
export type Placement =
  | { readonly kind: 'inline'; readonly length: number }
  | { readonly kind: 'external'; readonly length: number; readonly location: string; readonly offset: number };

export interface EncodedModel {
  /** ModelProto fields before the graph, the graph's prefix, and the graph's own leading fields. */
  readonly head: Uint8Array;
  /** Per initializer: its prefix and fields, ending (inline) in the raw_data prefix; its bytes follow. */
  readonly tensorHeads: readonly Uint8Array[];
  /** The graph's trailing fields, then the model's. */
  readonly tail: Uint8Array;
  /** Bytes of the whole .onnx file, inline tensor data included. */
  readonly size: number;
}

function attributeProto(a: OnnxAttribute) {
  const type = ATTRIBUTE_TYPE[a.type];
  if (a.type === 'float') return { name: a.name, type, f: a.value };
  if (a.type === 'int') return { name: a.name, type, i: a.value };
  return { name: a.name, type, ints: [...a.value] };
}

const nodeProto = (n: OnnxNode) => ({
  name: n.name,
  opType: n.opType,
  input: [...n.inputs],
  output: [...n.outputs],
  attribute: n.attributes.map(attributeProto),
  ...(n.docString ? { docString: n.docString } : {}),
});

const valueInfoProto = (v: OnnxValueInfo, elemType: number) => ({
  name: v.name,
  type: {
    tensorType: {
      elemType,
      shape: { dim: v.dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
    },
  },
});

/**
 * Encodes the model around the tensor bytes. `placements` follows `graph.initializers`; sizes are
 * known before any data is read, so every length prefix is written before the data it frames.
 */
export function encodeModel(onnx: OnnxProto, graph: OnnxGraph, info: ModelInfo, placements: readonly Placement[]): EncodedModel {
  if (placements.length !== graph.initializers.length) throw new Error('one placement per initializer');
  const f32 = onnx.TensorProto.DataType.FLOAT;
  const modelHead = onnx.ModelProto.encode({
    irVersion: info.irVersion,
    producerName: info.producerName,
    producerVersion: info.producerVersion,
    docString: info.docString,
  }).finish();
  const graphHead = onnx.GraphProto.encode({ node: graph.nodes.map(nodeProto), name: graph.name }).finish();
  const tensorHeads = graph.initializers.map((t, i) => {
    const p = placements[i];
    const fields = onnx.TensorProto.encode({
      dims: [...t.dims],
      dataType: t.dataType,
      name: t.name,
      ...(p.kind === 'external'
        ? {
            externalData: [
              { key: 'location', value: p.location },
              { key: 'offset', value: String(p.offset) },
              { key: 'length', value: String(p.length) },
            ],
            dataLocation: DATA_LOCATION_EXTERNAL,
          }
        : {}),
    }).finish();
    const raw = p.kind === 'inline' ? lengthPrefix(FIELD.tensorRawData, p.length) : new Uint8Array(0);
    const tensorSize = fields.length + raw.length + (p.kind === 'inline' ? p.length : 0);
    return concat([lengthPrefix(FIELD.graphInitializer, tensorSize), fields, raw]);
  });
  const graphTail = onnx.GraphProto.encode({
    input: graph.inputs.map((v) => valueInfoProto(v, f32)),
    output: graph.outputs.map((v) => valueInfoProto(v, f32)),
  }).finish();
  const modelTail = onnx.ModelProto.encode({
    opsetImport: [{ domain: '', version: info.opset }],
    metadataProps: info.metadata.map(([key, value]) => ({ key, value })),
  }).finish();
  const inlineBytes = placements.reduce((s, p) => s + (p.kind === 'inline' ? p.length : 0), 0);
  const graphSize = graphHead.length + tensorHeads.reduce((s, h) => s + h.length, 0) + inlineBytes + graphTail.length;
  const head = concat([modelHead, lengthPrefix(FIELD.modelGraph, graphSize), graphHead]);
  return {
    head,
    tensorHeads,
    tail: concat([graphTail, modelTail]),
    size: head.length + graphSize - graphHead.length + modelTail.length,
  };
}
