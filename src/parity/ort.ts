/**
 * onnxruntime-node on the CPU (or CUDA). Loaded on demand; intra-op threads = the machine's cores
 * (the default behaved like one thread on the 2-core machines, DESIGN.md).
 */
import { availableParallelism } from 'node:os';

export interface OrtRun {
  /** Output name -> values, in the model's output order. */
  readonly outputs: Map<string, { data: Float32Array; dims: readonly number[] }>;
  /** Session creation (with loading onnxruntime on first use) and the first inference, ms. */
  readonly createMs: number;
  readonly runMs: number;
  /** Every inference when `repeat` > 1, ms (the first is `runMs`). */
  readonly allRunMs: readonly number[];
}

export interface OrtOptions {
  /** Outputs to fetch by name (default all, in the model's order). */
  readonly outputs?: readonly string[];
  /** Intra-op threads; default the machine's cores. */
  readonly threads?: number;
  /** Execution provider; default `cpu`. */
  readonly provider?: 'cpu' | 'cuda';
  /** Inferences to run (timing); the outputs are the last run's. Default 1. */
  readonly repeat?: number;
}

export async function runOnnx(modelPath: string, input: { data: Float32Array; dims: readonly number[] }, options: OrtOptions = {}): Promise<OrtRun> {
  // Session creation counts loading onnxruntime (first use) too: what the engine needs before it runs.
  const t0 = performance.now();
  const ort = await import('onnxruntime-node');
  const session = await ort.InferenceSession.create(modelPath, {
    intraOpNumThreads: options.threads ?? availableParallelism(),
    executionProviders: [options.provider ?? 'cpu'],
  });
  const t1 = performance.now();
  try {
    const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', input.data, [...input.dims]) };
    const names = options.outputs ?? session.outputNames;
    const runs: number[] = [];
    let result!: Awaited<ReturnType<typeof session.run>>;
    for (let r = 0; r < Math.max(1, options.repeat ?? 1); r++) {
      const start = performance.now();
      result = options.outputs ? await session.run(feeds, [...options.outputs]) : await session.run(feeds);
      runs.push(performance.now() - start);
    }
    const outputs = new Map<string, { data: Float32Array; dims: readonly number[] }>();
    for (const name of names) {
      const t = result[name];
      outputs.set(name, { data: t.data as Float32Array, dims: t.dims });
    }
    return { outputs, createMs: t1 - t0, runMs: runs[0], allRunMs: runs };
  } finally {
    await session.release();
  }
}
