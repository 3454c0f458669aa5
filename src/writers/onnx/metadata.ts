/**
 * ModelProto.metadata_props: where the weights came from and how to feed the model, as plain
 * string pairs that any ONNX tool shows (onnxruntime's `ModelMetadata.custom_metadata_map`,
 * Netron's properties). Keys are documented in README.md ("ONNX output").
 */
import type { Graph } from '../../graphs/ir.js';
import { hasBackgroundClass, type SettledProvenance } from '../../model.js';
import { ONNX_NAMES } from './graph.js';

export interface WrittenFacts {
  readonly opset: number;
  readonly dtype: 'float32' | 'float16';
  /** Batch norm folded into the convs (by the writer or already in the source). */
  readonly foldedBn: boolean;
  /** The ONNX graph outputs' names, in order (main, aux). */
  readonly outputs: readonly string[];
}

/** Key/value pairs in a fixed order; provenance fields that are unknown are left out. */
export function metadataProps(graph: Graph, p: SettledProvenance, facts: WrittenFacts): [string, string][] {
  const size = graph.options.inputSize;
  const props: [string, string | undefined][] = [
    ['source_file', p.sourceFile],
    ['source_sha256', p.sourceSha256],
    ['source_format', p.sourceFormat],
    ['naming_scheme', p.scheme],
    ['source_classes', p.sourceClasses?.toString()],
    ['source_outputs_probabilities', p.sourceOutputsProbabilities?.toString()],
    ['architecture', graph.arch],
    ['width_divisor', graph.options.widthDivisor === 1 ? undefined : String(graph.options.widthDivisor)],
    ['classes', String(graph.options.classes)],
    // TF-slim's 1001 classes put "background" at index 0; ImageNet's classes follow.
    ['background_class', hasBackgroundClass(graph) ? 'index 0' : 'none'],
    ['input_name', ONNX_NAMES.input],
    ['input_layout', `NCHW [${ONNX_NAMES.batch}, 3, ${size}, ${size}], float32, RGB`],
    ['input_size', String(size)],
    ['input_range', '[-1, 1]'],
    // (x / 255 - mean) / std with mean = std = 0.5 is x / 127.5 - 1, the networks' own scaling.
    ['preprocessing', 'x / 127.5 - 1 for 8-bit RGB x: (x / 255 - mean) / std'],
    ['mean', '0.5,0.5,0.5'],
    ['std', '0.5,0.5,0.5'],
    ['outputs', facts.outputs[0] === ONNX_NAMES.probabilities ? 'probabilities' : 'logits'],
    ['output_names', facts.outputs.join(',')],
    ['batchnorm', facts.foldedBn ? 'folded into conv' : 'kept'],
    ['weights_dtype', facts.dtype],
    ['opset', String(facts.opset)],
  ];
  return props.filter((kv): kv is [string, string] => kv[1] !== undefined);
}
