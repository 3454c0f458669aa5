/**
 * Typed errors. Every failure the CLI reports is a `WeightportError`; its `code` is the process
 * exit code, the same for every command (README.md, "Exit codes").
 */

/** Exit codes, documented in README.md. */
export const ExitCode = {
  ok: 0,
  /** Parity check ran and found a mismatch (or models differ beyond tolerance). */
  parityFailure: 1,
  /** Bad command line: unknown flag, bad value, missing argument. */
  usage: 2,
  /** An input file is malformed, truncated, of the wrong architecture or unsupported. */
  badInput: 3,
  /** The output cannot or may not be written (exists without --force, missing folder, read-only). */
  outputRefused: 4,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export class WeightportError extends Error {
  constructor(
    message: string,
    readonly code: ExitCode,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class UsageError extends WeightportError {
  constructor(message: string) {
    super(message, ExitCode.usage);
  }
}

/** Where in a file a fault was found. All fields but `file` are optional. */
export interface FaultLocation {
  readonly file: string;
  readonly tensor?: string;
  /** Byte offset in `file` where the fault was detected. */
  readonly offset?: number;
}

/** A file that is not what its format says: truncated, corrupt, unsupported. */
export class FormatError extends WeightportError implements FaultLocation {
  readonly file: string;
  readonly tensor?: string;
  readonly offset?: number;
  constructor(
    readonly format: string,
    where: FaultLocation,
    what: string,
    options?: { cause?: unknown },
  ) {
    const parts = [where.file];
    if (where.tensor !== undefined) parts.push(`tensor '${where.tensor}'`);
    if (where.offset !== undefined) parts.push(`byte ${where.offset}`);
    super(`${format}: ${parts.join(', ')}: ${what}`, ExitCode.badInput, options);
    this.file = where.file;
    this.tensor = where.tensor;
    this.offset = where.offset;
  }
}

export interface ShapeMismatch {
  /** Canonical parameter name. */
  readonly param: string;
  /** Name of the tensor in the source. */
  readonly source: string;
  readonly expected: readonly number[];
  readonly found: readonly number[];
}

/** Stored tensors that do not bind to the canonical graph. */
export class SchemeError extends WeightportError {
  constructor(
    readonly scheme: string,
    readonly file: string,
    readonly missing: readonly string[],
    readonly extra: readonly string[],
    readonly mismatched: readonly ShapeMismatch[],
    detail?: string,
  ) {
    super(SchemeError.describe(scheme, file, missing, extra, mismatched, detail), ExitCode.badInput);
  }

  private static describe(
    scheme: string,
    file: string,
    missing: readonly string[],
    extra: readonly string[],
    mismatched: readonly ShapeMismatch[],
    detail?: string,
  ): string {
    const list = (xs: readonly string[]) =>
      xs.slice(0, 5).join(', ') + (xs.length > 5 ? `, ... (${xs.length} in all)` : '');
    const parts: string[] = [];
    if (detail) parts.push(detail);
    if (missing.length) parts.push(`missing ${list(missing)}`);
    if (extra.length) parts.push(`unexpected ${list(extra)}`);
    if (mismatched.length)
      parts.push(
        'wrong shape: ' +
          list(mismatched.map((m) => `${m.source} is [${m.found}], ${m.param} needs [${m.expected}]`)),
      );
    return `${scheme} scheme: ${file}: ${parts.join('; ')}`;
  }
}

/** The output file may not or cannot be written. */
export class OutputError extends WeightportError {
  constructor(
    readonly path: string,
    what: string,
    options?: { cause?: unknown },
  ) {
    super(`${path}: ${what}`, ExitCode.outputRefused, options);
  }
}

/** A parity check ran and the outputs differ beyond tolerance. */
export class ParityError extends WeightportError {
  constructor(
    message: string,
    readonly layer: string | undefined,
    readonly maxAbs: number,
  ) {
    super(message, ExitCode.parityFailure);
  }
}
