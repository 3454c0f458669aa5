/**
 * ONNX files from the real producer: timm's `inception_v4` and `inception_resnet_v2` exported by
 * `torch.onnx.export` at opsets 13 and 17, with batch norm kept and folded
 * (fixtures/timm_fixtures.py `make --onnx`, fixtures/README.md). Each file is read with
 * `--from auto` (the ONNX reader and topology scheme: PyTorch's names say nothing), converted to
 * every writer's format, and run by a real engine: ONNX in onnxruntime-node, tfjs in TensorFlow.js
 * (wasm), timm-named safetensors in timm itself. Every output must match torch's own within 1e-4
 * with the same top-5.
 *
 * Thin variants (width / 16) are made here in a few seconds; the full-size files are cached in
 * cacheDir('timm') (made when missing, about 200 MB each).
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bindModel, readModel } from '../../src/api.js';
import type { Arch } from '../../src/graphs/ir.js';
import { readNpy } from '../../src/io/npy.js';
import type { CanonicalModel } from '../../src/model.js';
import { defaultInput } from '../../src/parity/input.js';
import { runOnnx } from '../../src/parity/ort.js';
import { runTfjs } from '../../src/parity/tfjs.js';
import { WRITERS } from '../../src/writers/index.js';
import { cacheDir, python } from '../helpers/python.js';
import { assertNonDegenerate, defaultInputNpy, maxAbsDiff, timmLogits, TIMM_SCRIPT, topK, type TimmJob } from '../helpers/timm.js';

const py = python('torch');
const ARCHS: readonly Arch[] = ['inception_v4', 'inception_resnet_v2'];
const KINDS = [
  { opset: 13, kind: 'bn' },
  { opset: 13, kind: 'folded' },
  { opset: 17, kind: 'bn' },
  { opset: 17, kind: 'folded' },
] as const;
const TOLERANCE = 1e-4;
const skipNote = py.ok ? '' : ` (skipped: ${py.reason})`;

/** What was measured, printed at the end: file, target, max |Δ logit|. */
const measured: string[] = [];
afterAll(() => {
  if (measured.length) console.log(`torch ONNX fixtures, max |torch - engine| per target:\n${measured.map((m) => `  ${m}`).join('\n')}`);
});

const onnxName = (tag: string, opset: number, kind: string) => `timm_${tag}.opset${opset}.${kind}.onnx`;
/** The fixture files of one model are all there (timm_fixtures.py make --onnx). */
const ready = (dir: string, tag: string) =>
  [`timm_${tag}.logits.npy`, ...KINDS.map((k) => onnxName(tag, k.opset, k.kind))].every((n) => existsSync(join(dir, n)));

function first(outputs: Map<string, { data: Float32Array }>): Float32Array {
  return [...outputs.values()][0].data;
}

function expectClose(label: string, got: Float32Array, ref: Float32Array) {
  const diff = maxAbsDiff(got, ref);
  measured.push(`${label}: ${diff.toExponential(2)}`);
  expect(diff, label).toBeLessThan(TOLERANCE);
  expect(topK(got), label).toEqual(topK(ref));
}

/**
 * Reads one torch ONNX file with --from auto, checks what was recognised, converts it to every
 * writer's format and runs each; returns the timm jobs (safetensors in timm's naming) to run in one
 * Python process afterwards.
 */
async function convertAndRun(dir: string, out: string, file: string, arch: Arch, kind: 'bn' | 'folded', ref: Float32Array, widthDivisor: number): Promise<TimmJob[]> {
  const x = defaultInput();
  const label = file.replace(/^timm_/, '').replace(/\.onnx$/, '');
  const source = await readModel(join(dir, file));
  let model: CanonicalModel;
  try {
    expect(source.format).toBe('onnx');
    const bound = bindModel(source);
    expect(bound.detection).toMatchObject({ scheme: 'onnx', arch, foldedBn: kind === 'folded', options: { classes: 1000, widthDivisor } });
    model = bound.model;
    const jobs: TimmJob[] = [];
    for (const writer of WRITERS) {
      const target = join(out, `${label}.ours.${writer.format === 'tfjs' ? 'tfjs' : writer.format}`);
      if (writer.format === 'onnx') {
        await writer.write(model, target, { force: true });
        expectClose(`${label} -> onnx (onnxruntime)`, first((await runOnnx(target, x)).outputs), ref);
      } else if (writer.format === 'tfjs') {
        await writer.write(model, target, { force: true });
        expectClose(`${label} -> tfjs (tfjs wasm)`, first((await runTfjs('wasm', target, x)).outputs), ref);
      } else if (writer.format === 'safetensors') {
        if (kind === 'bn') {
          // timm's naming holds batch norm: timm itself loads it (strict) and runs it
          await writer.write(model, target, { force: true, naming: 'timm' });
          jobs.push({ arch, weights: target, input: join(dir, 'input.npy'), out: join(out, `${label}.ours.timm.npy`), width_divisor: widthDivisor });
        } else {
          // folded: no timm layout exists; canonical safetensors, read back, run as ONNX
          await writer.write(model, target, { force: true });
          const again = await readModel(target);
          try {
            const onnx = `${target}.onnx`;
            await WRITERS.find((w) => w.format === 'onnx')!.write(bindModel(again).model, onnx, { force: true });
            expectClose(`${label} -> safetensors -> onnx (onnxruntime)`, first((await runOnnx(onnx, x)).outputs), ref);
          } finally {
            await again.close();
          }
        }
      } else {
        measured.push(`${label} -> ${writer.format}: written, no engine to run it here`);
        await writer.write(model, target, { force: true });
      }
    }
    return jobs;
  } finally {
    await source.close();
  }
}

async function runTimmJobs(dir: string, jobs: TimmJob[], ref: Float32Array) {
  if (!jobs.length) return;
  const logits = await timmLogits(py, dir, jobs);
  for (const [i, j] of jobs.entries()) {
    const label = `${j.weights.split('/').at(-1)} (timm, strict load)`;
    const diff = maxAbsDiff(logits[i], ref);
    measured.push(`${label}: ${diff.toExponential(2)}`);
    // the same weights, bit for bit, in the same framework: the same logits
    expect(diff, label).toBe(0);
  }
}

describe.skipIf(!py.ok)(`torch-exported ONNX, thin (width / 16), cached in cacheDir('onnx-torch-d16')${skipNote}`, () => {
  // torch.onnx.export of the four variants takes a minute or two: made once, reused
  const dir = py.ok ? cacheDir('onnx-torch-d16') : '';

  const out = py.ok ? mkdtempSync(join(tmpdir(), 'wp-onnx-torch-')) : '';
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it.each(ARCHS)('%s: 4 exports (opsets 13, 17; BN kept, folded) -> every writer -> engines = torch', async (arch) => {
    const input = await defaultInputNpy(dir);
    const tag = `${arch}_d16`;
    if (!ready(dir, tag)) py.run(TIMM_SCRIPT, ['make', '--arch', arch, '--width-divisor', '16', '--seed', '7', '--onnx', '--out', dir, '--input', input]);
    const ref = (await readNpy(join(dir, `timm_${tag}.logits.npy`))).data;
    assertNonDegenerate(ref);
    const jobs: TimmJob[] = [];
    for (const { opset, kind } of KINDS) {
      const file = onnxName(tag, opset, kind);
      // the export itself, in onnxruntime: the fixture is what torch computes
      expectClose(`${file} itself (onnxruntime)`, first((await runOnnx(join(dir, file), defaultInput())).outputs), ref);
      jobs.push(...(await convertAndRun(dir, out, file, arch, kind, ref, 16)));
    }
    await runTimmJobs(dir, jobs, ref);
  }, 900_000);
});

describe.skipIf(!py.ok)(`torch-exported ONNX, full size (cached in cacheDir('timm'))${skipNote}`, () => {
  const dir = py.ok ? cacheDir('timm') : '';

  const out = py.ok ? mkdtempSync(join(tmpdir(), 'wp-onnx-torch-full-')) : '';
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it.each(ARCHS)('%s: 4 exports -> every writer -> engines = torch', async (arch) => {
    const input = await defaultInputNpy(dir);
    if (!ready(dir, arch)) py.run(TIMM_SCRIPT, ['make', '--arch', arch, '--out', dir, '--onnx', '--input', input], { timeoutMs: 30 * 60_000 });
    const ref = (await readNpy(join(dir, `timm_${arch}.logits.npy`))).data;
    assertNonDegenerate(ref);
    const jobs: TimmJob[] = [];
    for (const { opset, kind } of KINDS) {
      jobs.push(...(await convertAndRun(dir, out, onnxName(arch, opset, kind), arch, kind, ref, 1)));
      // full-size outputs are 200 MB each: keep only what timm still has to load
      for (const f of readdirSync(out)) if (!jobs.some((j) => j.weights === join(out, f))) rmSync(join(out, f), { recursive: true, force: true });
    }
    await runTimmJobs(dir, jobs, ref);
  }, 3_600_000);
});
