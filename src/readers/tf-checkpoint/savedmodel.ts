/**
 * Object-based checkpoints (tf.train.Checkpoint, and the `variables/variables` bundle of a
 * SavedModel) store each variable under an object-graph key such as
 * `vars/InceptionV4.SConv2d_1a_3x3.Sweights/.ATTRIBUTES/VARIABLE_VALUE`. The bundle also holds
 * `_CHECKPOINTABLE_OBJECT_GRAPH`, a string tensor with the serialized TrackableObjectGraph
 * (tensorflow/core/protobuf/trackable_object_graph.proto), whose SerializedTensor entries pair
 * each checkpoint key with the variable's own name (`full_name`).
 *
 * Strategy: a key is renamed to its `full_name` when that is non-empty and unique; otherwise to its
 * object path with TensorFlow's escaping undone ('.S' -> '/', '..' -> '.', trackable.py
 * `escape_local_name`) and the `/.ATTRIBUTES/VARIABLE_VALUE` suffix dropped. Keys that are not
 * variable values (optimizer slots under `.OPTIMIZER_SLOT`, `save_counter`) keep their key.
 * `metadata.checkpointKeys` records every renaming (name -> key as stored).
 */
import { join } from 'node:path';
import { FormatError } from '../../errors.js';
import { FORMAT } from './file.js';
import { decodeObjectGraph, DT_STRING } from './protos.js';
import { DecodeError } from './sstable.js';
import { decodeStringTensor, type Bundle } from './v2.js';

export const OBJECT_GRAPH_KEY = '_CHECKPOINTABLE_OBJECT_GRAPH';
const VALUE_SUFFIX = '/.ATTRIBUTES/VARIABLE_VALUE';

/** The bundle prefix inside a SavedModel folder. */
export const savedModelPrefix = (dir: string): string => join(dir, 'variables', 'variables');

/** Undoes trackable.py's escape_local_name on each path segment. */
export function unescapeLocalName(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '.' && s[i + 1] === 'S') {
      out += '/';
      i++;
    } else if (s[i] === '.' && s[i + 1] === '.') {
      out += '.';
      i++;
    } else out += s[i];
  }
  return out;
}

/** checkpoint key -> variable name, for the keys the object graph names; empty without one. */
export async function objectGraphNames(bundle: Bundle): Promise<Map<string, string>> {
  const entry = bundle.entries.get(OBJECT_GRAPH_KEY);
  const names = new Map<string, string>();
  if (!entry) return names;
  const where = { file: bundle.shards[entry.shardId]?.path ?? bundle.indexPath, tensor: OBJECT_GRAPH_KEY, offset: entry.offset };
  if (entry.dtype !== DT_STRING || entry.shape.dims.length !== 0) throw new FormatError(FORMAT, where, 'the object graph is not a scalar string');
  // string tensors are checksummed over their lengths as fixed-width integers, not over the
  // stored varints, so this entry's CRC is not the CRC of its bytes; the length checksum and the
  // protobuf decoding check it instead
  let keys;
  try {
    const [graph] = decodeStringTensor(await bundle.readEntry(OBJECT_GRAPH_KEY, { ...entry, crc32c: undefined }), 1);
    keys = decodeObjectGraph(graph);
  } catch (e) {
    if (e instanceof DecodeError) throw new FormatError(FORMAT, { ...where, offset: entry.offset + e.at }, `bad object graph: ${e.message}`);
    throw e;
  }
  const counts = new Map<string, number>();
  for (const k of keys) if (k.fullName) counts.set(k.fullName, (counts.get(k.fullName) ?? 0) + 1);
  for (const k of keys) {
    if (!k.checkpointKey.endsWith(VALUE_SUFFIX)) continue;
    if (k.fullName && counts.get(k.fullName) === 1) names.set(k.checkpointKey, k.fullName);
    else names.set(k.checkpointKey, unescapeLocalName(k.checkpointKey.slice(0, -VALUE_SUFFIX.length)));
  }
  return names;
}
