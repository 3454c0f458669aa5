/**
 * `checkParity`: runs a model in real engines and compares its outputs with an independent
 * execution, a second model, or reference outputs.
 *
 * "Independent" means another engine and another layout than the checked file: an ONNX file
 * runs in onnxruntime (NCHW) and is compared with the same weights written as a tfjs layers model
 * and run in tfjs (NHWC); a file that no engine runs itself (safetensors, a checkpoint, HDF5) is
 * read, bound and written both ways. Models written for the check live in a temporary folder
 * that is removed at the end.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, stat, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { UsageError, WeightportError } from '../errors.js';
import { blockStats } from '../graphs/shapes.js';
import type { Graph } from '../graphs/ir.js';
import type { CanonicalModel } from '../model.js';
import type { BindModelOptions, ReadModelOptions } from '../api.js';
import type { SourceModel } from '../readers/types.js';
import { onInterrupt, removeNow } from '../io/interrupt.js';
import { readNpy } from '../io/npy.js';
import { float16BitsToFloat32, toFloat16 } from '../tensor.js';
import {
  blockTolerance,
  compareOutputs,
  degenerate,
  difference,
  looksLikeProbabilities,
  softmax,
  squeezeSpatial,
  toNchw,
  type Output,
} from './compare.js';
import { ENGINE_NAMES, ENGINES, engineByName, type Engine, type EngineName, type EngineRun, type ModelKind } from './engines.js';
import { loadInput } from './image.js';
import { REPORT_SCHEMA, type BlockDiff, type Comparison, type EngineEntry, type FirstDivergence, type ParityReport } from './report.js';
import { packageVersion } from '../version.js';

/** Default absolute tolerance on the logits (the fp32 noise floor of the full networks is ~1.5e-5). */
export const DEFAULT_ATOL = 1e-4;

export type EngineChoice = EngineName | 'all' | 'auto';

export interface CheckParityOptions {
  /**
   * Compare with this model instead of an independent execution of the checked one: a file
   * (run as it is when an engine can, else read, bound and written for the check) or a
   * canonical model (`port convert --check` passes the source it converted).
   */
  readonly against?: string | CanonicalModel;
  /** Reference outputs (`.npy`, [1, classes] or [classes]) computed by the original framework. */
  readonly reference?: string;
  /** The input: `.npy` (NCHW or NHWC) or a PNG/JPEG image; default a deterministic synthetic image. */
  readonly input?: string;
  /**
   * Engines that run the checked model: `auto` (default: the one native to its format),
   * `all` (every engine; unavailable ones are reported and skipped), or names.
   */
  readonly engines?: EngineChoice | readonly EngineChoice[];
  /** Absolute tolerance on the main output; default DEFAULT_ATOL. */
  readonly atol?: number;
  /** Compare every block's output and report the first one over tolerance. Default false. */
  readonly layers?: boolean;
  /** How to read and bind the checked model when it must be read (`--from`, `--scheme`, `--classes`...). */
  readonly read?: ReadModelOptions & BindModelOptions;
  /** The same for `against` when it is a file. */
  readonly againstRead?: ReadModelOptions & BindModelOptions;
  /** Input height and width; default the model's (299 when it cannot be read). */
  readonly inputSize?: number;
  /** Folder for the models written for the check (a temporary folder inside it is used and removed). */
  readonly workDir?: string;
  /** Progress messages (one line each). */
  readonly onProgress?: (message: string) => void;
}

/** The kind of model an engine can run as it is, or undefined (safetensors, checkpoints, HDF5). */
export async function runnableKind(path: string): Promise<ModelKind | undefined> {
  const info = await stat(path).catch(() => undefined);
  if (!info) return undefined;
  if (info.isDirectory()) return (await stat(join(path, 'model.json')).catch(() => undefined)) ? 'tfjs' : undefined;
  if (/\.onnx$/i.test(path)) return 'onnx';
  if (info.isFile() && (basename(path) === 'model.json' || /\.json$/i.test(path))) {
    try {
      const head = readFileSync(path, 'utf8').slice(0, 1 << 16);
      if (head.includes('"modelTopology"')) return 'tfjs';
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/**
 * Where models written for a check go: /dev/shm when it is a RAM disk with room (the engines
 * read them back at once; no disk round trip), else the system's temporary folder.
 */
async function scratchDir(): Promise<string> {
  const shm = '/dev/shm';
  try {
    const fs = await statfs(shm);
    if (fs.bavail * fs.bsize >= SCRATCH_MIN_BYTES) return shm;
  } catch {
    // no /dev/shm
  }
  return tmpdir();
}
/** Room a RAM disk needs for the check to use it: two full-size models and then some. */
const SCRATCH_MIN_BYTES = 2 * 1024 ** 3;

const defaultEngine = (kind: ModelKind): EngineName => (kind === 'onnx' ? 'ort' : 'tfjs-wasm');
const otherKind = (kind: ModelKind): ModelKind => (kind === 'onnx' ? 'tfjs' : 'onnx');

/** The engines asked for, resolved against the checked model's kind. */
export function resolveEngines(choice: CheckParityOptions['engines'], primary: ModelKind): Engine[] {
  const list = choice === undefined ? ['auto'] : typeof choice === 'string' ? [choice] : [...choice];
  const names: EngineName[] = [];
  for (const c of list) {
    if (c === 'auto') names.push(defaultEngine(primary));
    else if (c === 'all') names.push(...ENGINE_NAMES);
    else if ((ENGINE_NAMES as readonly string[]).includes(c)) names.push(c as EngineName);
    else throw new UsageError(`unknown engine '${c}' (engines: ${ENGINE_NAMES.join(', ')}, all)`);
  }
  return [...new Set(names)].map(engineByName);
}

interface Side {
  readonly label: 'checked' | 'against';
  readonly path?: string;
  readonly kind?: ModelKind;
  canonical(): Promise<CanonicalModel>;
}

interface PlannedRun {
  readonly engine: Engine;
  readonly role: 'checked' | 'reference';
  readonly model: string;
  readonly written: boolean;
}

/** A run's outputs in NCHW, by block, and its main output. */
interface RunView {
  readonly run: EngineRun;
  readonly main: Output;
  readonly blocks: Map<string, Output>;
}

function view(run: EngineRun): RunView {
  const main = run.outputs.get(run.main)!;
  const blocks = new Map<string, Output>();
  for (const b of run.blocks) {
    const o = run.outputs.get(b.output);
    if (o) blocks.set(b.block, squeezeSpatial(toNchw(o, run.layout)));
  }
  return { run, main, blocks };
}

/** Whether the checked output matches the reference shifted by one class (a background-class mix-up). */
function classShift(out: Float32Array, ref: Float32Array, atol: number): string | undefined {
  const n = Math.min(out.length, ref.length) - 1;
  if (n < 10) return undefined;
  const ahead = difference(out.subarray(1, n + 1), ref.subarray(0, n)).maxAbs;
  const behind = difference(out.subarray(0, n), ref.subarray(1, n + 1)).maxAbs;
  const best = Math.min(ahead, behind);
  if (!(best <= Math.max(atol * 10, 1e-3))) return undefined;
  return `the classes are shifted by one (checked class i+${ahead < behind ? 1 : -1} = reference class i): the 1001-class background row was mishandled (kept, or the wrong row dropped)`;
}

/** Compares one checked run with the reference (a run, or reference outputs). */
function compare(
  name: string,
  engine: EngineName,
  referenceName: string,
  checked: RunView,
  ref: { main: Output; blocks?: Map<string, Output> },
  atol: number,
  blockOrder: readonly { block: string; shape: readonly number[] }[] | undefined,
): Comparison {
  let out = checked.main.data;
  let expected = ref.main.data;
  let classAlignment: string | undefined;
  if (out.length !== expected.length) {
    if (Math.abs(out.length - expected.length) === 1) {
      classAlignment = `${out.length} classes against ${expected.length}: the background class (index 0 of the 1001) was left out of the comparison`;
      if (out.length > expected.length) out = out.subarray(1);
      else expected = expected.subarray(1);
    } else
      return { name, engine, referenceName, pass: false, reason: `the outputs differ in size: ${out.length} values against ${expected.length}` };
  }
  // One side ends in a softmax and the other does not (a Keras source, whose `predictions` is
  // the softmax, written as weights-only safetensors): compare probabilities with probabilities.
  let outputAlignment: string | undefined;
  const outProbs = looksLikeProbabilities(out);
  const refProbs = looksLikeProbabilities(expected);
  if (outProbs !== refProbs) {
    outputAlignment = `the ${outProbs ? 'reference' : 'checked model'} outputs logits and the ${outProbs ? 'checked model' : 'reference'} probabilities: compared as probabilities (softmax of the logits)`;
    if (outProbs) expected = softmax(expected);
    else out = softmax(out);
  }
  const output = compareOutputs(out, expected, outProbs || refProbs ? 'probabilities' : 'logits');
  const pass = Number.isFinite(output.maxAbs) && output.maxAbs <= atol;
  const reason = pass ? undefined : `max |diff| ${output.maxAbs.toExponential(2)} > atol ${atol}`;
  const diagnosis = pass ? undefined : classShift(out, expected, atol);
  let layers: BlockDiff[] | undefined;
  let firstDivergence: FirstDivergence | undefined;
  if (blockOrder && ref.blocks && ref.blocks.size && checked.blocks.size) {
    layers = [];
    let depth = 0;
    for (const b of blockOrder) {
      depth++;
      const r = ref.blocks.get(b.block);
      const c = checked.blocks.get(b.block);
      if (!r || !c) continue;
      let d: BlockDiff;
      if (r.data.length !== c.data.length) {
        d = { block: b.block, depth, shape: b.shape, maxAbs: Infinity, meanAbs: Infinity, refMaxAbs: NaN, tolerance: atol, pass: false };
      } else {
        const diff = difference(c.data, r.data);
        const tolerance = blockTolerance(atol, diff.refMaxAbs);
        d = {
          block: b.block,
          depth,
          shape: b.shape,
          maxAbs: diff.maxAbs,
          meanAbs: diff.meanAbs,
          refMaxAbs: diff.refMaxAbs,
          tolerance,
          pass: Number.isFinite(diff.maxAbs) && diff.maxAbs <= tolerance,
        };
      }
      if (!d.pass && !firstDivergence) {
        const prev = layers.at(-1);
        firstDivergence = {
          block: d.block,
          depth: d.depth,
          maxAbs: d.maxAbs,
          tolerance: d.tolerance,
          ...(prev ? { previous: { block: prev.block, maxAbs: prev.maxAbs, tolerance: prev.tolerance } } : {}),
        };
      }
      layers.push(d);
    }
  }
  return {
    name,
    engine,
    referenceName,
    pass,
    ...(reason ? { reason } : {}),
    output,
    ...(classAlignment ? { classAlignment } : {}),
    ...(outputAlignment ? { outputAlignment } : {}),
    ...(diagnosis ? { diagnosis } : {}),
    ...(layers ? { layers } : {}),
    ...(firstDivergence ? { firstDivergence } : {}),
  };
}

/**
 * Runs the checked model in the chosen engines and compares each run with the reference. Never
 * throws for a mismatch: the report's `verdict` says it (the CLI turns a failure into exit code
 * 1, `ParityError`). Throws for unusable inputs (UsageError, FormatError, SchemeError).
 */
export async function checkParity(model: string, options: CheckParityOptions = {}): Promise<ParityReport> {
  const started = performance.now();
  const atol = options.atol ?? DEFAULT_ATOL;
  if (!(atol > 0)) throw new UsageError(`--atol must be a positive number, got ${atol}`);
  const layers = Boolean(options.layers);
  if (layers && options.reference) throw new UsageError('--layers compares block outputs of two engines: it cannot be used with --reference');
  if (options.reference && options.against) throw new UsageError('give --against or --reference, not both');
  const progress = options.onProgress ?? (() => undefined);
  const warnings: string[] = [];
  let prepareMs = 0;

  const { readModel, bindModel, writeModel } = await import('../api.js');
  const opened: SourceModel[] = [];
  const canonicalOf = async (path: string, read: (ReadModelOptions & BindModelOptions) | undefined): Promise<CanonicalModel> => {
    const t = performance.now();
    const source = await readModel(path, read);
    opened.push(source);
    const { model: m } = bindModel(source, read);
    prepareMs += performance.now() - t;
    return m;
  };
  const lazy = <T>(f: () => Promise<T>): (() => Promise<T>) => {
    let p: Promise<T> | undefined;
    return () => (p ??= f());
  };

  const checked: Side = { label: 'checked', path: model, kind: await runnableKind(model), canonical: lazy(() => canonicalOf(model, options.read)) };
  const against: Side | undefined =
    options.against === undefined
      ? undefined
      : typeof options.against === 'string'
        ? {
            label: 'against',
            path: options.against,
            kind: await runnableKind(options.against),
            canonical: lazy(() => canonicalOf(options.against as string, options.againstRead)),
          }
        : { label: 'against', canonical: async () => options.against as CanonicalModel };
  const besideFiles: string[] = [];
  const work = await mkdtemp(join(options.workDir ?? (await scratchDir()), 'weightport-parity-'));
  // On /dev/shm a folder left by Ctrl-C would hold its models in memory until the next boot.
  // (besideFiles grows during the check: the list is read when the signal comes.)
  const releaseWork = onInterrupt(() => removeNow([...besideFiles, work]));
  try {
    const written = new Map<string, string>();
    const exposedCopies = new Map<string, string>();
    /** How a model file is named in the report (copies by their original). */
    const shown = new Map<string, string>();
    let graph: Graph | undefined;
    /** The file of `side` that engines of `kind` run: the file itself, or one written for the check. */
    const fileFor = async (side: Side, kind: ModelKind): Promise<{ path: string; written: boolean }> => {
      const key = `${side.label}:${kind}`;
      if (side.path && side.kind === kind) {
        // --layers on an ONNX file without block outputs: a copy that exposes them.
        if (!(layers && kind === 'onnx' && graph)) return { path: side.path, written: false };
        if (!exposedCopies.has(key)) {
          const t = performance.now();
          const { exposeOnnxBlocks } = await import('./expose.js');
          const copy = await exposeOnnxBlocks(side.path, graph, work).catch(() => undefined);
          if (copy && !copy.path.startsWith(work)) besideFiles.push(copy.path);
          exposedCopies.set(key, copy?.path ?? side.path);
          if (copy) shown.set(copy.path, `${side.path} (a copy with ${copy.blocks} block outputs)`);
          prepareMs += performance.now() - t;
        }
        return { path: exposedCopies.get(key)!, written: false };
      }
      let path = written.get(key);
      if (!path) {
        const m = await side.canonical();
        path = join(work, `${side.label}.${kind === 'onnx' ? 'onnx' : 'tfjs'}`);
        progress(`writing ${kind} for the check: ${path}`);
        const t = performance.now();
        await writeModel(m, path, { to: kind, exposeBlocks: layers, force: true });
        prepareMs += performance.now() - t;
        written.set(key, path);
      }
      return { path, written: true };
    };

    const primary = checked.kind ?? 'onnx';
    const engines = resolveEngines(options.engines, primary);
    const explicit = options.engines !== undefined && options.engines !== 'auto' && !(Array.isArray(options.engines) && options.engines.every((e) => e === 'auto'));

    // The graph gives the block order, the output kind (logits or probabilities) and the input
    // size. It comes from a model that has to be read anyway; else the checked file is read for
    // it, and without it (no reader for the format) blocks follow the reference's output order.
    if (!checked.kind || (!against && !options.reference)) graph = (await checked.canonical()).graph;
    else if (against && !against.kind) graph = (await against.canonical()).graph;
    else
      for (const side of [checked, against]) {
        if (!side || graph) continue;
        graph = await side.canonical().then((m) => m.graph, () => undefined);
      }
    const inputSize = options.inputSize ?? graph?.options.inputSize ?? 299;
    const input = await loadInput(options.input, inputSize);
    const blockOrder = layers ? (graph ? blockStats(graph).map((b) => ({ block: b.block, shape: b.shape })) : undefined) : undefined;

    // The reference: outputs from a file, a run of `against`, or an independent run of the checked model.
    const entries: EngineEntry[] = [];
    let reference: ParityReport['reference'];
    let refOutputs: { main: Output; blocks?: Map<string, Output> } | undefined;
    let refPlan: PlannedRun | undefined;
    if (options.reference) {
      const a = await readNpy(options.reference);
      refOutputs = { main: { data: a.data, dims: a.shape } };
      reference = { kind: 'npy', description: `${options.reference} (reference outputs, [${a.shape.join(', ')}])` };
    } else {
      const refSide = against ?? checked;
      // Another kind than the checked file's (or, for a file no engine runs, than the first
      // engine's): another engine and another layout. `against` runs as it is when it is of that
      // kind, and is written in it otherwise (an ONNX source of an ONNX output: as tfjs).
      const checkedKind = checked.kind ?? engines[0]?.kind ?? primary;
      const refKind: ModelKind = otherKind(checkedKind);
      const candidates = [engineByName(defaultEngine(refKind)), ...ENGINES.filter((e) => e.kind === refKind && e.name !== defaultEngine(refKind))];
      let refEngine: Engine | undefined;
      const reasons: string[] = [];
      for (const e of candidates) {
        const a = await e.available();
        if (a.ok) {
          refEngine = e;
          break;
        }
        reasons.push(`${e.name}: ${a.reason}`);
      }
      if (!refEngine) throw new UsageError(`no engine to run the reference (${refKind}): ${reasons.join('; ')}`);
      const f = await fileFor(refSide, refKind);
      refPlan = { engine: refEngine, role: 'reference', model: f.path, written: f.written };
      reference = {
        kind: 'engine',
        engine: refEngine.name,
        model: f.path,
        description: `${refEngine.name} on ${f.written ? `${refKind === 'onnx' ? 'an ONNX' : 'a tfjs'} model written from ${refSide.path ?? 'the source model'}` : f.path}`,
      };
    }

    const plans: PlannedRun[] = [];
    for (const e of engines) {
      const a = await e.available();
      if (!a.ok) {
        entries.push({ engine: e.name, role: 'checked', status: 'unavailable', reason: a.reason });
        if (explicit && engines.length === 1) warnings.push(`${e.name} is unavailable: ${a.reason}`);
        continue;
      }
      let f: { path: string; written: boolean };
      try {
        f = await fileFor(checked, e.kind);
      } catch (err) {
        // No reader for the checked format: the engines of the other kind cannot run it.
        if (!(err instanceof WeightportError)) throw err;
        entries.push({ engine: e.name, role: 'checked', status: 'unavailable', reason: `needs the checked model as ${e.kind}: ${(err as Error).message}` });
        continue;
      }
      if (refPlan && refPlan.engine === e && refPlan.model === f.path) continue; // it is the reference run
      plans.push({ engine: e, role: 'checked', model: f.path, written: f.written });
    }

    const execute = async (p: PlannedRun): Promise<EngineRun | undefined> => {
      progress(`running ${p.engine.name} on ${p.model}`);
      try {
        const run = await p.engine.run(p.model, input);
        entries.push({
          engine: p.engine.name,
          role: p.role,
          status: 'ran',
          model: shown.get(p.model) ?? p.model,
          modelKind: p.engine.kind,
          written: p.written,
          device: run.device,
          createMs: run.createMs,
          runMs: run.runMs,
        });
        return run;
      } catch (e) {
        entries.push({ engine: p.engine.name, role: p.role, status: 'failed', reason: (e as Error).message, model: p.model, modelKind: p.engine.kind, written: p.written });
        return undefined;
      }
    };

    let refName = options.reference ? basename(options.reference) : '';
    if (refPlan) {
      const run = await execute(refPlan);
      if (!run) throw new Error(`the reference engine ${refPlan.engine.name} failed on ${refPlan.model}: ${entries.at(-1)?.reason}`);
      const v = view(run);
      refOutputs = { main: v.main, blocks: v.blocks };
      refName = `${refPlan.engine.name} (${refPlan.engine.kind})`;
      if (layers && v.blocks.size === 0) warnings.push(`the reference model ${refPlan.model} exposes no block outputs: only the main output is compared`);
    }
    const refDegenerate = degenerate(refOutputs!.main.data);
    if (refDegenerate) warnings.push(`the reference output ${refDegenerate}: agreement on it proves little`);

    const comparisons: Comparison[] = [];
    for (const p of plans) {
      const run = await execute(p);
      if (!run) continue;
      const v = view(run);
      if (layers && v.blocks.size === 0) warnings.push(`${p.model} exposes no block outputs (write it with exposeBlocks): only the main output is compared for ${p.engine.name}`);
      const name = `${p.engine.name} (${p.engine.kind})`;
      const order = blockOrder ?? (layers ? [...(refOutputs!.blocks ?? new Map()).entries()].map(([block, o]) => ({ block, shape: o.dims.slice(1) })) : undefined);
      comparisons.push(compare(name, p.engine.name, refName, v, refOutputs!, atol, order));
    }
    if (comparisons.length === 0) warnings.push('no engine ran the checked model: nothing was compared');

    const failedRuns = entries.filter((e) => e.status === 'failed');
    const enginesMs = entries.reduce((s, e) => s + (e.createMs ?? 0) + (e.runMs ?? 0), 0);
    const verdict = comparisons.length > 0 && comparisons.every((c) => c.pass) && failedRuns.length === 0 ? 'pass' : 'fail';
    return {
      schema: REPORT_SCHEMA,
      date: new Date().toISOString(),
      tool: { name: 'weightport', version: packageVersion() },
      model,
      ...(graph ? { arch: graph.arch, classes: graph.options.classes } : {}),
      input: input.source,
      atol,
      layers,
      reference: reference!,
      verdict,
      engines: entries,
      comparisons,
      warnings,
      timing: { totalMs: performance.now() - started, enginesMs, prepareMs },
    };
  } finally {
    await Promise.all(opened.map((s) => s.close().catch(() => undefined)));
    try {
      await Promise.all(besideFiles.map((f) => rm(f, { force: true })));
      await rm(work, { recursive: true, force: true });
    } finally {
      releaseWork();
    }
  }
}

/** Options of `checkConversion`: those the conversion used, and the check's own. */
export interface CheckConversionOptions extends ReadModelOptions, BindModelOptions {
  /** Element type the conversion wrote: float16 outputs are compared with the source rounded to float16. */
  readonly dtype?: 'float32' | 'float16';
  readonly atol?: number;
  readonly engines?: CheckParityOptions['engines'];
  readonly layers?: boolean;
  readonly onProgress?: (message: string) => void;
}

/**
 * The check of `port convert --check`: the written model (`output`) run as it is (or read back,
 * for formats no engine runs) against the source (`input`), read and bound again with the
 * conversion's options and written in another format for another engine.
 */
export async function checkConversion(input: string, output: string, options: CheckConversionOptions = {}): Promise<ParityReport> {
  const { readModel, bindModel } = await import('../api.js');
  const source = await readModel(input, options);
  try {
    let { model } = bindModel(source, options);
    if (options.dtype === 'float16') {
      // What the float16 file holds: tfjs rounds its stored layout (the residual scale folded
      // into the up-projections), the other writers each canonical weight.
      if ((await runnableKind(output)) === 'tfjs') model = (await import('../writers/tfjs/index.js')).tfjsFloat16Model(model);
      else model = roundedToFloat16(model);
    }
    return await checkParity(output, {
      against: model,
      atol: options.atol,
      engines: options.engines,
      layers: options.layers,
      onProgress: options.onProgress,
    });
  } finally {
    await source.close();
  }
}

/** The model with every weight rounded to float16 and back: what a float16 file holds. */
export function roundedToFloat16(model: CanonicalModel): CanonicalModel {
  return {
    ...model,
    params: model.params.map((p) => ({
      ...p,
      read: async () => {
        const h = toFloat16(await p.read());
        const out = new Float32Array(h.length);
        for (let i = 0; i < h.length; i++) out[i] = float16BitsToFloat32(h[i]);
        return out;
      },
    })),
  };
}
