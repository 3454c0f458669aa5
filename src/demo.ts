/**
 * `port demo`: the main job end to end on a built-in example, for a newcomer without a file of
 * their own. A full-size model with seeded weights is written as timm-named safetensors (what a
 * PyTorch user holds), converted to ONNX and to TensorFlow.js by the same path as any user file
 * (format, naming and architecture recognised from the bytes), and the two outputs are run in
 * two engines with two layouts (onnxruntime NCHW, tfjs-wasm NHWC) and compared.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { convert, writeModel, type ConvertResult } from './api.js';
import { buildGraph } from './graphs/index.js';
import { seededModel } from './graphs/init.js';
import { removeOnInterrupt } from './io/interrupt.js';
import type { Arch } from './graphs/ir.js';
import type { ParityReport } from './parity/report.js';

export interface DemoOptions {
  /** Default inception_resnet_v2. */
  readonly arch?: Arch;
  /** Folder to work in; default a new temporary folder, removed at the end unless `keep`. */
  readonly dir?: string;
  readonly keep?: boolean;
  /** Seed of the weights; default 0. */
  readonly seed?: number;
  /** One line per step, as it happens. */
  readonly onStep?: (line: string) => void;
}

export interface DemoStep {
  readonly what: string;
  readonly ms: number;
  readonly files?: readonly string[];
  readonly bytes?: number;
}

export interface DemoResult {
  readonly arch: Arch;
  readonly dir: string;
  readonly kept: boolean;
  readonly steps: readonly DemoStep[];
  readonly conversions: readonly ConvertResult[];
  readonly parity: ParityReport;
}

export async function runDemo(options: DemoOptions = {}): Promise<DemoResult> {
  const arch = options.arch ?? 'inception_resnet_v2';
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'weightport-demo-')));
  const keep = options.keep ?? options.dir !== undefined;
  const release = keep ? () => undefined : removeOnInterrupt(dir);
  const say = options.onStep ?? (() => undefined);
  const steps: DemoStep[] = [];
  const step = async <T>(what: string, f: () => Promise<T>, files?: (r: T) => readonly string[]): Promise<T> => {
    const t = performance.now();
    const r = await f();
    const fs = files?.(r);
    const bytes = fs ? (await Promise.all(fs.map((p) => stat(p).then((s) => s.size)))).reduce((a, b) => a + b, 0) : undefined;
    const s: DemoStep = { what, ms: performance.now() - t, ...(fs ? { files: fs, bytes } : {}) };
    steps.push(s);
    say(`${what}: ${(s.ms / 1000).toFixed(1)} s${bytes !== undefined ? `, ${(bytes / 2 ** 20).toFixed(1)} MiB` : ''}`);
    return r;
  };
  try {
    const source = join(dir, `${arch}.timm.safetensors`);
    const model = seededModel(buildGraph(arch), { seed: options.seed ?? 0 });
    await step(`wrote the example source ${source} (seeded ${arch}, timm names)`, () =>
      writeModel(model, source, { to: 'safetensors', naming: 'timm', force: true }), (r) => r.files);
    const onnx = join(dir, `${arch}.onnx`);
    const tfjs = join(dir, `${arch}.tfjs`);
    const toOnnx = await step(`port ${source} --to onnx -o ${onnx}`, () => convert(source, onnx, { to: 'onnx', force: true }), (r) => r.written.files);
    const toTfjs = await step(`port ${source} --to tfjs -o ${tfjs}`, () => convert(source, tfjs, { to: 'tfjs', force: true }), (r) => r.written.files);
    const { checkParity } = await import('./parity/check.js');
    const parity = await step(`port parity ${onnx} --against ${tfjs}`, () =>
      checkParity(onnx, { against: tfjs, engines: 'ort', workDir: dir }));
    return { arch, dir, kept: keep, steps, conversions: [toOnnx, toTfjs], parity };
  } finally {
    try {
      if (!keep) await rm(dir, { recursive: true, force: true });
    } finally {
      release();
    }
  }
}
