/**
 * The Keras reader: legacy HDF5 (Keras 2 / tf.keras `.h5`, weights only or whole model), Keras 3
 * `.weights.h5`, and `.keras` archives. HDF5 through the built-in reader (hdf5-native.ts), or
 * h5wasm in a worker for files it does not support (hdf5.ts), loaded only when a file is opened;
 * layouts in layout.ts; archives in archive.ts.
 *
 * Tensors come in Keras' load order: the layers that have weights, in model.layers order, and
 * each layer's weights in `weight_names` order, named `<layer>/<weight name as stored>` (legacy:
 * the dataset's path below the weights group, `conv2d/conv2d/kernel`; Keras 3:
 * `<layer name>/<kernel|bias|beta|...>`). `structure` (types.ts) groups them by layer for the
 * Keras scheme. Datasets are read one at a time, when asked.
 */
import { stat } from 'node:fs/promises';
import { openRegular } from '../../io/files.js';
import { resolve } from 'node:path';
import { FormatError } from '../../errors.js';
import type { Probe, Reader, ReadOptions, SourceModel } from '../types.js';
import { MAX_JSON_BYTES, MAX_WEIGHTS_BYTES, openZip } from './archive.js';
import { Hdf5Error, openHdf5, type Hdf5File, type Hdf5Options } from './hdf5.js';
import { readKerasLayout } from './layout.js';

export type { KerasStructure, KerasLayer, KerasLayout, KerasLayerConfig } from './types.js';
export { isKerasStructure } from './types.js';

/** `\x89HDF\r\n\x1a\n`, the HDF5 superblock signature (HDF5 File Format Specification, II.A). */
const HDF5_SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];
/** A file may start with a user block of 512, 1024, 2048, ... bytes before the superblock. */
const USER_BLOCK_OFFSETS = [0, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536];
/** `PK\x03\x04`, a zip local file header. */
const ZIP_SIGNATURE = [0x50, 0x4b, 0x03, 0x04];
/** The entries of a `.keras` archive (keras/src/saving/saving_lib.py). */
const KERAS_ENTRIES = ['metadata.json', 'config.json', 'model.weights.h5'];
const WEIGHTS_ENTRY = 'model.weights.h5';

const startsWith = (bytes: Uint8Array, sig: readonly number[], at = 0) =>
  bytes.length >= at + sig.length && sig.every((b, i) => bytes[at + i] === b);

/** The first local entry's name of a zip (its header is 30 bytes, then the name). */
function firstZipEntry(head: Uint8Array): string | undefined {
  if (!startsWith(head, ZIP_SIGNATURE) || head.length < 30) return undefined;
  const len = head[26] | (head[27] << 8);
  return head.length >= 30 + len ? new TextDecoder().decode(head.subarray(30, 30 + len)) : undefined;
}

function match(probe: Probe): boolean {
  if (probe.isDirectory) return false;
  if (USER_BLOCK_OFFSETS.some((at) => startsWith(probe.head, HDF5_SIGNATURE, at))) return true;
  const entry = firstZipEntry(probe.head);
  return entry !== undefined && (KERAS_ENTRIES.includes(entry) || probe.path.endsWith('.keras'));
}

export interface KerasReadOptions extends ReadOptions, Hdf5Options {}

async function signatureOf(path: string): Promise<'hdf5' | 'zip' | undefined> {
  const fh = await openRegular(path).catch((e: Error) => {
    throw new FormatError('keras', { file: path }, `cannot open: ${e.message}`, { cause: e });
  });
  try {
    const head = new Uint8Array(8);
    for (const at of USER_BLOCK_OFFSETS) {
      const { bytesRead } = await fh.read(head, 0, 8, at);
      if (bytesRead < 8) break;
      if (startsWith(head, HDF5_SIGNATURE)) return 'hdf5';
      if (at === 0 && startsWith(head, ZIP_SIGNATURE)) return 'zip';
    }
    return undefined;
  } finally {
    await fh.close();
  }
}

const h5Failure = (file: string, e: unknown) =>
  e instanceof FormatError
    ? e
    : new FormatError('keras', { file }, `not a readable HDF5 file: ${e instanceof Hdf5Error ? e.message : (e as Error).message}`, { cause: e });

/** Opens a Keras file. Throws FormatError (exit code 3) naming the file and, where it applies, the layer and weight. */
export async function openKeras(path: string, options: KerasReadOptions = {}): Promise<SourceModel> {
  let size: number;
  try {
    const info = await stat(path);
    if (info.isDirectory()) throw new FormatError('keras', { file: path }, 'is a folder, not a Keras file');
    size = info.size;
  } catch (e) {
    if (e instanceof FormatError) throw e;
    throw new FormatError('keras', { file: path }, 'no such file', { cause: e });
  }
  const kind = await signatureOf(path);
  let h5: Hdf5File;
  let file = path;
  let config: unknown;
  let archiveMetadata: Record<string, unknown> | undefined;
  let h5Size = size;
  if (kind === 'zip') {
    const zip = await openZip(path, options);
    try {
      if (!zip.entries.has(WEIGHTS_ENTRY))
        throw new FormatError('keras', { file: path }, `a zip without ${WEIGHTS_ENTRY} (entries: ${[...zip.entries.keys()].slice(0, 5).join(', ') || 'none'}): not a .keras archive`);
      const json = async (name: string): Promise<unknown> => {
        if (!zip.entries.has(name)) return undefined;
        const text = new TextDecoder().decode(await zip.read(name, MAX_JSON_BYTES));
        try {
          return JSON.parse(text) as unknown;
        } catch (e) {
          throw new FormatError('keras', { file: path, tensor: name }, `is not JSON: ${(e as Error).message}`);
        }
      };
      config = await json('config.json');
      archiveMetadata = (await json('metadata.json')) as Record<string, unknown> | undefined;
      const bytes = await zip.read(WEIGHTS_ENTRY, MAX_WEIGHTS_BYTES);
      h5Size = bytes.length;
      file = `${path}!${WEIGHTS_ENTRY}`;
      h5 = await openHdf5({ bytes, name: WEIGHTS_ENTRY }, options).catch((e: unknown) => {
        throw h5Failure(file, e);
      });
    } finally {
      await zip.close();
    }
  } else if (kind === 'hdf5') {
    h5 = await openHdf5({ path: resolve(path) }, options).catch((e: unknown) => {
      throw h5Failure(path, e);
    });
  } else {
    throw new FormatError('keras', { file: path, offset: 0 }, 'neither an HDF5 file nor a zip archive (no signature)');
  }
  try {
    const { structure, tensors, metadata } = readKerasLayout({ file, h5, size: h5Size, config }, archiveMetadata);
    return {
      format: 'keras',
      path,
      files: [path],
      metadata,
      tensors,
      structure,
      close: () => h5.close(),
    };
  } catch (e) {
    await h5.close();
    throw e;
  }
}

export const kerasReader: Reader = {
  format: 'keras',
  description: 'Keras HDF5: legacy .h5 (weights only or whole model), Keras 3 .weights.h5 and .keras archives',
  match,
  open: (path, options) => openKeras(path, options),
};
