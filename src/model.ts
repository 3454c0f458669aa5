/** The canonical model: a canonical graph with its weights, in the canonical layout (graphs/ir.ts). */
import { graphParams, sizeOf, type Graph, type ParamRole } from './graphs/ir.js';

export interface CanonicalParam {
  /** Canonical name (graphs/ir.ts), for example `Mixed_5b/Branch_1/Conv2d_0b_5x5/weights`. */
  readonly name: string;
  readonly node: string;
  readonly role: ParamRole;
  /** Canonical layout: OIHW kernels, [out, in] dense. */
  readonly shape: readonly number[];
  /**
   * Reads (and converts, once) the values. Readers and schemes keep this lazy, so that a writer
   * that handles one parameter at a time holds at most one extra copy of the weights.
   */
  read(): Promise<Float32Array>;
  /**
   * Every `read()` returns a new array that the caller alone holds: a writer may lay it out in
   * place and give its buffer back to io/pool once written.
   */
  readonly freshReads?: boolean;
}

/** Where the weights came from; writers record it (ONNX metadata_props, safetensors __metadata__). */
export interface Provenance {
  readonly sourceFile?: string;
  /**
   * SHA-256 of the source file, hex. May still be being computed (api.convert hashes the source on
   * another thread while the writer works): writers read it through `settledProvenance` as late as
   * they can, and size their metadata with `provisionalProvenance` until then.
   */
  readonly sourceSha256?: string | Promise<string>;
  /** Reader that parsed the source (`keras`, `tf`, `onnx`, `safetensors`, `tfjs`, `seeded`). */
  readonly sourceFormat?: string;
  /** Naming scheme the source was bound with (`slim`, `keras`, `timm`, `canonical`, `onnx`). */
  readonly scheme?: string;
  /** The source model ends in a softmax (Keras `predictions`): its reference outputs are probabilities. */
  readonly sourceOutputsProbabilities?: boolean;
  /** Classes of the source before any `--classes` change. */
  readonly sourceClasses?: number;
}

/** Provenance with every value known. */
export type SettledProvenance = Omit<Provenance, 'sourceSha256'> & { readonly sourceSha256?: string };

/** Stands in for a SHA-256 still being computed: same length, so metadata sized with it keeps its size. */
const SHA256_PLACEHOLDER = '0'.repeat(64);

/** The provenance with a pending SHA-256 replaced by a placeholder of the same length (for sizing). */
export function provisionalProvenance(p: Provenance): SettledProvenance {
  return p.sourceSha256 instanceof Promise ? { ...p, sourceSha256: SHA256_PLACEHOLDER } : (p as SettledProvenance);
}

/** Whether `p` still has a value being computed (the writer must write its metadata again at the end). */
export const provenancePending = (p: Provenance): boolean => p.sourceSha256 instanceof Promise;

/** The provenance once every value is known; a SHA-256 must be 64 hex digits, as the placeholder is. */
export async function settledProvenance(p: Provenance): Promise<SettledProvenance> {
  if (!(p.sourceSha256 instanceof Promise)) return p as SettledProvenance;
  const sha = await p.sourceSha256;
  if (!/^[0-9a-f]{64}$/.test(sha)) throw new Error(`source SHA-256 is not 64 hex digits: ${sha}`);
  return { ...p, sourceSha256: sha };
}

export interface CanonicalModel {
  readonly graph: Graph;
  /** In graph order; exactly the parameters of `graphParams(graph)`. */
  readonly params: readonly CanonicalParam[];
  readonly provenance: Provenance;
}

/**
 * Class layout: a model with 1001 classes has "background" at index 0 (TF-slim); 1000 classes are
 * the ImageNet classes in the usual order.
 */
export const hasBackgroundClass = (graph: Graph): boolean => graph.options.classes === 1001;

/**
 * A parameter's values: an array, a lazy reader, or a lazy reader whose every call returns a new
 * array that nothing else holds (`fresh`: the model's param then says `freshReads`).
 */
export type ParamSource = Float32Array | (() => Promise<Float32Array>) | { readonly fresh: () => Promise<Float32Array> };

/**
 * Builds a model from values (or lazy readers) keyed by canonical name. Every parameter of the
 * graph must be given; shapes are checked on read.
 */
export function createModel(graph: Graph, values: ReadonlyMap<string, ParamSource>, provenance: Provenance = {}): CanonicalModel {
  const params = graphParams(graph).map((spec): CanonicalParam => {
    const source = values.get(spec.name);
    if (source === undefined) throw new Error(`no value for parameter ${spec.name}`);
    const expected = sizeOf(spec.shape);
    const fresh = !(source instanceof Float32Array) && typeof source !== 'function';
    return {
      ...spec,
      ...(fresh ? { freshReads: true } : {}),
      async read() {
        const data = source instanceof Float32Array ? source : typeof source === 'function' ? await source() : await source.fresh();
        if (data.length !== expected)
          throw new Error(`parameter ${spec.name}: ${data.length} values, shape [${spec.shape}] needs ${expected}`);
        return data;
      },
    };
  });
  return { graph, params, provenance };
}

/** Reads every parameter into memory (for small models, tests and transforms). */
export async function readAll(model: CanonicalModel): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const p of model.params) out.set(p.name, await p.read());
  return out;
}

/** Total bytes of the weights as float32. */
export const weightBytes = (model: CanonicalModel): number =>
  model.params.reduce((sum, p) => sum + 4 * sizeOf(p.shape), 0);
