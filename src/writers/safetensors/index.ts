/**
 * The safetensors writer. Any naming registered in NAMINGS (graphs/schemes/index.ts) can be
 * written (`--naming`, WriteOptions.naming; default `canonical`): the naming lists the stored
 * tensors (name, stored shape, canonical <-> stored transform, or a constant such as timm's
 * `num_batches_tracked`).
 *
 * File layout (huggingface/safetensors README and `safetensors/src/tensor.rs`, `serialize`):
 *   u64 LE N | JSON header, padded with spaces so that N is a multiple of 8 | data
 * The header is `{"__metadata__": {...}, name: {dtype, shape, data_offsets}, ...}`, with the
 * tensors in data order.
 *
 * Order (deterministic, as the reference writer): by element size, largest first (so that every
 * tensor is aligned to its element size: the data starts 8-byte aligned), then by name (UTF-16 code
 * unit order, which is byte order for the ASCII names used here). Same model and options, same
 * bytes.
 *
 * Streaming: offsets follow from the shapes alone, so the header is written first; then each tensor
 * is read once (CanonicalParam.read), transformed once (Transform.store), converted to the output
 * dtype and written. Peak memory is about one tensor (plus its converted copy), not the model.
 * The file is written under a temporary name and renamed at the end (writeOutputs).
 *
 * `__metadata__` (string -> string): `format` (`pt` when every tensor is in PyTorch's layout, else
 * `tf`; transformers refuses files without it), provenance (`source_file`, `source_sha256`,
 * `source_format`, `source_scheme`), the model (`arch`, `naming`, `classes`, `background_class`,
 * `aux`, `width_divisor`, `batchnorm`, `outputs`) and its preprocessing (`input_size`,
 * `input_layout`, `input_range` [-1, 1], `mean`/`std` 0.5 per channel: x / 127.5 − 1).
 */
import { UsageError } from '../../errors.js';
import { NAMINGS, type NamedTensor } from '../../graphs/schemes/index.js';
import { sizeOf, type Graph } from '../../graphs/ir.js';
import { withUnitGamma } from '../../graphs/transforms.js';
import { hasBackgroundClass, provenancePending, provisionalProvenance, settledProvenance, type CanonicalModel, type CanonicalParam, type SettledProvenance } from '../../model.js';
import { bytesOf, DTYPE_SIZE, toFloat16, type DType } from '../../tensor.js';
import { writeOutputs } from '../../io/output.js';
import { openSink, readAhead, storedPiece, type Piece } from '../../io/stream.js';
import { DTYPE_CODE } from '../../readers/safetensors/spec.js';
import { toFloat16Checked } from '../float16.js';
import type { Writer, WriteOptions, WriteResult } from '../types.js';

/** One tensor of the file, placed. */
interface Planned {
  readonly tensor: NamedTensor;
  readonly dtype: DType;
  readonly begin: number;
  readonly end: number;
  readonly param?: CanonicalParam;
}

/** The header JSON and the tensors in data order. */
export interface SafetensorsPlan {
  readonly header: Uint8Array;
  /**
   * When the provenance is still pending (the source's SHA-256): the header with its final values,
   * the same size, written over the first one once the data is written.
   */
  readonly finalHeader?: () => Promise<Uint8Array>;
  readonly tensors: readonly Planned[];
  /** Bytes of the whole file. */
  readonly size: number;
}

function metadataOf(g: Graph, p: SettledProvenance, naming: string, tensors: readonly NamedTensor[], dtype: DType): Record<string, string> {
  const tfLayout = tensors.some((t) => t.transform && t.transform.name !== 'none');
  const hasBn = g.nodes.some((n) => n.op === 'batchnorm');
  const entries: [string, string | number | boolean | undefined][] = [
    ['format', tfLayout ? 'tf' : 'pt'],
    ['producer', 'weightport'],
    ['arch', g.arch],
    ['naming', naming],
    ['dtype', dtype],
    ['classes', g.options.classes],
    ['background_class', hasBackgroundClass(g)],
    ['aux', tensors.some((t) => t.param?.startsWith('AuxLogits/'))],
    ['width_divisor', g.options.widthDivisor],
    ['batchnorm', hasBn ? 'kept' : 'folded'],
    ['outputs', g.options.softmax ? 'probabilities' : 'logits'],
    ['input_size', g.options.inputSize],
    ['input_layout', tfLayout ? 'NHWC' : 'NCHW'],
    ['input_range', '[-1, 1]'],
    ['mean', '0.5,0.5,0.5'],
    ['std', '0.5,0.5,0.5'],
    ['source_file', p.sourceFile],
    ['source_sha256', p.sourceSha256],
    ['source_format', p.sourceFormat],
    ['source_scheme', p.scheme],
    ['source_classes', p.sourceClasses],
  ];
  return Object.fromEntries(entries.filter(([, v]) => v !== undefined).map(([k, v]) => [k, String(v)]));
}

/** Computes names, order, offsets and the padded header, without reading any weight. */
export function planSafetensors(model: CanonicalModel, options: WriteOptions = {}): SafetensorsPlan {
  const namingName = options.naming ?? 'canonical';
  const naming = NAMINGS.find((n) => n.name === namingName);
  if (!naming) throw new UsageError(`no '${namingName}' naming for safetensors yet (available: ${NAMINGS.map((n) => n.name).join(', ')})`);
  const dtype = options.dtype ?? 'float32';
  if (dtype !== 'float32' && dtype !== 'float16') throw new UsageError(`safetensors: dtype must be float32 or float16, got ${dtype}`);
  const named = naming.layout(model.graph);
  // A naming without gamma (Keras) must not lose a gamma that is not 1: fold it into the variance.
  const storesGamma = named.some((t) => t.param?.endsWith('/BatchNorm/gamma'));
  const hasBn = model.params.some((p) => p.role === 'bn.gamma');
  if (hasBn && !storesGamma) model = withUnitGamma(model, naming.name);
  const params = new Map(model.params.map((p) => [p.name, p]));

  const seen = new Set<string>();
  const items = named.map((tensor) => {
    if (seen.has(tensor.name)) throw new Error(`${naming.name} naming: duplicate tensor name ${tensor.name}`);
    seen.add(tensor.name);
    // Float constants (unfolded batch norm) follow the output dtype; integer ones keep theirs.
    if (tensor.constant) return { tensor, dtype: tensor.constant.dtype === 'float32' ? dtype : tensor.constant.dtype };
    const param = tensor.param === undefined ? undefined : params.get(tensor.param);
    if (!param) throw new Error(`${naming.name} naming: ${tensor.name} refers to ${tensor.param}, which the model does not have`);
    return { tensor, dtype, param };
  });
  items.sort((a, b) => DTYPE_SIZE[b.dtype] - DTYPE_SIZE[a.dtype] || (a.tensor.name < b.tensor.name ? -1 : a.tensor.name > b.tensor.name ? 1 : 0));

  const metadata = (p: SettledProvenance) => metadataOf(model.graph, p, naming.name, named, dtype);
  const json: Record<string, unknown> = { __metadata__: metadata(provisionalProvenance(model.provenance)) };
  let offset = 0;
  const tensors: Planned[] = items.map((it) => {
    const bytes = DTYPE_SIZE[it.dtype] * sizeOf(it.tensor.shape);
    const planned = { ...it, begin: offset, end: offset + bytes };
    json[it.tensor.name] = { dtype: DTYPE_CODE[it.dtype], shape: it.tensor.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
    return planned;
  });
  const header = encodeHeader(json);
  const provenance = model.provenance;
  const finalHeader = provenancePending(provenance)
    ? async () => {
        const final = encodeHeader({ ...json, __metadata__: metadata(await settledProvenance(provenance)) });
        if (final.byteLength !== header.byteLength) throw new Error(`the final header is ${final.byteLength} bytes, ${header.byteLength} were planned`);
        return final;
      }
    : undefined;
  return { header, finalHeader, tensors, size: header.byteLength + offset };
}

/** The 8-byte length, then the JSON padded with spaces so that the data starts 8-byte aligned. */
function encodeHeader(json: Record<string, unknown>): Uint8Array {
  const raw = new TextEncoder().encode(JSON.stringify(json));
  const padded = Math.ceil(raw.byteLength / 8) * 8;
  const header = new Uint8Array(8 + padded).fill(0x20, 8);
  new DataView(header.buffer).setBigUint64(0, BigInt(padded), true);
  header.set(raw, 8);
  return header;
}

/** The stored bytes of one planned tensor: read once, transformed once, converted once. */
async function bytesFor(t: Planned): Promise<Piece> {
  const c = t.tensor.constant;
  if (c) {
    const n = sizeOf(t.tensor.shape);
    switch (t.dtype) {
      case 'int64':
        return { bytes: bytesOf(new BigInt64Array(n).fill(BigInt(c.value))) };
      case 'float32':
        return { bytes: bytesOf(new Float32Array(n).fill(c.value)) };
      case 'float16':
        return { bytes: bytesOf(toFloat16(new Float32Array(n).fill(c.value))) };
      case 'int32':
        return { bytes: bytesOf(new Int32Array(n).fill(c.value)) };
      default:
        throw new Error(`constant of dtype ${t.dtype} is not supported by the safetensors writer`);
    }
  }
  const p = t.param!;
  const data = await p.read();
  if (data.length !== sizeOf(t.tensor.shape))
    throw new Error(`${t.tensor.name}: ${data.length} values, stored shape [${t.tensor.shape}] needs ${sizeOf(t.tensor.shape)}`);
  const tr = t.tensor.transform;
  const store = tr && tr.name !== 'none' ? (d: Float32Array, into?: Float32Array) => tr.store(d, p.shape, into) : undefined;
  return storedPiece(data, p.freshReads === true, store, t.dtype === 'float16', (a) => toFloat16Checked(a, t.tensor.name));
}

/** Writes `model` as safetensors at `outPath` (atomically; see the file comment). */
export async function writeSafetensors(model: CanonicalModel, outPath: string, options: WriteOptions = {}): Promise<WriteResult> {
  const plan = planSafetensors(model, options);
  return writeOutputs([outPath], { force: options.force, beforeCommit: options.beforeCommit }, async (tmp) => {
    const out = await openSink(tmp(outPath));
    try {
      await out.put(plan.header);
      const total = plan.tensors.length;
      const tasks = plan.tensors.map((t) => () => bytesFor(t));
      let i = 0;
      for await (const { bytes, written } of readAhead(tasks, plan.tensors.map((t) => t.end - t.begin))) {
        const t = plan.tensors[i];
        if (bytes.byteLength !== t.end - t.begin) throw new Error(`${t.tensor.name}: ${bytes.byteLength} bytes, planned ${t.end - t.begin}`);
        await out.put(bytes, written);
        options.onProgress?.(i + 1, total); // (after the call: `?.` skips evaluating its arguments)
        i++;
      }
      const written = await out.flush();
      if (written !== plan.size) throw new Error(`wrote ${written} bytes, planned ${plan.size}`);
      if (plan.finalHeader) await out.overwrite(await plan.finalHeader(), 0);
    } finally {
      await out.close();
    }
    return { files: [outPath], bytes: plan.size };
  });
}

export const safetensorsWriter: Writer = {
  format: 'safetensors',
  description: 'safetensors with any registered naming (canonical, timm, ...), float32 or float16, with provenance in __metadata__',
  write: writeSafetensors,
};
