/**
 * Runs a TensorFlow.js model folder (`model.json` + weight shards) on one tfjs backend: `wasm`,
 * `webgpu` or `tensorflow` (tfjs-node-gpu). tfjs is imported on first use only.
 *
 * One backend at a time: tfjs keeps one global engine, and moving a tensor off the WebGPU backend
 * synchronously fails in Node (it wants an OffscreenCanvas). So each run selects its backend,
 * loads the model there, reads its outputs asynchronously and disposes everything.
 */
import { readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { FormatError } from '../errors.js';
import type { Output } from './compare.js';
import { nchwToNhwc } from './input.js';

export type TfjsBackend = 'wasm' | 'webgpu' | 'tensorflow';

// The public types of @tensorflow/tfjs, imported for types only (erased at run time).
type Tf = typeof import('@tensorflow/tfjs');
type Tensor = import('@tensorflow/tfjs').Tensor;

let tfPromise: Promise<Tf> | undefined;
const registered = new Set<TfjsBackend>();

/** Imports tfjs and the module that registers `backend`; returns the tfjs namespace to use. */
export async function loadTfjs(backend: TfjsBackend): Promise<Tf> {
  if (backend === 'tensorflow') {
    // tfjs-node-gpu brings its own tfjs (and binds libtensorflow); never installed by us.
    const name = '@tensorflow/tfjs-node-gpu';
    const tf = (await import(name)) as Tf;
    registered.add(backend);
    return tf;
  }
  tfPromise ??= import('@tensorflow/tfjs');
  const tf = await tfPromise;
  if (!registered.has(backend)) {
    if (backend === 'wasm') await import('@tensorflow/tfjs-backend-wasm');
    else {
      const { setupWebGpu } = await import('./webgpu.js');
      await setupWebGpu();
      await import('@tensorflow/tfjs-backend-webgpu');
    }
    registered.add(backend);
  }
  return tf;
}

/** The model.json of a tfjs model given as its folder or the file itself. */
export async function modelJsonPath(path: string): Promise<string> {
  const info = await stat(path).catch(() => undefined);
  if (!info) throw new FormatError('tfjs', { file: path }, 'no such file or folder');
  return info.isDirectory() ? join(path, 'model.json') : path;
}

interface ModelJson {
  format?: string;
  modelTopology?: unknown;
  weightsManifest?: Array<{ paths: string[]; weights: Array<{ name: string; shape: number[]; dtype: string }> }>;
  generatedBy?: string;
  convertedBy?: string | null;
  signature?: unknown;
  userDefinedMetadata?: Record<string, unknown>;
}

/** An IOHandler over local files: Node's tfjs (without tfjs-node) has no file:// loader. */
async function fileHandler(jsonPath: string): Promise<{ handler: import('@tensorflow/tfjs').io.IOHandler; json: ModelJson }> {
  let json: ModelJson;
  try {
    json = JSON.parse(await readFile(jsonPath, 'utf8')) as ModelJson;
  } catch (e) {
    throw new FormatError('tfjs', { file: jsonPath }, `not a tfjs model.json: ${(e as Error).message}`, { cause: e });
  }
  if (!json.modelTopology || !Array.isArray(json.weightsManifest))
    throw new FormatError('tfjs', { file: jsonPath }, 'model.json has no modelTopology or weightsManifest');
  const dir = dirname(jsonPath);
  const handler = {
    async load() {
      const weightSpecs = [];
      const weightData: ArrayBuffer[] = [];
      for (const group of json.weightsManifest!) {
        weightSpecs.push(...group.weights);
        for (const p of group.paths) {
          const buf = await readFile(join(dir, p));
          weightData.push(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer);
        }
      }
      return {
        modelTopology: json.modelTopology as object,
        format: json.format,
        generatedBy: json.generatedBy,
        convertedBy: json.convertedBy ?? undefined,
        signature: json.signature as object | undefined,
        userDefinedMetadata: json.userDefinedMetadata as { [key: string]: object } | undefined,
        weightSpecs: weightSpecs as import('@tensorflow/tfjs').io.WeightsManifestEntry[],
        weightData,
      };
    },
  };
  return { handler, json };
}

/**
 * A graph-model's outputs: `execute`, which needs no control flow (weightport's graphs have none;
 * `executeAsync` on such a graph warns on stderr), else `executeAsync`, which tfjs asks for then.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function executeGraph(model: any, x: Tensor, outputs: string[]): Promise<Tensor | Tensor[]> {
  try {
    return model.execute(x, outputs);
  } catch (e) {
    if (/executeAsync/.test((e as Error).message)) return model.executeAsync(x, outputs);
    throw e;
  }
}

export interface TfjsRun {
  /** Output name -> values (NHWC maps), in the model's output order. */
  readonly outputs: Map<string, Output>;
  /** Loading tfjs and the backend (first use), then the model (parse, weights uploaded to the backend), ms. */
  readonly createMs: number;
  /** Each inference, ms (the first includes WebGPU's shader compilation). */
  readonly runMs: readonly number[];
  /**
   * Block outputs as weightport's tfjs writer records them (model.json
   * `userDefinedMetadata.weightport.blocks`): block name -> output name.
   */
  readonly blocks: ReadonlyArray<{ readonly block: string; readonly output: string }>;
}

/**
 * Loads the model on `backend`, runs it on an NCHW input (transposed to NHWC here) `repeat`
 * times, and returns the named outputs of the last run. `outputs` picks some of the model's
 * outputs by name (default all).
 */
export async function runTfjs(
  backend: TfjsBackend,
  path: string,
  input: { data: Float32Array; dims: readonly number[] },
  options: { outputs?: readonly string[]; repeat?: number } = {},
): Promise<TfjsRun> {
  // Session creation counts what the engine needs before it can run: its library, the backend
  // (compiling the wasm module, opening the WebGPU device) and the model.
  const t0 = performance.now();
  const tf = await loadTfjs(backend);
  if (!(await tf.setBackend(backend))) throw new Error(`tfjs backend '${backend}' did not initialise`);
  await tf.ready();
  const jsonPath = await modelJsonPath(path);
  const { handler, json } = await fileHandler(jsonPath);
  const graphModel = json.format === 'graph-model';
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const model: any = graphModel ? await tf.loadGraphModel(handler) : await tf.loadLayersModel(handler);
  const names: string[] = graphModel ? model.outputNodes : model.outputNames;
  let runner = model;
  let picked = names;
  if (options.outputs) {
    const missing = options.outputs.filter((n) => !names.includes(n));
    if (missing.length) throw new Error(`${jsonPath}: no output named ${missing.join(', ')} (outputs: ${names.join(', ')})`);
    picked = [...options.outputs];
    if (!graphModel && picked.join() !== names.join())
      runner = tf.model({ inputs: model.inputs, outputs: picked.map((n) => model.outputs[names.indexOf(n)]) });
  }
  const [n, c, h, w] = input.dims;
  const x = tf.tensor4d(nchwToNhwc(input.data, input.dims), [n, h, w, c], 'float32');
  // A warm-up would hide the first run's cost from the check; weights are uploaded by now.
  const t1 = performance.now();
  const runMs: number[] = [];
  const outputs = new Map<string, Output>();
  try {
    for (let r = 0; r < Math.max(1, options.repeat ?? 1); r++) {
      const start = performance.now();
      const y: Tensor | Tensor[] = graphModel ? await executeGraph(model, x, picked) : runner.predict(x);
      const list: Tensor[] = Array.isArray(y) ? y : [y];
      const datas = await Promise.all(list.map((t) => t.data() as Promise<Float32Array>));
      runMs.push(performance.now() - start);
      outputs.clear();
      list.forEach((t, i) => outputs.set(picked[i], { data: datas[i], dims: t.shape }));
      tf.dispose(list);
    }
  } finally {
    x.dispose();
    model.dispose?.();
  }
  const meta = (json.userDefinedMetadata?.weightport ?? {}) as { blocks?: Array<{ block: string; output: number }> };
  const blocks = (meta.blocks ?? []).filter((b) => names[b.output] !== undefined && outputs.has(names[b.output])).map((b) => ({ block: b.block, output: names[b.output] }));
  return { outputs, createMs: t1 - t0, runMs, blocks };
}
