/**
 * TensorFlow.js writer, layers-model (default) or graph-model (`tfjsFormat`): `-o` names a folder
 * that receives `model.json` and the weight shards `group1-shard{i}of{n}.bin`, as
 * tensorflowjs_converter lays them out
 * (tfjs-converter/python/tensorflowjs/write_weights.py): one weight group, its weights
 * concatenated in manifest order and cut into shards of `shardSize` bytes (4 MiB by default, the
 * converter's default: small enough for browser caches), a weight may straddle two shards.
 *
 * - Topology: topology.ts (layers-model: standard tfjs layers only, NHWC) or graph-model.ts
 *   (graph-model: a frozen TF GraphDef). Each is a `TfjsPlan`; the weights are written alike.
 * - Names and layouts: schemes/tfjs.ts (`tfjsNaming`), which the tfjs scheme reads back with.
 * - float16: tfjs has no float16 weight dtype; the converter stores half floats as a
 *   *quantization* of a float32 weight (`dtype: 'float32', quantization: {dtype: 'float16'}`,
 *   tfjs-core/src/io/types.ts `WeightsManifestEntry`), which tfjs expands on load. So does this,
 *   for every weight, as the ONNX writer does (the parity check compares with the source rounded
 *   to float16). Where the residual scale is folded, the rounded value is that of s·W: it differs
 *   from s·fp16(W) by up to half a float16 ulp.
 * - Streaming: one parameter at a time is read, laid out, converted and appended to the shards;
 *   every file is written under a temporary name and renamed at the end (io/output.ts), model.json
 *   last, so that a reader never finds a model.json without its shards.
 */
import { mkdir, readdir, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { OutputError, UsageError } from '../../errors.js';
import { sizeOf } from '../../graphs/ir.js';
import { tfjsLayerName, tfjsNaming } from '../../graphs/schemes/tfjs.js';
import type { NamedTensor } from '../../graphs/schemes/types.js';
import { writeOutputs } from '../../io/output.js';
import { openSink, readAhead, storedPiece, type Sink } from '../../io/stream.js';
import { bytesOf, float16BitsToFloat32, toFloat16 } from '../../tensor.js';
import { createModel, settledProvenance, type CanonicalModel, type ParamSource, type SettledProvenance } from '../../model.js';
import { toFloat16Checked } from '../float16.js';
import type { Writer, WriteOptions, WriteResult } from '../types.js';
import { buildTopology } from './topology.js';
import { graphModelPlan } from './graph-model.js';

/** tensorflowjs_converter's default shard size (write_weights.py, `shard_size_bytes`). */
export const DEFAULT_SHARD_BYTES = 4 * 1024 * 1024;
export const MODEL_JSON = 'model.json';
/** The shard names tfjs writes (`group{g}-shard{i}of{n}.bin`, 1-based). */
export const shardName = (i: number, n: number, group = 1): string => `group${group}-shard${i}of${n}.bin`;
const SHARD_PATTERN = /^group\d+-shard\d+of\d+\.bin$/;

/** An entry of model.json's `weightsManifest[].weights` (tfjs-core/src/io/types.ts). */
export interface TfjsWeightEntry {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: 'float32' | 'int32';
  readonly quantization?: { readonly dtype: 'float16' };
}

/** What a layers-model and a graph-model differ in; their weights are written alike (`write`). */
export interface TfjsPlan {
  /** The parameters in manifest order, with their tfjs names and layouts (`tfjsNaming`). */
  readonly named: readonly NamedTensor[];
  /** int32 operands (graph-model axes and shapes), stored after the parameters. */
  readonly constants: readonly { readonly name: string; readonly shape: readonly number[]; readonly data: Int32Array }[];
  /** model.json's format and the fields that describe the model (`modelTopology`, a graph-model's `signature`). */
  readonly format: 'layers-model' | 'graph-model';
  readonly topology: Readonly<Record<string, unknown>>;
  /** What userDefinedMetadata.weightport says of the input, the outputs and the blocks. */
  readonly input: Readonly<Record<string, unknown>>;
  readonly outputs: readonly unknown[];
  readonly blocks: readonly unknown[];
}

/** model.json: the plan's own fields, the weights manifest and weightport's metadata. */
function modelJson(plan: TfjsPlan, graph: CanonicalModel['graph'], weightsManifest: { paths: string[]; weights: TfjsWeightEntry[] }[], provenance: SettledProvenance): object {
  return {
    format: plan.format,
    generatedBy: 'weightport',
    convertedBy: 'weightport',
    weightsManifest,
    ...plan.topology,
    userDefinedMetadata: {
      weightport: {
        arch: graph.arch,
        options: graph.options,
        naming: 'tfjs',
        residualScaleFolded: true,
        input: { ...plan.input, layout: 'NHWC', range: [-1, 1] },
        outputs: plan.outputs,
        ...(plan.blocks.length ? { blocks: plan.blocks } : {}),
        provenance,
      },
    },
  };
}

/**
 * The folder `-o` names: created when its parent exists; an existing folder must be empty (or
 * `force`). Returns whether it was created (so that an error can remove it again).
 */
async function prepareFolder(dir: string, force: boolean): Promise<boolean> {
  const info = await stat(dir).catch(() => undefined);
  if (info) {
    if (!info.isDirectory()) throw new OutputError(dir, 'exists and is not a folder (tfjs writes a folder: model.json + shards)');
    if (!force && (await readdir(dir)).length > 0)
      throw new OutputError(dir, 'is a folder that is not empty (use --force to overwrite a tfjs model there)');
    return false;
  }
  const parent = dirname(resolve(dir));
  const p = await stat(parent).catch(() => undefined);
  if (!p?.isDirectory()) throw new OutputError(dir, `the folder ${parent} does not exist`);
  try {
    await mkdir(dir);
  } catch (e) {
    throw new OutputError(dir, `cannot create the folder: ${(e as Error).message}`, { cause: e });
  }
  return true;
}

/**
 * Appends bytes to the shard files in turn, `shardSize` bytes each (a weight may straddle two);
 * a full shard is closed (flushed) while the next one fills.
 */
async function openShards(paths: readonly string[], shardSize: number) {
  let index = -1;
  let sink: Sink | undefined;
  const closing: Promise<void>[] = [];
  const next = async () => {
    if (sink) {
      const done = sink.close();
      done.catch(() => undefined); // awaited in close()
      closing.push(done);
    }
    sink = await openSink(paths[++index]);
  };
  return {
    /** `written` runs once every part of `bytes` is on disk (a weight may straddle shards). */
    async put(bytes: Uint8Array, written?: () => void): Promise<void> {
      let parts = 0;
      let done = 0;
      let cut = false;
      const partWritten = written && (() => ++done === parts && cut && written());
      for (let at = 0; at < bytes.length; ) {
        if (!sink || sink.position === shardSize) await next();
        const n = Math.min(bytes.length - at, shardSize - sink!.position);
        parts++;
        await sink!.put(bytes.subarray(at, at + n), partWritten);
        at += n;
      }
      cut = true;
      if (written && done === parts) written(); // every part was already written meanwhile
    },
    /** Closes every shard (an empty model still gets its one empty shard). */
    async close(): Promise<void> {
      if (!sink) await next();
      closing.push(sink!.close());
      await Promise.all(closing);
    },
  };
}

async function write(model: Parameters<Writer['write']>[0], outPath: string, options: WriteOptions = {}): Promise<WriteResult> {
  const shardSize = options.shardSize ?? DEFAULT_SHARD_BYTES;
  if (!Number.isSafeInteger(shardSize) || shardSize < 1) throw new UsageError(`--shard-size must be a positive whole number of bytes, got ${shardSize}`);
  const dtype = options.dtype ?? 'float32';
  // Check that the graph can be expressed before touching the file system.
  const plan = options.tfjsFormat === 'graph-model' ? graphModelPlan(model, options) : layersModelPlan(model, options);
  const { named, constants } = plan;
  const params = new Map(model.params.map((p) => [p.name, p]));
  const half = dtype === 'float16';
  const total = named.reduce((sum, t) => sum + sizeOf(t.shape) * (half ? 2 : 4), 0) + constants.reduce((sum, c) => sum + c.data.byteLength, 0);
  const shardCount = Math.max(1, Math.ceil(total / shardSize));
  const shards = Array.from({ length: shardCount }, (_, i) => shardName(i + 1, shardCount));
  const dir = outPath;
  const targets = [join(dir, MODEL_JSON), ...shards.map((s) => join(dir, s))]; // model.json is renamed into place last

  const created = await prepareFolder(dir, Boolean(options.force));
  try {
    await writeOutputs(targets, { force: options.force, beforeCommit: options.beforeCommit }, async (tmp) => {
      const sink = await openShards(
        shards.map((s) => tmp(join(dir, s))),
        shardSize,
      );
      try {
        const tasks = named.map((t) => async () => {
          const p = params.get(t.param!);
          if (!p) throw new Error(`the model has no parameter ${t.param}`);
          const tr = t.transform!;
          const store = tr.name === 'none' ? undefined : (d: Float32Array, into?: Float32Array) => tr.store(d, p.shape, into);
          return storedPiece(await p.read(), p.freshReads === true, store, half, (a) => toFloat16Checked(a, t.name));
        });
        options.onProgress?.(0, named.length);
        let done = 0;
        for await (const { bytes, written } of readAhead(tasks, named.map((t) => sizeOf(t.shape) * (half ? 2 : 4)))) {
          await sink.put(bytes, written);
          options.onProgress?.(done + 1, named.length); // (`?.` skips evaluating its arguments)
          done++;
        }
        for (const c of constants) await sink.put(bytesOf(c.data));
      } finally {
        await sink.close();
      }
      const weights: TfjsWeightEntry[] = [
        ...named.map((t) => ({
          name: t.name,
          shape: [...t.shape],
          dtype: 'float32' as const,
          ...(half ? { quantization: { dtype: 'float16' as const } } : {}),
        })),
        ...constants.map((c) => ({ name: c.name, shape: [...c.shape], dtype: 'int32' as const })),
      ];
      const manifest = [{ paths: shards, weights }];
      // Last: the provenance may still be being computed (the source's SHA-256).
      await writeFile(tmp(join(dir, MODEL_JSON)), JSON.stringify(modelJson(plan, model.graph, manifest, await settledProvenance(model.provenance))));
    });
  } catch (e) {
    if (created) await rmdir(dir).catch(() => undefined);
    throw e;
  }
  // With --force over an older model: shards that the new manifest does not list go.
  if (options.force)
    for (const f of await readdir(dir))
      if (SHARD_PATTERN.test(f) && !shards.includes(f)) await rm(join(dir, f), { force: true });

  let bytes = 0;
  for (const t of targets) bytes += (await stat(t)).size;
  return { files: targets, bytes };
}

/** The layers-model: a Keras functional topology (topology.ts). */
function layersModelPlan(model: CanonicalModel, options: WriteOptions): TfjsPlan {
  const graph = model.graph;
  const topology = buildTopology(graph, { exposeBlocks: options.exposeBlocks });
  // tfjsNaming lists weights in graph order; the manifest lists them as tfjs's `model.weights`
  // does (and so `model.save` writes them): the trainable weights in tfjs's layer order, then the
  // non-trainable ones (BN moving statistics) in that order (tfjs-layers container.ts `weights`).
  const layerRank = new Map(topology.modelTopology.config.layers.map((l, i) => [l.name, i]));
  const rank = (name: string) => layerRank.get(name.slice(0, name.lastIndexOf('/'))) ?? -1;
  const frozen = (name: string) => (/\/moving_(mean|variance)$/.test(name) ? 1 : 0);
  const named = tfjsNaming
    .layout(graph)
    .map((t, i) => ({ t, i }))
    .sort((a, b) => frozen(a.t.name) - frozen(b.t.name) || rank(a.t.name) - rank(b.t.name) || a.i - b.i)
    .map(({ t }) => t);
  return {
    named,
    constants: [],
    format: 'layers-model',
    topology: { modelTopology: topology.modelTopology },
    input: { layer: tfjsLayerName(graph.input.name) },
    outputs: topology.outputs,
    blocks: topology.blocks,
  };
}

/**
 * The canonical model that a float16 tfjs file of `model` holds: each weight laid out as stored
 * (residual scale folded in), rounded to float16, read back (scale divided out again). Where no
 * scale is folded this is the model rounded to float16; for the folded up-projections it is
 * fp16(s·W)/s, not fp16(W). Parity compares a float16 tfjs file with this.
 */
export function tfjsFloat16Model(model: CanonicalModel): CanonicalModel {
  const byParam = new Map(tfjsNaming.layout(model.graph).map((t) => [t.param!, t]));
  const values = new Map<string, ParamSource>();
  for (const p of model.params) {
    const t = byParam.get(p.name)!;
    values.set(p.name, async () => {
      const stored = t.transform!.store(await p.read(), p.shape);
      const h = toFloat16(stored);
      const rounded = new Float32Array(h.length);
      for (let i = 0; i < h.length; i++) rounded[i] = float16BitsToFloat32(h[i]);
      return t.transform!.apply(rounded, t.shape, rounded);
    });
  }
  return createModel(model.graph, values, model.provenance);
}

export const tfjsWriter: Writer = {
  format: 'tfjs',
  description: `TensorFlow.js layers-model or graph-model: a folder with ${MODEL_JSON} and ${basename(shardName(1, 1)).replace('1of1', '{i}of{n}')} weight shards`,
  write,
};
