/**
 * onnxruntime-node on the CPU. Loaded on demand; intra-op threads = the machine's cores (the
 * default behaved like one thread on the 2-core machines, DESIGN.md).
 */
import { availableParallelism } from 'node:os';

export interface OrtRun {
  /** Output name -> values, in the model's output order. */
  readonly outputs: Map<string, { data: Float32Array; dims: readonly number[] }>;
  /** Session creation and one inference, ms. */
  readonly createMs: number;
  readonly runMs: number;
}

export async function runOnnx(
  modelPath: string,
  input: { data: Float32Array; dims: readonly number[] },
  options: { outputs?: readonly string[]; threads?: number } = {},
): Promise<OrtRun> {
  const ort = await import('onnxruntime-node');
  const t0 = performance.now();
  const session = await ort.InferenceSession.create(modelPath, {
    intraOpNumThreads: options.threads ?? availableParallelism(),
    executionProviders: ['cpu'],
  });
  const t1 = performance.now();
  try {
    const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', input.data, [...input.dims]) };
    const result = options.outputs ? await session.run(feeds, [...options.outputs]) : await session.run(feeds);
    const t2 = performance.now();
    const outputs = new Map<string, { data: Float32Array; dims: readonly number[] }>();
    for (const name of options.outputs ?? session.outputNames) {
      const t = result[name];
      outputs.set(name, { data: t.data as Float32Array, dims: t.dims });
    }
    return { outputs, createMs: t1 - t0, runMs: t2 - t1 };
  } finally {
    await session.release();
  }
}
