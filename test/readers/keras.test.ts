/**
 * The Keras reader against files Keras itself wrote (fixtures/keras_fixtures.py): every format and
 * naming variant converted to ONNX and run in onnxruntime-node reproduces Keras' own output on the
 * default input within 1e-4, probabilities where the model ends in softmax and logits always (the
 * same model with the last Dense linear), with the same top-5. The full-size
 * keras.applications.InceptionResNetV2 too (cached). The measured differences are printed as a
 * table at the end.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { zipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convert, readModel, type ConvertOptions } from '../../src/api.js';
import { readNpy } from '../../src/io/npy.js';
import { probePath } from '../../src/io/probe.js';
import { defaultInput } from '../../src/parity/input.js';
import { runOnnx } from '../../src/parity/ort.js';
import { READERS } from '../../src/readers/index.js';
import { kerasReader, openKeras, isKerasStructure } from '../../src/readers/keras/index.js';
import { shutdownHdf5Workers } from '../../src/readers/keras/hdf5.js';
import { COMMITTED, fullFixtures, thinFixtures, type Fixtures } from '../helpers/keras.js';
import { assertNonDegenerate, maxAbsDiff, topK } from '../helpers/timm.js';

let dir: string;
let thin: Fixtures;
const x = defaultInput();
/** file -> [what was compared, max |ORT - Keras|] rows, printed at the end for the report. */
const measured: string[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'wp-keras-'));
  thin = await thinFixtures();
}, 30 * 60_000);
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await shutdownHdf5Workers();
  if (measured.length) console.log(`Keras vs onnxruntime, max |difference| on the default input:\n${measured.join('\n')}`);
});

/** Converts to ONNX, runs onnxruntime, returns the output and the conversion's detection. */
async function ortOutput(file: string, options: Partial<ConvertOptions> = {}) {
  const out = join(dir, `${basename(file)}-${Math.random().toString(36).slice(2, 8)}.onnx`);
  const result = await convert(file, out, { to: 'onnx', ...options });
  const run = await runOnnx(out, x);
  rmSync(out);
  return { y: [...run.outputs.values()][0].data, result };
}

/** The checks every fixture gets: probabilities (when the source has them) and logits against Keras. */
async function checkAgainstKeras(file: string, ref: string, expect_: { arch: string; classes: number; softmax: boolean }) {
  const logitsRef = (await readNpy(`${ref}.logits.npy`)).data;
  const probsRef = (await readNpy(`${ref}.probs.npy`)).data;
  assertNonDegenerate(logitsRef);
  const asSource = await ortOutput(file);
  expect(asSource.result.arch).toBe(expect_.arch);
  expect(asSource.result.detection.options).toMatchObject({ classes: expect_.classes, widthDivisor: expect.any(Number), softmax: expect_.softmax });
  if (expect_.softmax) {
    const d = maxAbsDiff(asSource.y, probsRef);
    measured.push(`  ${basename(file).padEnd(28)} probabilities ${d.toExponential(2)}`);
    expect(d).toBeLessThan(1e-4);
    expect(topK(asSource.y)).toEqual(topK(probsRef));
  }
  const logits = await ortOutput(file, { softmax: false });
  const d = maxAbsDiff(logits.y, logitsRef);
  measured.push(`  ${basename(file).padEnd(28)} logits        ${d.toExponential(2)}`);
  expect(d).toBeLessThan(1e-4);
  expect(topK(logits.y)).toEqual(topK(logitsRef));
}

describe('match', () => {
  const probe = (head: number[] | Uint8Array, path = 'x.bin') => ({ path, isDirectory: false, size: 4096, head: Uint8Array.from(head), siblings: [] });
  const hdf5 = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];
  const zipHead = (name: string) => {
    const h = new Uint8Array(30 + name.length);
    h.set([0x50, 0x4b, 0x03, 0x04]);
    h[26] = name.length;
    h.set(new TextEncoder().encode(name), 30);
    return h;
  };
  it.each([
    ['HDF5 signature at 0', probe(hdf5), true],
    ['HDF5 after a 512-byte user block', probe([...new Array(512).fill(0), ...hdf5]), true],
    ['a .keras zip (metadata.json first)', probe(zipHead('metadata.json')), true],
    ['a zip named .keras', probe(zipHead('other.txt'), 'm.keras'), true],
    ['another zip', probe(zipHead('archive/data.pkl'), 'm.pt'), false],
    ['safetensors', probe([8, 0, 0, 0, 0, 0, 0, 0, 0x7b]), false],
    ['empty', probe([]), false],
  ])('%s', (_what, p, expected) => {
    expect(kerasReader.match(p)).toBe(expected);
  });

  it('is registered, and --from auto finds it', async () => {
    expect(READERS).toContain(kerasReader);
    const p = await probePath(join(COMMITTED, 'v4.h5'));
    expect(READERS.find((r) => r.match(p))).toBe(kerasReader);
  });
});

describe('committed fixture (no Python needed): fixtures/keras/v4.h5', () => {
  const file = join(COMMITTED, 'v4.h5');

  it('lists the layers with weights in Keras load order, weights in weight_names order', async () => {
    const src = await openKeras(file);
    try {
      expect(src.format).toBe('keras');
      expect(src.metadata).toMatchObject({ layout: 'legacy-weights', keras_version: '3.15.1', backend: 'tensorflow', order: 'model', last_layer: 'predictions' });
      expect(isKerasStructure(src.structure)).toBe(true);
      const layers = (src.structure as { layers: { name: string; weightNames: string[] }[] }).layers;
      expect(layers.length).toBe(299);
      expect(src.tensors.length).toBe(598);
      expect(src.tensors.slice(0, 4).map((t) => `${t.name} [${t.shape}]`)).toEqual([
        'conv2d/conv2d/kernel [3,3,3,4]',
        'batch_normalization/batch_normalization/beta [4]',
        'batch_normalization/batch_normalization/moving_mean [4]',
        'batch_normalization/batch_normalization/moving_variance [4]',
      ]);
      expect(layers.at(-1)).toMatchObject({ name: 'predictions', weightNames: ['kernel', 'bias'] });
      // read lazily, one at a time, as stored
      const k = await src.tensors[0].read();
      expect(k.byteLength).toBe(3 * 3 * 3 * 4 * 4);
    } finally {
      await src.close();
    }
  });

  it('converts to ONNX: onnxruntime reproduces Keras (probabilities and logits)', async () => {
    await checkAgainstKeras(file, join(COMMITTED, 'v4'), { arch: 'inception_v4', classes: 1000, softmax: true });
  });

  it('--classes 1001 adds the background class at 0 (Keras logits at 1..1000)', async () => {
    const ref = (await readNpy(join(COMMITTED, 'v4.logits.npy'))).data;
    const { y } = await ortOutput(file, { classes: 1001, softmax: false });
    expect(y.length).toBe(1001);
    expect(maxAbsDiff(y.subarray(1), ref)).toBeLessThan(1e-4);
    expect(y[0]).toBeLessThan(-1000);
  });
});

describe('Keras 3.15 fixtures, every format (thin, generated by keras_fixtures.py)', () => {
  // [file, reference model, arch, classes, ends in softmax as read]
  const cases: [string, string, string, number, boolean][] = [
    ['irv2.h5', 'irv2', 'inception_resnet_v2', 1000, true],
    ['irv2.model.h5', 'irv2', 'inception_resnet_v2', 1000, true],
    ['irv2.weights.h5', 'irv2', 'inception_resnet_v2', 1000, true],
    ['irv2.keras', 'irv2', 'inception_resnet_v2', 1000, true],
    ['irv2.chunked.h5', 'irv2', 'inception_resnet_v2', 1000, true],
    ['v4.h5', 'v4', 'inception_v4', 1000, true],
    ['v4.model.h5', 'v4', 'inception_v4', 1000, true],
    ['v4.weights.h5', 'v4', 'inception_v4', 1000, true],
    ['v4.keras', 'v4', 'inception_v4', 1000, true],
    ['irv2_keras2.keras2.h5', 'irv2_keras2', 'inception_resnet_v2', 1000, true],
    ['irv2_slim.h5', 'irv2_slim', 'inception_resnet_v2', 1000, false], // no config, last layer 'Logits_Logits'
    ['irv2_slim.model.h5', 'irv2_slim', 'inception_resnet_v2', 1000, true],
    ['v4_1001.keras2.h5', 'v4_1001', 'inception_v4', 1001, false], // no config, last layer 'dense'
    ['v4_nested.h5', 'v4_nested', 'inception_v4', 1000, true],
    ['v4_nested.weights.h5', 'v4_nested', 'inception_v4', 1000, true],
    ['v4_nested.keras', 'v4_nested', 'inception_v4', 1000, true],
  ];
  it.each(cases)('%s', async (file, model, arch, classes, softmax) => {
    if (!thin.ok) return void console.log(`skipped: ${thin.reason}`);
    await checkAgainstKeras(join(thin.dir, file), join(thin.dir, model), { arch, classes, softmax });
  });

  it('the layouts are read as what they are', async () => {
    if (!thin.ok) return void console.log(`skipped: ${thin.reason}`);
    const layout = async (f: string) => {
      const s = await openKeras(join(thin.dir, f));
      await s.close();
      return [s.metadata.layout, s.metadata.order, s.metadata.keras_version, s.metadata.last_layer_softmax];
    };
    expect(await layout('irv2.h5')).toEqual(['legacy-weights', 'model', '3.15.1', null]);
    expect(await layout('irv2.model.h5')).toEqual(['legacy-model', 'model', '3.15.1', true]);
    expect(await layout('irv2.weights.h5')).toEqual(['keras3-weights', 'per-class', null, null]);
    expect(await layout('irv2.keras')).toEqual(['keras3-archive', 'model', '3.15.1', true]);
    expect(await layout('irv2_keras2.keras2.h5')).toEqual(['legacy-weights', 'model', '2.2.4', null]);
  });

  it('a deflated .keras (zip recompressed) reads the same', async () => {
    if (!thin.ok) return void console.log(`skipped: ${thin.reason}`);
    const { unzipSync } = await import('fflate');
    const entries = unzipSync(new Uint8Array(readFileSync(join(thin.dir, 'v4.keras'))));
    const deflated = join(dir, 'v4.deflated.keras');
    writeFileSync(deflated, zipSync(entries, { level: 6 }));
    await checkAgainstKeras(deflated, join(thin.dir, 'v4'), { arch: 'inception_v4', classes: 1000, softmax: true });
  });

  it('--classes 1000 drops the background class of a 1001-class port', async () => {
    if (!thin.ok) return void console.log(`skipped: ${thin.reason}`);
    const ref = (await readNpy(join(thin.dir, 'v4_1001.logits.npy'))).data;
    const { y } = await ortOutput(join(thin.dir, 'v4_1001.keras2.h5'), { classes: 1000 });
    expect(y.length).toBe(1000);
    expect(maxAbsDiff(y, ref.subarray(1))).toBeLessThan(1e-4);
  });
});

describe('full size: keras.applications.InceptionResNetV2 (cached)', () => {
  let full: Fixtures;
  beforeAll(async () => {
    full = await fullFixtures();
  }, 60 * 60_000);
  it.each(['irv2_full.h5', 'irv2_full.keras', 'irv2_full.model.h5', 'irv2_full.weights.h5'])(
    '%s',
    async (file) => {
      if (!full.ok) return void console.log(`skipped: ${full.reason}`);
      if (!existsSync(join(full.dir, file))) throw new Error(`${file} missing from ${full.dir}`);
      await checkAgainstKeras(join(full.dir, file), join(full.dir, 'irv2_full'), { arch: 'inception_resnet_v2', classes: 1000, softmax: true });
    },
    600_000,
  );

  it('reads the 225 MB file as 898 tensors of 55,873,736 weights', async () => {
    if (!full.ok) return void console.log(`skipped: ${full.reason}`);
    const src = await readModel(join(full.dir, 'irv2_full.h5'), { from: 'keras' });
    try {
      expect(src.tensors.length).toBe(898);
      expect(src.tensors.reduce((s, t) => s + t.byteLength / 4, 0)).toBe(55_873_736);
    } finally {
      await src.close();
    }
  });
});
