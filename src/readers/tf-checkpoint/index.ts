/**
 * The TensorFlow checkpoint reader ('tf'): V2 bundles (`prefix.index` + `prefix.data-*`, any
 * number of shards), V1 single-file checkpoints, and SavedModel folders (their
 * `variables/variables` bundle). Pure TypeScript: no TensorFlow runtime. `--from tf` takes the
 * prefix, the `.index` file, a `.data-*` file, a V1 file or a SavedModel folder.
 */
import { access, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { FormatError } from '../../errors.js';
import type { Probe, ReadOptions, Reader, SourceModel, StoredTensor } from '../types.js';
import { FORMAT } from './file.js';
import { OBJECT_GRAPH_KEY, objectGraphNames, savedModelPrefix } from './savedmodel.js';
import { openV1 } from './v1.js';
import { bundleTensor, openBundle } from './v2.js';

const DATA_SUFFIX = /\.data-\d{5}-of-\d{5}$/;

const exists = (p: string) => access(p).then(() => true, () => false);

/**
 * A V1 checkpoint starts with its metadata entry: shared 0, unshared 0 (the empty key), a value
 * length, then SavedTensorSlices.meta (field 1), its first tensor (field 1) and name (field 1).
 */
function looksLikeV1(head: Uint8Array): boolean {
  if (head.length < 8 || head[0] !== 0 || head[1] !== 0) return false;
  let i = 2;
  for (let k = 0; k < 3; k++) {
    while (i < head.length && head[i] & 0x80) i++; // a varint
    i++;
    if (head[i] !== 0x0a) return false;
    i++;
  }
  return true;
}

function match(p: Probe): boolean {
  const name = basename(p.path);
  if (p.isDirectory) return p.siblings.includes('variables') && (p.siblings.includes('saved_model.pb') || p.siblings.includes('saved_model.pbtxt'));
  if (name.endsWith('.index')) {
    const prefix = name.slice(0, -'.index'.length);
    return p.siblings.some((s) => s.startsWith(`${prefix}.data-`));
  }
  if (DATA_SUFFIX.test(name)) return p.siblings.includes(`${name.replace(DATA_SUFFIX, '')}.index`);
  if (p.size === 0 && p.head.length === 0) return p.siblings.includes(`${name}.index`); // a prefix
  return looksLikeV1(p.head);
}

async function openV2(path: string, prefix: string, kind: 'V2' | 'SavedModel', options: ReadOptions): Promise<SourceModel> {
  const bundle = await openBundle(prefix, options);
  try {
    const rename = await objectGraphNames(bundle);
    const tensors: StoredTensor[] = [];
    const checkpointKeys: Record<string, string> = {};
    for (const [key, entry] of bundle.entries) {
      if (key === OBJECT_GRAPH_KEY) continue;
      const name = rename.get(key) ?? key;
      if (name !== key) checkpointKeys[name] = key;
      tensors.push(bundleTensor(bundle, key, entry, name));
    }
    const files = [bundle.indexPath, ...bundle.shards.map((s) => s.path)];
    return {
      format: FORMAT,
      path,
      files,
      metadata: {
        version: kind,
        shards: bundle.header.numShards,
        objectGraph: bundle.entries.has(OBJECT_GRAPH_KEY),
        ...(Object.keys(checkpointKeys).length ? { checkpointKeys } : {}),
      },
      tensors,
      close: () => bundle.close(),
    };
  } catch (e) {
    await bundle.close();
    throw e;
  }
}

async function open(path: string, options: ReadOptions = {}): Promise<SourceModel> {
  const info = await stat(path).catch(() => undefined);
  if (info?.isDirectory()) {
    const prefix = savedModelPrefix(path);
    if (!(await exists(`${prefix}.index`)))
      throw new FormatError(FORMAT, { file: path }, 'a folder, but not a SavedModel with variables/variables.index');
    return openV2(path, prefix, 'SavedModel', options);
  }
  if (path.endsWith('.index')) return openV2(path, path.slice(0, -'.index'.length), 'V2', options);
  if (DATA_SUFFIX.test(path)) return openV2(path, path.replace(DATA_SUFFIX, ''), 'V2', options);
  if (!info) {
    if (await exists(`${path}.index`)) return openV2(path, path, 'V2', options);
    throw new FormatError(FORMAT, { file: path }, `no such file, and no ${basename(path)}.index beside it`);
  }
  // a single file: a V1 checkpoint, unless a V2 index sits beside it under this prefix
  if (await exists(`${path}.index`)) return openV2(path, path, 'V2', options);
  const v1 = await openV1(path, options);
  return {
    format: FORMAT,
    path,
    files: [path],
    metadata: { version: 'V1' },
    tensors: v1.tensors,
    close: () => v1.close(),
  };
}

export const tfCheckpointReader: Reader = {
  format: FORMAT,
  description: 'TensorFlow checkpoints: V2 bundles (prefix.index + prefix.data-*), V1 files, SavedModel variables',
  match,
  open,
};
