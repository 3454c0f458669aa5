/**
 * The parity engines: an explicit array, one entry per engine. Each runs a written model file
 * (ONNX for onnxruntime, a tfjs layers-model or graph-model folder for tfjs) on an NCHW input and
 * returns its named outputs and timings. Engine modules (onnxruntime, tfjs, Dawn) load inside `run` and
 * `available`, never when this file is imported.
 */
import { existsSync, readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import type { Layout, Output } from './compare.js';
import { probeGpu } from './gpu.js';

export const ENGINE_NAMES = ['ort', 'tfjs-wasm', 'webgpu', 'tfjs-node-gpu', 'ort-cuda'] as const;
export type EngineName = (typeof ENGINE_NAMES)[number];

/** The model format an engine runs. */
export type ModelKind = 'onnx' | 'tfjs';

export type Availability = { readonly ok: true; readonly device: string } | { readonly ok: false; readonly reason: string };

export interface EngineRunOptions {
  /** Outputs to return, by name; default all of the model's outputs. */
  readonly outputs?: readonly string[];
  /** Inferences to run (timing: the outputs are the last run's). Default 1. */
  readonly repeat?: number;
}

export interface EngineRun {
  readonly engine: EngineName;
  /** Output name -> values in the engine's layout (`layout`), in the model's output order. */
  readonly outputs: Map<string, Output>;
  readonly layout: Layout;
  /** Session creation / model loading, ms. */
  readonly createMs: number;
  /** The first inference, ms (for WebGPU it includes compiling the shaders). */
  readonly runMs: number;
  /** Every inference, ms, when `repeat` > 1. */
  readonly allRunMs: readonly number[];
  /** What ran it: `CPU, 2 threads`, the WebGPU adapter, the GPU's name. */
  readonly device: string;
  /** The name of the main output (the logits or probabilities): the model's first output. */
  readonly main: string;
  /** Outputs that hold a block's value (writers' `exposeBlocks`), in the model's order. */
  readonly blocks: ReadonlyArray<{ readonly block: string; readonly output: string }>;
}

/** ONNX outputs that are not blocks: the main output (first) and the auxiliary head. */
const ONNX_NON_BLOCK = new Set(['aux_logits']);

export interface Engine {
  readonly name: EngineName;
  readonly description: string;
  readonly kind: ModelKind;
  readonly layout: Layout;
  /** Whether the engine can run here; the reason when not. May load the engine's module. */
  available(): Promise<Availability>;
  run(model: string, input: { data: Float32Array; dims: readonly number[] }, options?: EngineRunOptions): Promise<EngineRun>;
}

const require = createRequire(import.meta.url);

/** Whether a package resolves from here, without loading it. */
function resolvable(name: string): boolean {
  try {
    require.resolve(`${name}/package.json`);
    return true;
  } catch {
    try {
      require.resolve(name);
      return true;
    } catch {
      return false;
    }
  }
}

const cpuDevice = () => `CPU, ${availableParallelism()} threads`;

/** onnxruntime-node's CUDA provider library, which its installer fetches only when asked to. */
function ortCudaProvider(): string | undefined {
  try {
    const root = dirname(require.resolve('onnxruntime-node/package.json'));
    const binDir = join(root, 'bin');
    for (const napi of readdirSync(binDir)) {
      const lib = join(binDir, napi, process.platform, process.arch, 'libonnxruntime_providers_cuda.so');
      if (existsSync(lib)) return lib;
    }
  } catch {
    // not installed
  }
  return undefined;
}

const ortEngine = (name: 'ort' | 'ort-cuda'): Engine => ({
  name,
  description: name === 'ort' ? 'onnxruntime-node, CPU execution provider' : 'onnxruntime-node, CUDA execution provider',
  kind: 'onnx',
  layout: 'NCHW',
  async available() {
    if (!resolvable('onnxruntime-node')) return { ok: false, reason: 'onnxruntime-node is not installed' };
    if (name === 'ort') return { ok: true, device: cpuDevice() };
    const gpu = probeGpu();
    const reasons: string[] = [];
    if (!gpu.nvidia) reasons.push('no NVIDIA GPU (no /dev/nvidia0, no /proc/driver/nvidia)');
    if (!ortCudaProvider())
      reasons.push('onnxruntime-node has no CUDA provider (libonnxruntime_providers_cuda.so; install it with --onnxruntime-node-install-cuda)');
    return reasons.length ? { ok: false, reason: reasons.join('; ') } : { ok: true, device: gpu.names.join(', ') || 'NVIDIA GPU' };
  },
  async run(model, input, options = {}) {
    const { runOnnx } = await import('./ort.js');
    const r = await runOnnx(model, input, { outputs: options.outputs, repeat: options.repeat, provider: name === 'ort' ? 'cpu' : 'cuda' });
    const device = name === 'ort' ? cpuDevice() : probeGpu().names.join(', ') || 'NVIDIA GPU';
    const names = [...r.outputs.keys()];
    // weightport's ONNX writer names each exposed block's output after the block.
    const blocks = names.slice(1).filter((n) => !ONNX_NON_BLOCK.has(n)).map((n) => ({ block: n, output: n }));
    return { engine: name, outputs: r.outputs, layout: 'NCHW', createMs: r.createMs, runMs: r.runMs, allRunMs: r.allRunMs, device, main: names[0], blocks };
  },
});

const tfjsEngine = (name: 'tfjs-wasm' | 'webgpu' | 'tfjs-node-gpu', backend: 'wasm' | 'webgpu' | 'tensorflow', description: string): Engine => {
  let device = '';
  const engine: Engine = {
    name,
    description,
    kind: 'tfjs',
    layout: 'NHWC',
    async available() {
      if (!resolvable('@tensorflow/tfjs')) return { ok: false, reason: '@tensorflow/tfjs is not installed' };
      if (name === 'tfjs-wasm') {
        if (!resolvable('@tensorflow/tfjs-backend-wasm')) return { ok: false, reason: '@tensorflow/tfjs-backend-wasm is not installed' };
        return { ok: true, device: 'CPU, WebAssembly SIMD, 1 thread' };
      }
      if (name === 'webgpu') {
        if (!resolvable('@tensorflow/tfjs-backend-webgpu')) return { ok: false, reason: '@tensorflow/tfjs-backend-webgpu is not installed' };
        try {
          const { setupWebGpu } = await import('./webgpu.js');
          const info = await setupWebGpu();
          device = `${info.adapter}${info.software ? ' (software rasteriser)' : ''}, Dawn ${info.backend}`;
          return { ok: true, device };
        } catch (e) {
          return { ok: false, reason: (e as Error).message };
        }
      }
      const gpu = probeGpu();
      const reasons: string[] = [];
      if (!resolvable('@tensorflow/tfjs-node-gpu')) reasons.push('@tensorflow/tfjs-node-gpu is not installed (it downloads libtensorflow with CUDA at install)');
      if (!gpu.nvidia) reasons.push('no NVIDIA GPU (no /dev/nvidia0, no /proc/driver/nvidia)');
      return reasons.length ? { ok: false, reason: reasons.join('; ') } : { ok: true, device: gpu.names.join(', ') || 'NVIDIA GPU' };
    },
    async run(model, input, options = {}) {
      const { runTfjs } = await import('./tfjs.js');
      const r = await runTfjs(backend, model, input, options);
      if (!device) {
        const a = await engine.available();
        device = a.ok ? a.device : name;
      }
      const main = [...r.outputs.keys()][0];
      return { engine: name, outputs: r.outputs, layout: 'NHWC', createMs: r.createMs, runMs: r.runMs[0], allRunMs: r.runMs, device, main, blocks: r.blocks };
    },
  };
  return engine;
};

/** Every engine, in the order they are tried and reported. */
export const ENGINES: readonly Engine[] = [
  ortEngine('ort'),
  tfjsEngine('tfjs-wasm', 'wasm', 'TensorFlow.js, WebAssembly backend (SIMD), layers-model or graph-model'),
  tfjsEngine('webgpu', 'webgpu', "TensorFlow.js, WebGPU backend through Dawn (the `webgpu` package): a GPU's, or software GL without one"),
  tfjsEngine('tfjs-node-gpu', 'tensorflow', 'TensorFlow.js with libtensorflow on CUDA (tfjs-node-gpu)'),
  ortEngine('ort-cuda'),
];

export function engineByName(name: EngineName): Engine {
  const e = ENGINES.find((x) => x.name === name);
  if (!e) throw new Error(`unknown engine ${name}`);
  return e;
}
