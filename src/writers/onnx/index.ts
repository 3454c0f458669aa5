/**
 * The ONNX writer: the canonical model as an ONNX ModelProto (README.md, "ONNX output").
 *
 * Streaming: the graph is translated (graph.ts) and encoded without tensor data (proto.ts); then
 * each parameter is read once, converted once (float16) and written straight into the file (or
 * into `<out>.data`), with the next one read while the current one is written. Memory stays at
 * about two tensors beyond the source's own, whatever the model's size.
 */
import { basename } from 'node:path';
import { UsageError } from '../../errors.js';
import { sizeOf } from '../../graphs/ir.js';
import { foldBatchNorm } from '../../graphs/transforms.js';
import { writeOutputs } from '../../io/output.js';
import { provenancePending, provisionalProvenance, settledProvenance, type CanonicalModel, type CanonicalParam } from '../../model.js';
import { bytesOf } from '../../tensor.js';
import type { WriteOptions, WriteResult, Writer } from '../types.js';
import { toFloat16Checked } from '../float16.js';
import { emitGraph, type OnnxGraph } from './graph.js';
import { metadataProps } from './metadata.js';
import { encodeModel, encodeTail, type EncodedModel, type Placement } from './proto.js';
import { openSink, pieceOf, readAhead, type Piece, type Sink } from '../../io/stream.js';
import { packageVersion } from '../../version.js';

export { emitGraph, valueNames, mainOutputName, ONNX_NAMES, ONNX_DTYPE, type OnnxGraph, type OnnxNode } from './graph.js';

/** Opsets written: 13 (the oldest with today's Softmax, Split, Squeeze semantics) to 21. */
export const ONNX_OPSETS = { min: 13, max: 21 } as const;

/**
 * Default opset: 17, run by every onnxruntime since 1.12 (2022); the ops used here mean the same
 * in every opset 13..21.
 */
export const DEFAULT_OPSET = 17;

/** The lowest IR version that allows each opset (onnx/helper.py VERSION_TABLE): older readers accept it. */
const IR_VERSION_OF_OPSET: Readonly<Record<number, number>> = { 13: 7, 14: 7, 15: 8, 16: 8, 17: 8, 18: 8, 19: 9, 20: 9, 21: 10 };

/**
 * Protobuf cannot parse a message of 2 GiB or more (its sizes are signed 32-bit), so an ONNX file
 * must stay below; past it the tensors go to external data (onnx/external_data_helper.py).
 */
export const PROTOBUF_MAX_BYTES = 2 ** 31 - 1;

/**
 * Offsets of tensors in the external data file are multiples of this (page size): a reader can
 * map each tensor; the ONNX external-data spec allows any offset.
 */
export const EXTERNAL_DATA_ALIGNMENT = 4096;

export interface ResolvedOnnxOptions {
  readonly opset: number;
  readonly dtype: 'float32' | 'float16';
  readonly foldBn: boolean;
  readonly externalData: boolean;
  readonly exposeBlocks: boolean;
  readonly force: boolean;
}

/** Checks and defaults the options that concern ONNX; bad values are usage errors (exit code 2). */
export function resolveOnnxOptions(options: WriteOptions = {}): ResolvedOnnxOptions {
  const opset = options.opset ?? DEFAULT_OPSET;
  if (!Number.isInteger(opset) || opset < ONNX_OPSETS.min || opset > ONNX_OPSETS.max)
    throw new UsageError(`--opset ${opset} is not supported: give an opset from ${ONNX_OPSETS.min} to ${ONNX_OPSETS.max} (default ${DEFAULT_OPSET})`);
  const dtype = options.dtype ?? 'float32';
  if (dtype !== 'float32' && dtype !== 'float16') throw new UsageError(`--dtype ${String(dtype)} is not supported by the ONNX writer: float32 or float16`);
  return {
    opset,
    dtype,
    foldBn: options.foldBn ?? false,
    externalData: options.externalData ?? false,
    exposeBlocks: options.exposeBlocks ?? false,
    force: options.force ?? false,
  };
}

/** Where each tensor's bytes go: all inline, or all in the data file named `location`, aligned. */
export function placeTensors(lengths: readonly number[], location?: string): Placement[] {
  let end = 0;
  return lengths.map((length): Placement => {
    if (location === undefined) return { kind: 'inline', length };
    const offset = Math.ceil(end / EXTERNAL_DATA_ALIGNMENT) * EXTERNAL_DATA_ALIGNMENT;
    end = offset + length;
    return { kind: 'external', length, location, offset };
  });
}

/**
 * Inline tensors, or external data when asked for or when the inline file would pass protobuf's
 * limit. `encode` lays the model out either way.
 */
export function layOut<T extends { encoded: EncodedModel }>(
  externalData: boolean,
  encode: (external: boolean) => T,
  limit = PROTOBUF_MAX_BYTES,
): T & { external: boolean } {
  if (!externalData) {
    const inline = encode(false);
    if (inline.encoded.size <= limit) return { ...inline, external: false };
  }
  return { ...encode(true), external: true };
}

/**
 * Reads one parameter and returns the bytes to store (little-endian, as ONNX raw_data is), and
 * what to do once they are written: give an owned buffer back to io/pool.
 */
async function tensorBytes(param: CanonicalParam, dtype: 'float32' | 'float16'): Promise<Piece> {
  const data = await param.read();
  if (data.length !== sizeOf(param.shape)) throw new Error(`parameter ${param.name}: ${data.length} values for shape [${param.shape}]`);
  return pieceOf(data, param.freshReads === true, dtype === 'float16', (a) => toFloat16Checked(a, param.name));
}

const DOC_STRING = (g: OnnxGraph) =>
  `${g.name === 'inception_v4' ? 'Inception-v4' : 'Inception-ResNet-v2'} (arXiv:1602.07261), written by weightport. ` +
  `Input '${g.inputs[0].name}' NCHW [N, 3, ${g.inputs[0].dims[2]}, ${g.inputs[0].dims[3]}] in [-1, 1]; outputs ${g.outputs.map((o) => `'${o.name}'`).join(', ')}.`;

async function write(model: CanonicalModel, outPath: string, options: WriteOptions = {}): Promise<WriteResult> {
  const o = resolveOnnxOptions(options);
  const m = o.foldBn ? foldBatchNorm(model) : model;
  const graph = emitGraph(m.graph, { dtype: o.dtype, exposeBlocks: o.exposeBlocks });
  const params = new Map(m.params.map((p) => [p.name, p]));
  const ordered = graph.initializers.map((t) => {
    const p = params.get(t.name);
    if (!p) throw new Error(`onnx writer: the model has no parameter ${t.name}`);
    return p;
  });
  const lengths = graph.initializers.map((t) => sizeOf(t.dims) * (o.dtype === 'float16' ? 2 : 4));

  const producerVersion = packageVersion();
  const facts = {
    opset: o.opset,
    dtype: o.dtype,
    foldedBn: !m.graph.nodes.some((n) => n.op === 'batchnorm'),
    outputs: graph.outputs.slice(0, m.graph.outputs.aux ? 2 : 1).map((v) => v.name),
  };
  const info = {
    irVersion: IR_VERSION_OF_OPSET[o.opset],
    opset: o.opset,
    producerName: 'weightport',
    producerVersion,
    docString: DOC_STRING(graph),
    metadata: metadataProps(m.graph, provisionalProvenance(m.provenance), facts),
  };
  const dataPath = `${outPath}.data`;
  const { external, placements, encoded } = layOut(o.externalData, (external) => {
    const placements = placeTensors(lengths, external ? basename(dataPath) : undefined);
    return { placements, encoded: encodeModel(graph, info, placements) };
  });
  const targets = external ? [outPath, dataPath] : [outPath];

  return writeOutputs(targets, { force: o.force, beforeCommit: options.beforeCommit }, (tmp) =>
    streamModel({
      file: tmp(outPath),
      data: external ? tmp(dataPath) : undefined,
      encoded,
      placements,
      tensors: ordered.map((p) => () => tensorBytes(p, o.dtype)),
      // The metadata again once the provenance is known (the source's SHA-256): same size.
      tail: async () =>
        provenancePending(m.provenance)
          ? encodeTail(graph, { ...info, metadata: metadataProps(m.graph, await settledProvenance(m.provenance), facts) })
          : encoded.tail,
      onProgress: options.onProgress,
    }).then((bytes) => ({ files: targets, bytes })),
  );
}

/**
 * Writes the encoded model with each tensor's bytes after its framing (or in the data file), the
 * next tensors read while the current one is written. Returns the bytes written to both files.
 */
async function streamModel(s: {
  file: string;
  data?: string;
  encoded: EncodedModel;
  placements: readonly Placement[];
  tensors: readonly (() => Promise<Piece>)[];
  tail: () => Promise<Uint8Array>;
  onProgress?: (done: number, total: number) => void;
}): Promise<number> {
  const file = await openSink(s.file);
  let data: Sink | undefined;
  let failed = false;
  try {
    if (s.data !== undefined) data = await openSink(s.data);
    await file.put(s.encoded.head);
    let i = 0;
    for await (const { bytes, written } of readAhead(s.tensors, s.placements.map((p) => p.length))) {
      await file.put(s.encoded.tensorHeads[i]);
      const place = s.placements[i];
      if (bytes.byteLength !== place.length) throw new Error(`onnx writer: tensor ${i} has ${bytes.byteLength} bytes, ${place.length} were planned`);
      if (place.kind === 'external') {
        await data!.padTo(place.offset);
        await data!.put(bytes, written);
      } else await file.put(bytes, written);
      s.onProgress?.(i + 1, s.tensors.length); // (after the call: `?.` skips evaluating its arguments)
      i++;
    }
    const tail = await s.tail();
    if (tail.length !== s.encoded.tail.length) throw new Error(`onnx writer: the final metadata is ${tail.length} bytes, ${s.encoded.tail.length} were planned`);
    await file.put(tail);
    const written = await file.flush();
    if (written !== s.encoded.size) throw new Error(`onnx writer: wrote ${written} bytes, the framing says ${s.encoded.size}`);
    return written + (data ? await data.flush() : 0);
  } catch (e) {
    failed = true;
    throw e;
  } finally {
    // Both files closed whatever happens; a failing close is the error unless one is on its way.
    const closed = await Promise.allSettled([file.close(), data?.close()]);
    const closeError = closed.find((r) => r.status === 'rejected');
    if (closeError && !failed) throw closeError.reason;
  }
}

export const onnxWriter: Writer = {
  format: 'onnx',
  description: `ONNX (opset ${ONNX_OPSETS.min}..${ONNX_OPSETS.max}, default ${DEFAULT_OPSET}); float32 or float16 weights; external data past 2 GB`,
  write,
};
