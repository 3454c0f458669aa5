/**
 * `--layers` on an ONNX file written without block outputs: a copy of the model with one extra
 * output per block, named after the block (as the ONNX writer's `exposeBlocks` names them), so
 * that onnxruntime returns every block's value. Only values that the file computes under the
 * names weightport's writer gives them (src/writers/onnx/graph.ts `valueNames`) can be exposed;
 * other producers' files (PyTorch exports) are left alone.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Graph } from '../graphs/ir.js';
import { blockStats } from '../graphs/shapes.js';

/** ONNX TensorProto.DataType FLOAT. */
const FLOAT = 1;

export interface ExposedOnnx {
  /** The copy with block outputs. */
  readonly path: string;
  /** Blocks exposed. */
  readonly blocks: number;
}

/**
 * Writes the copy into `dir`, or beside the model when it keeps its weights in external data
 * files (onnxruntime resolves them relative to the model). Returns undefined when no block value
 * is found in the file.
 */
export async function exposeOnnxBlocks(path: string, graph: Graph, dir: string): Promise<ExposedOnnx | undefined> {
  const { loadOnnxProto } = await import('../readers/onnx/proto.js');
  const { valueNames } = await import('../writers/onnx/graph.js');
  const onnx = await loadOnnxProto();
  const model = onnx.ModelProto.decode(await readFile(path));
  const g = model.graph;
  if (!g) return undefined;
  const produced = new Set<string>((g.node ?? []).flatMap((n) => n.output ?? []));
  const outputs = new Set((g.output ?? []).map((o) => o.name ?? ''));
  const names = valueNames(graph);
  let exposed = 0;
  for (const b of blockStats(graph)) {
    if (outputs.has(b.block)) {
      exposed++;
      continue;
    }
    const value = names.get(b.output);
    if (!value || !produced.has(value)) continue;
    if (value !== b.block) {
      if (produced.has(b.block)) continue; // the name is taken by another value
      g.node!.push(onnx.NodeProto.create({ opType: 'Identity', name: `${b.block}/Identity`, input: [value], output: [b.block] }));
    }
    g.output!.push(onnx.ValueInfoProto.create({ name: b.block, type: { tensorType: { elemType: FLOAT } } }));
    exposed++;
  }
  if (exposed === 0) return undefined;
  const external = (g.initializer ?? []).some((t) => (t.externalData ?? []).length > 0);
  const out = external ? join(dirname(path), `.${basename(path)}.blocks-${process.pid}.onnx`) : join(dir, `${basename(path, '.onnx')}.blocks.onnx`);
  await writeFile(out, onnx.ModelProto.encode(model).finish());
  return { path: out, blocks: exposed };
}
