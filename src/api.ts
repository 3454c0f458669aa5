/** The library's main functions: read, bind, write, convert. The CLI is a thin layer over these. */
import { stat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { FormatError, SchemeError, UsageError } from './errors.js';
import type { Arch } from './graphs/ir.js';
import { SCHEME_LIST, type BindOptions, type Detection, type SchemeName } from './graphs/schemes/index.js';
import { withClasses, withSoftmax } from './graphs/transforms.js';
import { startBackgroundChecks, type BackgroundChecks } from './io/background.js';
import { probePath } from './io/probe.js';
import type { CanonicalModel } from './model.js';
import { READERS, type FormatName, type Probe, type ReadOptions, type Reader, type SourceModel } from './readers/index.js';
import { WRITERS, type TargetFormat, type WriteOptions, type WriteResult } from './writers/index.js';

export interface ReadModelOptions extends ReadOptions {
  /** Source format; default `auto` (recognised from the bytes, the name only breaks ties). */
  readonly from?: FormatName | 'auto';
}

/** The reader named by `from`, or the one whose `match` takes the path's probe (returned too). */
async function readerFor(path: string, from: FormatName | 'auto'): Promise<{ reader: Reader; probe?: Probe }> {
  if (from !== 'auto') {
    const reader = READERS.find((r) => r.format === from);
    if (!reader) throw new UsageError(`no reader for '${from}' yet (available: ${READERS.map((r) => r.format).join(', ') || 'none'})`);
    return { reader };
  }
  const probe = await probePath(path);
  const reader = READERS.find((r) => r.match(probe));
  if (!reader)
    throw new FormatError('input', { file: path }, `not a format this tool reads (${READERS.map((r) => r.format).join(', ') || 'no readers registered'})`);
  return { reader, probe };
}

/** Opens a model file (or folder, or checkpoint prefix) with the reader for its format. */
export async function readModel(path: string, options: ReadModelOptions = {}): Promise<SourceModel> {
  const { reader } = await readerFor(path, options.from ?? 'auto');
  return reader.open(path, { verify: options.verify, checks: options.checks });
}

export interface DetectOptions extends BindOptions {
  /** Naming scheme; default `auto`. */
  readonly scheme?: SchemeName | 'auto';
}

/** Recognises the naming scheme and architecture of a source from its tensors' names and shapes. */
export function detectScheme(source: SourceModel, options: DetectOptions = {}): Detection {
  const scheme = options.scheme ?? 'auto';
  const candidates = scheme === 'auto' ? SCHEME_LIST : SCHEME_LIST.filter((s) => s.name === scheme);
  if (candidates.length === 0) throw new UsageError(`unknown naming scheme '${scheme}'`);
  for (const s of candidates) {
    const d = s.detect(source, options);
    if (d) return d;
  }
  const sample = source.tensors.slice(0, 3).map((t) => t.name);
  throw new SchemeError(
    scheme,
    source.path,
    [],
    [],
    [],
    `no ${scheme === 'auto' ? 'known naming scheme' : `'${scheme}' naming`} of Inception-v4 or Inception-ResNet-v2 fits its ${source.tensors.length} tensors (first: ${sample.join(', ') || 'none'})`,
  );
}

export interface BindModelOptions extends DetectOptions {
  /** Output classes (1000 or 1001); default: as stored. */
  readonly classes?: number;
  /** End in a softmax; default: as the source (Keras `predictions` ends in softmax). */
  readonly softmax?: boolean;
}

/** Binds a source to the canonical graph; returns the detection too (for reports). */
export function bindModel(source: SourceModel, options: BindModelOptions = {}): { model: CanonicalModel; detection: Detection } {
  const detection = detectScheme(source, options);
  const scheme = SCHEME_LIST.find((s) => s.name === detection.scheme)!;
  let model = scheme.bind(source, detection, options);
  if (options.classes !== undefined) model = withClasses(model, options.classes);
  if (options.softmax !== undefined) model = withSoftmax(model, options.softmax);
  return { model, detection };
}

export interface WriteModelOptions extends WriteOptions {
  readonly to: TargetFormat;
}

export async function writeModel(model: CanonicalModel, outPath: string, options: WriteModelOptions): Promise<WriteResult> {
  const writer = WRITERS.find((w) => w.format === options.to);
  if (!writer) throw new UsageError(`no writer for '${options.to}' yet (available: ${WRITERS.map((w) => w.format).join(', ') || 'none'})`);
  return writer.write(model, outPath, options);
}

export interface ConvertOptions extends ReadModelOptions, BindModelOptions, WriteModelOptions {}

/**
 * Starts hashing a source that is one file from the start, beside its reading (opening a Keras
 * .h5 walks its metadata for 0.1-0.2 s, and the hash then ended after the conversion): the file
 * hashed is the one the reader reads, as `files[0]` will say. Not for TF checkpoints, whose
 * reader first asks for every block's CRC: one pass over the file then does both.
 */
async function hashFromTheStart(input: string, format: FormatName, probe: Probe | undefined, checks: BackgroundChecks): Promise<{ path: string; digest: Promise<string> } | undefined> {
  if (format === 'tf') return undefined;
  const stats = probe ? undefined : await stat(input).catch(() => undefined);
  const oneFile = probe ? !probe.isDirectory && probe.size > 0 : stats !== undefined && stats.isFile() && stats.size > 0;
  if (!oneFile) return undefined;
  const digest = checks.sha256(input);
  digest.catch(() => undefined); // reported where it is used (or unused: another file is hashed)
  return { path: resolve(input), digest };
}

export interface ConvertResult {
  readonly source: { readonly format: FormatName; readonly files: readonly string[]; readonly tensors: number };
  readonly detection: Detection;
  readonly arch: Arch;
  readonly written: WriteResult;
}

/**
 * read -> bind -> write, with the source's provenance recorded in the output. The source's SHA-256
 * and the checksums its reader can defer are computed on another thread while the writer works;
 * the output is renamed into place only once they have passed.
 */
export async function convert(input: string, output: string, options: ConvertOptions): Promise<ConvertResult> {
  const checks = startBackgroundChecks();
  let source: SourceModel | undefined;
  try {
    const { reader, probe } = await readerFor(input, options.from ?? 'auto');
    const early = await hashFromTheStart(input, reader.format, probe, checks);
    source = await reader.open(input, { verify: options.verify, checks: options.verify === false ? undefined : checks });
    const { format, files } = source;
    const hashed = files[0];
    // A source that cannot be read again (removed meanwhile) fails the write before its rename.
    const sha = hashed === undefined ? undefined : early && resolve(hashed) === early.path ? early.digest : checks.sha256(hashed);
    const digest = sha?.catch((e: Error) => {
      throw new FormatError(format, { file: hashed }, `cannot read it again to hash it: ${e.message}`, { cause: e });
    });
    digest?.catch(() => undefined); // observed by the writer; never an unhandled rejection
    const { model, detection } = bindModel(source, options);
    const withProvenance: CanonicalModel = {
      ...model,
      provenance: { ...model.provenance, sourceFile: basename(input), ...(digest ? { sourceSha256: digest } : {}) },
    };
    const written = await writeModel(withProvenance, output, { ...options, beforeCommit: () => checks.settle() });
    return {
      source: { format, files, tensors: source.tensors.length },
      detection,
      arch: model.graph.arch,
      written,
    };
  } finally {
    await checks.stop();
    await source?.close();
  }
}
