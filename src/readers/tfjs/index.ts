/**
 * TensorFlow.js reader: `model.json` (layers-model or graph-model) and its weight shards.
 *
 * Each manifest group's shards are one byte stream cut into files; weights lie back to back in
 * manifest order (manifest.ts). `open` checks, from the file sizes alone, that every shard exists
 * and that the shards hold every byte the manifest asks for, and names the weight and the shard
 * where they fall short (tfjs itself only reports a failed slice). Nothing else is read before a
 * tensor's `read()`, which reads its bytes (across shard boundaries when it straddles them) and
 * dequantises uint8 / uint16 weights to float32. float16-quantised weights are handed on as
 * float16.
 *
 * Tensors keep their manifest names (`layer/weight` for layers-models, node names for
 * graph-models) in manifest order; `structure` carries the topology for schemes.
 */
import { stat, type FileHandle } from 'node:fs/promises';
import { openRegular, readRegularFile } from '../../io/files.js';
import { dirname, join, resolve } from 'node:path';
import { FormatError } from '../../errors.js';
import { DTYPE_SIZE } from '../../tensor.js';
import type { Probe, Reader, SourceModel, StoredTensor } from '../types.js';
import { takeBuffer } from '../../io/pool.js';
import {
  dequantize,
  FORMAT,
  MODEL_JSON_MAX_BYTES,
  parseModelJson,
  storedBytes,
  storedDtype,
  type ManifestGroup,
  type ManifestWeight,
  type ModelJson,
} from './manifest.js';

export { parseModelJson } from './manifest.js';

const MODEL_JSON = 'model.json';
/** Most bytes scanned to find the end of a string weight (string tensors are small lookup tables). */
const STRING_SCAN_MAX_BYTES = 64 * 1024 * 1024;

/** One manifest group's shard files as a single byte range. */
interface Shard {
  readonly path: string;
  /** Offset of the shard's first byte in the group's stream. */
  readonly start: number;
  readonly size: number;
  readonly missing: boolean;
}

/** The shard holding group offset `at` (the last shard when past the end). */
const shardAt = (shards: readonly Shard[], at: number): Shard => shards.find((s) => at < s.start + s.size) ?? shards[shards.length - 1];

/**
 * The shard files, each opened once and kept open while the model is (opening and closing a shard
 * for each of IRv2's 900 tensors cost 0.1 s of main-thread time); past MAX_KEPT_SHARDS open at
 * once, a further shard is opened for each read.
 */
interface ShardFiles {
  use<T>(path: string, weight: string, read: (fh: FileHandle) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

const MAX_KEPT_SHARDS = 256;

function shardFiles(): ShardFiles {
  const kept = new Map<string, Promise<FileHandle>>();
  const openShard = (path: string, weight: string) =>
    openRegular(path).catch((e: unknown) => {
      throw new FormatError(FORMAT, { file: path, tensor: weight }, `cannot open the shard: ${(e as Error).message}`, { cause: e });
    });
  return {
    async use(path, weight, read) {
      let fh = kept.get(path);
      if (!fh && kept.size < MAX_KEPT_SHARDS) {
        fh = openShard(path, weight);
        kept.set(path, fh);
        fh.catch(() => kept.delete(path)); // the next read tries again (and names its own weight)
      }
      if (fh) return read(await fh);
      const once = await openShard(path, weight);
      try {
        return await read(once);
      } finally {
        await once.close();
      }
    },
    async close() {
      const all = [...kept.values()];
      kept.clear();
      await Promise.all(all.map((p) => p.then((fh) => fh.close(), () => undefined)));
    },
  };
}

/** Reads `length` bytes at group offset `start`, across shard boundaries. */
async function readRange(files: ShardFiles, shards: readonly Shard[], start: number, length: number, weight: string): Promise<Uint8Array> {
  const out = takeBuffer(length); // filled completely below
  let done = 0;
  while (done < length) {
    const at = start + done;
    const shard = shardAt(shards, at);
    const local = at - shard.start;
    const want = Math.min(length - done, shard.size - local);
    if (want <= 0)
      throw new FormatError(FORMAT, { file: shard.path, tensor: weight, offset: local }, `the shards end ${length - done} bytes before this weight does`);
    await files.use(shard.path, weight, async (fh) => {
      let got = 0;
      while (got < want) {
        const { bytesRead } = await fh.read(out, done + got, want - got, local + got);
        if (bytesRead === 0)
          throw new FormatError(FORMAT, { file: shard.path, tensor: weight, offset: local + got }, `the shard ends early: the manifest needs ${want - got} more bytes here (was it truncated after model.json was written?)`);
        got += bytesRead;
      }
    });
    done += want;
  }
  return out;
}

/** Resolves `path` (a folder or a model.json) to the model.json file. */
async function modelJsonOf(path: string): Promise<string> {
  const info = await stat(path).catch(() => undefined);
  if (!info) throw new FormatError(FORMAT, { file: path }, 'no such file or folder');
  if (!info.isDirectory()) return path;
  const file = join(path, MODEL_JSON);
  if (!(await stat(file).catch(() => undefined))?.isFile()) throw new FormatError(FORMAT, { file }, `the folder has no ${MODEL_JSON}`);
  return file;
}

async function readModelJson(file: string): Promise<ModelJson> {
  const info = await stat(file);
  if (info.size > MODEL_JSON_MAX_BYTES)
    throw new FormatError(FORMAT, { file }, `model.json is ${info.size} bytes, more than the ${MODEL_JSON_MAX_BYTES}-byte limit`);
  const bytes = await readRegularFile(file).catch((e: Error) => {
    throw new FormatError(FORMAT, { file }, `cannot read: ${e.message}`, { cause: e });
  });
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (e) {
    throw new FormatError(FORMAT, { file }, 'model.json is not UTF-8 text', { cause: e });
  }
  return parseModelJson(text, file);
}

/**
 * The shard to blame when the shards hold fewer bytes than the manifest needs: the converter cuts
 * every shard but the last to one size, so the first shard smaller than the others is the
 * truncated one; otherwise it is the last.
 */
function shortShard(shards: readonly Shard[]): Shard {
  const full = Math.max(...shards.map((s) => s.size));
  return shards.slice(0, -1).find((s) => s.size < full) ?? shards[shards.length - 1];
}

/** Lays out one group: shard sizes, each weight's offset; checks that every byte is there. */
async function layoutGroup(files: ShardFiles, group: ManifestGroup, gi: number, dir: string, file: string): Promise<{ shards: Shard[]; offsets: number[]; needed: number }> {
  const shards: Shard[] = [];
  let start = 0;
  for (const p of group.paths) {
    const path = resolve(dir, p);
    const info = await stat(path).catch(() => undefined);
    if (info && !info.isFile()) throw new FormatError(FORMAT, { file: path }, `weightsManifest[${gi}] names a shard that is not a file`);
    const size = info?.size ?? 0;
    shards.push({ path, start, size, missing: !info });
    start += size;
  }
  const missing = shards.find((s) => s.missing);
  // Bytes that can be read: up to the first missing shard.
  const available = missing ? missing.start : start;
  const total = start;
  const offsets: number[] = [];
  let at = 0;
  const check = (w: ManifestWeight, begin: number, end: number): void => {
    if (end <= available) return;
    if (missing)
      throw new FormatError(FORMAT, { file: missing.path, tensor: w.name }, `this shard, listed in ${file} (weightsManifest[${gi}].paths), does not exist`);
    const short = shortShard(shards);
    throw new FormatError(
      FORMAT,
      { file: short.path, tensor: w.name, offset: Math.max(0, begin - short.start) },
      `the manifest puts this weight at bytes ${begin}..${end} of weight group ${gi}, but its ${shards.length} shard(s) hold ${total} bytes (this shard is ${short.size} bytes): truncated?`,
    );
  };
  for (const w of group.weights) {
    offsets.push(at);
    let size = storedBytes(w);
    if (size === undefined) {
      // A string tensor: each element is a u32 byte count, then the bytes (io_utils.ts). Its size
      // is known only by walking them: read what is left of the group (bounded) once.
      check(w, at, at + 4 * w.elements);
      const rest = Math.min(available - at, STRING_SCAN_MAX_BYTES);
      const bytes = await readRange(files, shards, at, rest, w.name);
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      size = 0;
      for (let i = 0; i < w.elements; i++) {
        if (size + 4 > rest) {
          if (rest === STRING_SCAN_MAX_BYTES) throw new FormatError(FORMAT, { file, tensor: w.name }, `a string weight of more than ${STRING_SCAN_MAX_BYTES} bytes is not supported`);
          check(w, at, at + size + 4); // throws: the shards end inside the string
        }
        size += 4 + view.getUint32(size, true);
      }
    }
    if (size > 0) check(w, at, at + size);
    at += size;
  }
  if (missing) throw new FormatError(FORMAT, { file: missing.path }, `this shard, listed in ${file} (weightsManifest[${gi}].paths), does not exist`);
  return { shards, offsets, needed: at };
}

async function openTfjs(path: string): Promise<SourceModel> {
  const file = await modelJsonOf(path);
  const json = await readModelJson(file);
  const shardHandles = shardFiles();
  try {
    const dir = dirname(resolve(file));
    const tensors: StoredTensor[] = [];
    const files = [file];
    const skipped: string[] = [];
    const quantized: Record<string, number> = {};
    let trailingBytes = 0;
    for (const [gi, group] of json.groups.entries()) {
      const { shards, offsets, needed } = await layoutGroup(shardHandles, group, gi, dir, file);
      files.push(...shards.map((s) => s.path));
      trailingBytes += shards.reduce((n, s) => n + s.size, 0) - needed;
      group.weights.forEach((w, wi) => {
        const dtype = storedDtype(w);
        if (!dtype) {
          skipped.push(`${w.name} (${w.dtype})`);
          return;
        }
        const start = offsets[wi];
        const raw = storedBytes(w)!;
        const home = shardAt(shards, start);
        const contiguous = raw === 0 || start + raw <= home.start + home.size;
        const q = w.quantization;
        if (q) quantized[q.dtype] = (quantized[q.dtype] ?? 0) + 1;
        const affine = q && q.dtype !== 'float16';
        tensors.push({
          name: w.name,
          dtype,
          shape: w.shape,
          byteLength: affine ? w.elements * DTYPE_SIZE[dtype] : raw,
          file: home?.path,
          ...(contiguous && !affine && home ? { offset: start - home.start } : {}),
          freshReads: true, // readRange and dequantize make a new array per read
          async read() {
            const bytes = await readRange(shardHandles, shards, start, raw, w.name);
            return affine ? dequantize(w, bytes) : bytes;
          },
        });
      });
    }
    return {
      format: 'tfjs',
      path,
      files,
      metadata: {
        modelFormat: json.format ?? (json.modelTopology && typeof json.modelTopology === 'object' && 'node' in json.modelTopology ? 'graph-model' : 'layers-model'),
        ...(json.generatedBy !== undefined ? { generatedBy: json.generatedBy } : {}),
        ...(json.convertedBy !== undefined ? { convertedBy: json.convertedBy } : {}),
        ...(json.userDefinedMetadata !== undefined ? { userDefinedMetadata: json.userDefinedMetadata } : {}),
        weightGroups: json.groups.length,
        shards: files.length - 1,
        ...(Object.keys(quantized).length ? { quantized } : {}),
        ...(skipped.length ? { skipped } : {}),
        ...(trailingBytes > 0 ? { trailingBytes } : {}),
      },
      tensors,
      structure: {
        format: json.format,
        modelTopology: json.modelTopology,
        ...(json.signature !== undefined ? { signature: json.signature } : {}),
        ...(json.modelInitializer !== undefined ? { modelInitializer: json.modelInitializer } : {}),
      },
      close: () => shardHandles.close(),
    };
  } catch (e) {
    await shardHandles.close();
    throw e;
  }
}

const HEAD_KEYS = /"(weightsManifest|modelTopology)"\s*:|"format"\s*:\s*"(layers|graph)-model"/;

export const tfjsReader: Reader = {
  format: 'tfjs',
  description: 'TensorFlow.js model.json (layers-model or graph-model) with its weight shards',
  match(probe: Probe): boolean {
    if (probe.isDirectory) return probe.siblings.includes(MODEL_JSON);
    const text = new TextDecoder().decode(probe.head);
    return /^\s*\{/.test(text) && HEAD_KEYS.test(text);
  },
  open: (path) => openTfjs(path),
};
