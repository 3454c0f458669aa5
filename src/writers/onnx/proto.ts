/**
 * The ModelProto, encoded for streaming: a small protobuf writer (below) encodes every message but
 * the tensor bytes, field by field after onnx/onnx.proto; the tensors' framing is computed from their sizes,
 * so that each initializer's data can be written straight from the parameter's array, one tensor
 * at a time, never holding the whole model in memory. (A generated schema such as onnx-proto's
 * would only add start-up time and pin an older IR; the decoding tests use it as an independent
 * reader.)
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
import type { OnnxAttribute, OnnxGraph, OnnxInitializer, OnnxNode, OnnxValueInfo } from './graph.js';

/** Protobuf wire types. */
const WIRE = { varint: 0, len: 2, i32: 5 } as const;

const key = (field: number, wire: number): number => (field << 3) | wire;

/**
 * Field numbers of the messages written, from onnx/onnx.proto (the same in IR 7 to 10; checked
 * against the onnx package's descriptors).
 */
export const FIELD = {
  model: { irVersion: 1, producerName: 2, producerVersion: 3, docString: 6, graph: 7, opsetImport: 8, metadataProps: 14 },
  operatorSetId: { domain: 1, version: 2 },
  stringStringEntry: { key: 1, value: 2 },
  graph: { node: 1, name: 2, initializer: 5, input: 11, output: 12 },
  node: { input: 1, output: 2, name: 3, opType: 4, attribute: 5, docString: 6 },
  attribute: { name: 1, f: 2, i: 3, ints: 8, type: 20 },
  valueInfo: { name: 1, type: 2 },
  typeProto: { tensorType: 1 },
  typeTensor: { elemType: 1, shape: 2 },
  tensorShape: { dim: 1 },
  dimension: { dimValue: 1, dimParam: 2 },
  tensor: { dims: 1, dataType: 2, name: 8, rawData: 9, externalData: 13, dataLocation: 14 },
} as const;

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
export const lengthPrefix = (field: number, length: number): Uint8Array => concat([varint(key(field, WIRE.len)), varint(length)]);

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const utf8 = new TextEncoder();
const ASCII = /^[\x00-\x7f]*$/;

/**
 * The protobuf writing this file needs (the calls of protobufjs's Writer: varints, float, string,
 * and fork/ldelim around a nested message), into one growing buffer. A nested message reserves 5
 * bytes for its length, and its body moves up once the length is known. protobufjs did the same
 * work with a linked list of operations per value: encoding IRv2's graph and 900 tensor headers
 * took 40-60 ms of a conversion's start, run once and so never optimised by the JIT.
 */
export class PbWriter {
  private buf = new Uint8Array(256);
  private len = 0;
  private readonly forks: number[] = [];

  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const grown = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
    grown.set(this.buf.subarray(0, this.len));
    this.buf = grown;
  }

  /** A non-negative integer up to 2^53 (no bit operators: they are 32-bit). */
  private varint(n: number): this {
    this.room(10);
    while (n >= 0x80) {
      this.buf[this.len++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    this.buf[this.len++] = n;
    return this;
  }

  uint32(n: number): this {
    return this.varint(n >>> 0);
  }

  /** int32 and int64 alike: a negative value is its 64-bit two's complement, ten bytes. */
  int64(n: number): this {
    if (n >= 0) return this.varint(n);
    this.room(10);
    let v = BigInt.asUintN(64, BigInt(n));
    for (let i = 0; i < 9; i++, v >>= 7n) this.buf[this.len++] = Number(v & 0x7fn) | 0x80;
    this.buf[this.len++] = Number(v);
    return this;
  }

  int32(n: number): this {
    return this.int64(n);
  }

  float(v: number): this {
    this.room(4);
    new DataView(this.buf.buffer, this.len, 4).setFloat32(0, v, true);
    this.len += 4;
    return this;
  }

  string(s: string): this {
    if (ASCII.test(s)) {
      // one byte per character: encoded in place, no array per string (a graph has thousands)
      this.varint(s.length);
      this.room(s.length);
      this.len += utf8.encodeInto(s, this.buf.subarray(this.len, this.len + s.length)).written;
      return this;
    }
    const bytes = utf8.encode(s);
    this.varint(bytes.length);
    this.room(bytes.length);
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
    return this;
  }

  fork(): this {
    this.room(5);
    this.forks.push(this.len);
    this.len += 5;
    return this;
  }

  /**
   * Ends the message begun by `fork`: its length prefix, then its body moved up against it. The
   * length counts `following` bytes more, written after this writer's (a tensor's data).
   */
  ldelim(following = 0): this {
    const at = this.forks.pop()!;
    const size = this.len - at - 5;
    const prefix = varint(size + following);
    this.buf.copyWithin(at + prefix.length, at + 5, this.len);
    this.buf.set(prefix, at);
    this.len = at + prefix.length + size;
    return this;
  }

  /** Bytes written so far. */
  get length(): number {
    return this.len;
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

const string = (w: PbWriter, field: number, value: string) => w.uint32(key(field, WIRE.len)).string(value);
const int64 = (w: PbWriter, field: number, value: number) => w.uint32(key(field, WIRE.varint)).int64(value);
const message = (w: PbWriter, field: number, body: (w: PbWriter) => void) => {
  w.uint32(key(field, WIRE.len)).fork();
  body(w);
  w.ldelim();
};

function attribute(w: PbWriter, a: OnnxAttribute) {
  const F = FIELD.attribute;
  string(w, F.name, a.name);
  w.uint32(key(F.type, WIRE.varint)).int32(ATTRIBUTE_TYPE[a.type]);
  if (a.type === 'float') w.uint32(key(F.f, WIRE.i32)).float(a.value);
  else if (a.type === 'int') int64(w, F.i, a.value);
  else for (const v of a.value) int64(w, F.ints, v); // proto2 repeated scalars: unpacked
}

function node(w: PbWriter, n: OnnxNode) {
  const F = FIELD.node;
  for (const i of n.inputs) string(w, F.input, i);
  for (const o of n.outputs) string(w, F.output, o);
  string(w, F.name, n.name);
  string(w, F.opType, n.opType);
  for (const a of n.attributes) message(w, F.attribute, (w) => attribute(w, a));
  if (n.docString) string(w, F.docString, n.docString);
}

function valueInfo(w: PbWriter, v: OnnxValueInfo, elemType: number) {
  string(w, FIELD.valueInfo.name, v.name);
  message(w, FIELD.valueInfo.type, (w) =>
    message(w, FIELD.typeProto.tensorType, (w) => {
      w.uint32(key(FIELD.typeTensor.elemType, WIRE.varint)).int32(elemType);
      message(w, FIELD.typeTensor.shape, (w) => {
        for (const d of v.dims)
          message(w, FIELD.tensorShape.dim, (w) =>
            typeof d === 'string' ? string(w, FIELD.dimension.dimParam, d) : int64(w, FIELD.dimension.dimValue, d),
          );
      });
    }),
  );
}

const entry = (w: PbWriter, field: number, k: string, v: string) =>
  message(w, field, (w) => {
    string(w, FIELD.stringStringEntry.key, k);
    string(w, FIELD.stringStringEntry.value, v);
  });

/** A TensorProto's fields but raw_data: dims, data_type, name, and where the data lives. */
function tensorHeader(w: PbWriter, t: OnnxInitializer, p: Placement) {
  const F = FIELD.tensor;
  for (const d of t.dims) int64(w, F.dims, d);
  w.uint32(key(F.dataType, WIRE.varint)).int32(t.dataType);
  string(w, F.name, t.name);
  if (p.kind === 'external') {
    // onnx/onnx.proto, "external_data": location relative to the model's folder, offset and length in bytes.
    entry(w, F.externalData, 'location', p.location);
    entry(w, F.externalData, 'offset', String(p.offset));
    entry(w, F.externalData, 'length', String(p.length));
    w.uint32(key(F.dataLocation, WIRE.varint)).int32(DATA_LOCATION_EXTERNAL);
  }
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

const FLOAT = 1; // TensorProto.DataType.FLOAT: the graph takes and returns float32

function encode(body: (w: PbWriter) => void): Uint8Array {
  const w = new PbWriter();
  body(w);
  return w.finish();
}

/**
 * Encodes the model around the tensor bytes. `placements` follows `graph.initializers`; sizes are
 * known before any data is read, so every length prefix is written before the data it frames.
 */
export function encodeModel(graph: OnnxGraph, info: ModelInfo, placements: readonly Placement[]): EncodedModel {
  if (placements.length !== graph.initializers.length) throw new Error('one placement per initializer');
  const M = FIELD.model;
  const modelHead = encode((w) => {
    int64(w, M.irVersion, info.irVersion);
    string(w, M.producerName, info.producerName);
    string(w, M.producerVersion, info.producerVersion);
    string(w, M.docString, info.docString);
  });
  const graphHead = encode((w) => {
    for (const n of graph.nodes) message(w, FIELD.graph.node, (w) => node(w, n));
    string(w, FIELD.graph.name, graph.name);
  });
  // Every initializer's framing in one buffer (a thousand of them: no arrays of their own), each
  // ending, inline, in the raw_data prefix, its length counting the data that will follow it.
  const starts: number[] = [];
  const heads = encode((w) =>
    graph.initializers.forEach((t, i) => {
      const p = placements[i];
      starts.push(w.length);
      w.uint32(key(FIELD.graph.initializer, WIRE.len)).fork();
      tensorHeader(w, t, p);
      if (p.kind === 'inline') w.uint32(key(FIELD.tensor.rawData, WIRE.len)).int64(p.length);
      w.ldelim(p.kind === 'inline' ? p.length : 0);
    }),
  );
  const tensorHeads = starts.map((start, i) => heads.subarray(start, starts[i + 1] ?? heads.length));
  const { graphTail, modelTail } = encodeTails(graph, info);
  const inlineBytes = placements.reduce((s, p) => s + (p.kind === 'inline' ? p.length : 0), 0);
  const graphSize = graphHead.length + heads.length + inlineBytes + graphTail.length;
  const head = concat([modelHead, lengthPrefix(M.graph, graphSize), graphHead]);
  return {
    head,
    tensorHeads,
    tail: concat([graphTail, modelTail]),
    size: head.length + graphSize - graphHead.length + modelTail.length,
  };
}

/**
 * The fields after the tensors: the graph's inputs and outputs, then the model's opset and
 * metadata_props. Written last, so the metadata can carry values known only at the end (the
 * source's SHA-256, computed beside the write); same-length values give the same bytes count.
 */
export function encodeTail(graph: OnnxGraph, info: ModelInfo): Uint8Array {
  const { graphTail, modelTail } = encodeTails(graph, info);
  return concat([graphTail, modelTail]);
}

function encodeTails(graph: OnnxGraph, info: ModelInfo): { graphTail: Uint8Array; modelTail: Uint8Array } {
  const graphTail = encode((w) => {
    for (const v of graph.inputs) message(w, FIELD.graph.input, (w) => valueInfo(w, v, FLOAT));
    for (const v of graph.outputs) message(w, FIELD.graph.output, (w) => valueInfo(w, v, FLOAT));
  });
  const modelTail = encode((w) => {
    message(w, FIELD.model.opsetImport, (w) => {
      string(w, FIELD.operatorSetId.domain, ''); // the default domain, ai.onnx
      int64(w, FIELD.operatorSetId.version, info.opset);
    });
    for (const [k, v] of info.metadata) entry(w, FIELD.model.metadataProps, k, v);
  });
  return { graphTail, modelTail };
}
