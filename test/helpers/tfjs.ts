/**
 * Runs a tfjs model folder in Node with TensorFlow.js itself (`tf.loadLayersModel` + `predict`)
 * on the wasm backend. Node's tfjs (without tfjs-node) has no file:// loader: the IOHandler here
 * reads model.json and the shards with fs and hands tfjs the same artifacts its http loader would.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

type Tf = typeof import('@tensorflow/tfjs');
let tfReady: Promise<Tf> | undefined;

/** tfjs with the wasm backend selected (once per process). */
export function tfjsWasm(): Promise<Tf> {
  tfReady ??= (async () => {
    const tf = await import('@tensorflow/tfjs');
    await import('@tensorflow/tfjs-backend-wasm');
    if (!(await tf.setBackend('wasm'))) throw new Error('the tfjs wasm backend did not initialise');
    await tf.ready();
    return tf;
  })();
  return tfReady;
}

interface ModelJson {
  modelTopology: object;
  weightsManifest: { paths: string[]; weights: import('@tensorflow/tfjs').io.WeightsManifestEntry[] }[];
  format?: string;
  generatedBy?: string;
  convertedBy?: string | null;
  /** A graph-model's inputs and outputs. */
  signature?: object;
  userDefinedMetadata?: { [key: string]: object };
}

/** An IOHandler over a local model folder (layers-model or graph-model), as tfjs's http loader would give it. */
export async function folderHandler(dir: string): Promise<import('@tensorflow/tfjs').io.IOHandler> {
  const json = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8')) as ModelJson;
  return {
    async load() {
      const weightData: ArrayBuffer[] = [];
      for (const g of json.weightsManifest)
        for (const p of g.paths) {
          const b = await readFile(join(dir, p));
          weightData.push(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer);
        }
      return {
        modelTopology: json.modelTopology,
        weightSpecs: json.weightsManifest.flatMap((g) => g.weights),
        weightData,
        format: json.format,
        generatedBy: json.generatedBy,
        convertedBy: json.convertedBy,
        signature: json.signature,
        userDefinedMetadata: json.userDefinedMetadata,
      };
    },
  };
}

export interface TfjsPrediction {
  /** Output layer names, in model order. */
  readonly names: readonly string[];
  readonly outputs: readonly { readonly data: Float32Array; readonly shape: readonly number[] }[];
  readonly loadMs: number;
  readonly predictMs: number;
}

/** Loads the folder with tf.loadLayersModel and predicts one NHWC batch. */
export async function predictFolder(dir: string, input: Float32Array, shape: readonly number[]): Promise<TfjsPrediction> {
  const tf = await tfjsWasm();
  const t0 = performance.now();
  const model = await tf.loadLayersModel(await folderHandler(dir));
  const t1 = performance.now();
  try {
    const x = tf.tensor(input, [...shape]);
    const y = model.predict(x);
    const ys = Array.isArray(y) ? y : [y as import('@tensorflow/tfjs').Tensor];
    const outputs = [];
    for (const t of ys) outputs.push({ data: (await t.data()) as Float32Array, shape: t.shape });
    const t2 = performance.now();
    tf.dispose([x, ...ys]);
    return { names: model.outputNames, outputs, loadMs: t1 - t0, predictMs: t2 - t1 };
  } finally {
    model.dispose();
  }
}
