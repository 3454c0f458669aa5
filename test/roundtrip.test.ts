/**
 * Round trips across every format: for each writer in WRITERS (safetensors once per naming in
 * NAMINGS, ONNX with batch norm kept and folded), reading what it wrote back through READERS with
 * `--from auto` and the detected scheme gives the canonical model again, bit for bit (float32).
 * The registries are iterated, so a reader, writer or naming registered later is covered without
 * editing this file; a pair whose pieces have not landed is simply absent (and listed).
 *
 * One documented exception: the tfjs layout folds Inception-ResNet-v2's residual scale into the
 * up-projection (graphs/schemes/tfjs.ts): those tensors come back within 1 ulp (fl(fl(w·s)/s)).
 *
 * Models: thin (width / 8 or 16), both networks, auxiliary head on or off, 1000 or 1001 classes,
 * random seeds (fast-check).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { bindModel, readModel } from '../src/api.js';
import { buildGraph, graphParams, type Arch, type Graph } from '../src/graphs/index.js';
import { seededModel } from '../src/graphs/init.js';
import { NAMINGS } from '../src/graphs/schemes/index.js';
import { foldBatchNorm } from '../src/graphs/transforms.js';
import { probePath } from '../src/io/probe.js';
import { readAll, type CanonicalModel } from '../src/model.js';
import { READERS } from '../src/readers/index.js';
import { WRITERS, type WriteOptions, type Writer } from '../src/writers/index.js';

const dir = mkdtempSync(join(tmpdir(), 'wp-roundtrip-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Variant {
  readonly writer: Writer;
  readonly label: string;
  readonly options: WriteOptions;
  /** The naming the file is laid out in, when the writer takes one. */
  readonly naming?: string;
  /** The model expected back from the written one (the ONNX writer folds on request). */
  readonly expected: (m: CanonicalModel) => CanonicalModel;
}

/** Every writer variant the registries offer now. */
function variants(): Variant[] {
  const out: Variant[] = [];
  for (const writer of WRITERS) {
    if (writer.format === 'safetensors') {
      for (const n of NAMINGS) out.push({ writer, label: `safetensors --naming ${n.name}`, options: { naming: n.name as WriteOptions['naming'] }, naming: n.name, expected: (m) => m });
    } else if (writer.format === 'onnx') {
      out.push({ writer, label: 'onnx', options: {}, expected: (m) => m });
      out.push({ writer, label: 'onnx --fold-bn', options: { foldBn: true }, expected: foldBatchNorm });
    } else out.push({ writer, label: writer.format, options: {}, naming: writer.format === 'tfjs' ? 'tfjs' : undefined, expected: (m) => m });
  }
  return out;
}

const outputName = (format: string, i: number) => (format === 'tfjs' ? `out-${i}-tfjs` : `out-${i}.${format}`);

/** Parameters that a naming does not store at all (TF-slim and Keras store no gamma; timm has no aux head). */
function unstored(graph: Graph, naming: string | undefined): Set<string> {
  const n = NAMINGS.find((x) => x.name === naming);
  if (!n) return new Set();
  const stored = new Set(n.layout(graph).map((t) => t.param));
  return new Set(graphParams(graph).filter((p) => !stored.has(p.name)).map((p) => p.name));
}

/** The residual up-projections whose stored values carry the scale (tfjs layout), canonical param names. */
function scaledParams(graph: Graph, naming: string | undefined): Set<string> {
  if (naming !== 'tfjs') return new Set();
  const out = new Set<string>();
  for (const n of graph.nodes)
    if (n.op === 'residual' && n.scale !== 1) for (const s of ['weights', 'biases']) out.add(`${n.branch}/${s}`);
  return out;
}

const ulpDistance = (a: number, b: number): number => {
  const f = new Float32Array([a, b]);
  const i = new Int32Array(f.buffer);
  return Math.abs(i[0] - i[1]);
};

const covered = new Map<string, number>();
const skipped = new Set<string>();
let ulpTensors = 0;
let exactTensors = 0;

async function roundTrip(arch: Arch, widthDivisor: number, aux: boolean, classes: number, seed: number): Promise<void> {
  const graph = buildGraph(arch, { widthDivisor, aux, classes });
  for (const [i, v] of variants().entries()) {
    const missing = unstored(graph, v.naming);
    const onlyGammaOrAux = [...missing].every((p) => p.endsWith('/gamma') || p.startsWith('AuxLogits/'));
    if (!onlyGammaOrAux) {
      skipped.add(`${v.label}: stores no ${[...missing][0]}`);
      continue;
    }
    // A naming without gamma reads gamma = 1: give the model gamma = 1 to compare bit for bit.
    const gammaOne = [...missing].some((p) => p.endsWith('/gamma'));
    const model = seededModel(graph, { seed, gamma: gammaOne ? 'one' : 'random' });
    const out = join(dir, `${seed}-${outputName(v.writer.format, i)}`);
    await v.writer.write(model, out, { ...v.options, force: true });

    // --from auto: exactly one reader takes the file, the one of its format.
    const probe = await probePath(out);
    const takers = READERS.filter((r) => r.match(probe)).map((r) => r.format);
    const reader = READERS.find((r) => r.format === v.writer.format);
    if (!reader) {
      skipped.add(`${v.label}: no '${v.writer.format}' reader yet`);
      continue;
    }
    expect(takers, `${v.label}: readers that take ${out}`).toEqual([v.writer.format]);
    const source = await readModel(out);
    try {
      expect(source.format).toBe(v.writer.format);
      const { model: back, detection } = bindModel(source, { aux: true });
      expect(detection.arch, v.label).toBe(arch);
      const want = await readAll(v.expected(model));
      const got = await readAll(back);
      // what the naming cannot hold: an aux head is absent, gamma comes back as 1 (the model's own)
      for (const p of missing) if (!got.has(p)) want.delete(p);
      expect([...got.keys()].sort(), v.label).toEqual([...want.keys()].sort());
      const scaled = scaledParams(graph, v.naming);
      for (const [name, w] of want) {
        const g = got.get(name)!;
        expect(g.length, `${v.label} ${name}`).toBe(w.length);
        let worst = 0;
        for (let k = 0; k < w.length; k++) if (!Object.is(g[k], w[k])) worst = Math.max(worst, ulpDistance(g[k], w[k]));
        if (scaled.has(name)) {
          if (worst > 1) expect.fail(`${v.label} ${name}: ${worst} ulp from the original (1 allowed: folded residual scale)`);
          if (worst === 1) ulpTensors++;
          else exactTensors++;
        } else {
          if (worst !== 0) expect.fail(`${v.label} ${name}: not bit for bit (${worst} ulp)`);
          exactTensors++;
        }
      }
      const key = `${v.label} -> ${reader.format} reader, ${detection.scheme} scheme`;
      covered.set(key, (covered.get(key) ?? 0) + 1);
    } finally {
      await source.close();
    }
  }
}

describe('round trips: every writer (and naming) read back by --from auto', () => {
  it('registries are not empty', () => {
    expect(WRITERS.length).toBeGreaterThan(0);
    expect(READERS.length).toBeGreaterThan(0);
  });

  it('fixed corners: both networks, width / 16, aux and 1001 classes', async () => {
    await roundTrip('inception_v4', 16, true, 1001, 1);
    await roundTrip('inception_resnet_v2', 16, false, 1000, 2);
  }, 600_000);

  it('random thin models (fast-check): bit for bit', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<Arch>('inception_v4', 'inception_resnet_v2'),
        fc.constantFrom(8, 16),
        fc.boolean(),
        fc.constantFrom(1000, 1001),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        async (arch, d, aux, classes, seed) => roundTrip(arch, d, aux, classes, seed),
      ),
      { numRuns: 6 },
    );
  }, 1_800_000);

  afterAll(() => {
    const lines = [...covered].map(([k, n]) => `  ${k}: ${n} models`);
    console.log(
      `round trips covered (${covered.size} writer/naming -> reader pairs; ${exactTensors} tensors bit for bit, ${ulpTensors} within 1 ulp):\n${lines.join('\n')}` +
        (skipped.size ? `\nnot covered:\n${[...skipped].map((s) => `  ${s}`).join('\n')}` : ''),
    );
  });
});
