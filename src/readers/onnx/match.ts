/**
 * Recognising an ONNX ModelProto from its first bytes, without the protobuf schema: the top-level
 * fields that fit in the probe must all be ModelProto fields with their wire types
 * (onnx/onnx.proto: 1 ir_version, 2 producer_name, 3 producer_version, 4 domain, 5 model_version,
 * 6 doc_string, 7 graph, 8 opset_import, 14 metadata_props, 20 training_info, 25 functions), and
 * length-delimited fields must end inside the file. Serialisers write fields in number order, so a
 * model starts with ir_version (0x08) and then, almost always, producer_name (0x12) or graph (0x3a).
 * Other formats fail at once: safetensors' u64 header length has zero bytes (tag 0), JSON starts
 * with `{` (field 15), HDF5 with 0x89 'H', zip with 'P' (field 10).
 */

/** Wire types: 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32 (3 and 4, groups, are not used). */
const MODEL_FIELDS: ReadonlyMap<number, number> = new Map([
  [1, 0],
  [2, 2],
  [3, 2],
  [4, 2],
  [5, 0],
  [6, 2],
  [7, 2],
  [8, 2],
  [14, 2],
  [20, 2],
  [25, 2],
]);

/** Highest IR version we expect to see (IR 11 is ONNX 1.18); a little headroom for newer files. */
const MAX_IR_VERSION = 20;

/** Reads a varint at `pos`; returns [value, next] or undefined when it does not end in `bytes`. */
function varint(bytes: Uint8Array, pos: number): [number, number] | undefined {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10 && pos < bytes.length; i++) {
    const b = bytes[pos++];
    value += (b & 0x7f) * scale;
    if (b < 0x80) return [value, pos];
    scale *= 128;
  }
  return undefined;
}

export interface OnnxHeadFacts {
  /** The ir_version field, when it is in the probe. */
  readonly irVersion?: number;
  /** The probe reached the graph field (7). */
  readonly hasGraph: boolean;
  /** Top-level fields seen. */
  readonly fields: number;
  /** The graph field runs past the end of the file. */
  readonly truncated?: boolean;
}

/**
 * Walks the top-level fields in `head` (the first bytes of a file of `size` bytes). Returns the
 * facts, or undefined when the bytes cannot be the start of a ModelProto.
 */
export function scanModelHead(head: Uint8Array, size: number): OnnxHeadFacts | undefined {
  let pos = 0;
  let fields = 0;
  let irVersion: number | undefined;
  let hasGraph = false;
  while (pos < head.length) {
    const tag = varint(head, pos);
    if (!tag) break; // the tag runs past the probe
    const [key, afterTag] = tag;
    const field = Math.floor(key / 8);
    const wire = key % 8;
    if (MODEL_FIELDS.get(field) !== wire) return undefined;
    if (wire === 0) {
      const v = varint(head, afterTag);
      if (!v) {
        if (afterTag + 10 <= head.length) return undefined; // a varint longer than 10 bytes
        break;
      }
      if (field === 1) {
        if (v[0] < 1 || v[0] > MAX_IR_VERSION) return undefined;
        irVersion = v[0];
      }
      pos = v[1];
    } else {
      const len = varint(head, afterTag);
      if (!len) break;
      const end = len[1] + len[0];
      if (field === 7) hasGraph = true;
      if (end > size) {
        // A graph that runs past the end after a valid ir_version: a truncated model, which the
        // reader then reports as such (with the offset) rather than as an unknown format.
        if (field === 7 && irVersion !== undefined) return { irVersion, hasGraph, fields: fields + 1, truncated: true };
        return undefined;
      }
      pos = end;
    }
    fields++;
  }
  if (pos > size) return undefined;
  if (pos === size && irVersion === undefined && !hasGraph) return undefined;
  return { irVersion, hasGraph, fields };
}

/**
 * True when the bytes look like a ModelProto: a valid field walk that starts with ir_version or
 * reaches the graph. A walk with fewer than two fields is too weak to decide by bytes alone; then
 * the `.onnx` name breaks the tie.
 */
export function looksLikeOnnx(head: Uint8Array, size: number, name: string): boolean {
  if (head.length === 0) return false;
  const facts = scanModelHead(head, size);
  if (!facts) return false;
  const strong = (facts.irVersion !== undefined || facts.hasGraph) && facts.fields >= 2;
  return strong || (/\.onnx$/i.test(name) && (facts.irVersion !== undefined || facts.hasGraph));
}
