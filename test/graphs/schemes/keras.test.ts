/**
 * The Keras scheme: the canonical graph's Keras layer order against model.layers as Keras itself
 * lists it (fixtures/keras/layers.json, written by fixtures/keras_fixtures.py `layers`), binding by
 * order whatever the layer names, class-by-class binding (Keras 3 .weights.h5 without config),
 * exact reports of missing / extra / misshapen layers, detection, and the `keras` naming through
 * safetensors.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bindModel, readModel, writeModel } from '../../../src/api.js';
import { SchemeError } from '../../../src/errors.js';
import { buildGraph, graphParams, type Arch, type Graph } from '../../../src/graphs/index.js';
import { seededModel } from '../../../src/graphs/init.js';
import { kerasModelLayers, kerasNaming, kerasScheme, kerasWeightedLayers } from '../../../src/graphs/schemes/keras.js';
import { readAll } from '../../../src/model.js';
import type { KerasLayer, KerasStructure } from '../../../src/readers/keras/types.js';
import type { SourceModel, StoredTensor } from '../../../src/readers/types.js';
import { bytesOf } from '../../../src/tensor.js';
import { COMMITTED } from '../../helpers/keras.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'wp-keras-scheme-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type LayerRow = [name: string, className: string, shapes: number[][]];
const layersJson = JSON.parse(readFileSync(join(COMMITTED, 'layers.json'), 'utf8')) as Record<Arch, LayerRow[]>;

describe('Keras layer order (model.layers)', () => {
  it.each(['inception_resnet_v2', 'inception_v4'] as const)('%s: every layer, name, class and weight shape as Keras lists them', (arch) => {
    const ours = kerasModelLayers(buildGraph(arch, { softmax: true })).map((l) => [l.name, l.className, l.weights.map((w) => [...w.shape])]);
    const keras = layersJson[arch];
    expect(ours.length).toBe(keras.length);
    const first = ours.findIndex((l, i) => JSON.stringify(l) !== JSON.stringify(keras[i]));
    expect(first, `first difference at #${first}: ours ${JSON.stringify(ours[first])}, Keras ${JSON.stringify(keras[first])}`).toBe(-1);
  });

  it('keras.applications Inception-ResNet-v2: 449 layers with weights, 55,873,736 weights', () => {
    const layers = kerasWeightedLayers(buildGraph('inception_resnet_v2'));
    expect(layers.length).toBe(449);
    expect(layers.flatMap((l) => l.weights).reduce((s, w) => s + w.shape.reduce((a, b) => a * b, 1), 0)).toBe(55_873_736);
    // depth order interleaves branches: the first Mixed_5b layer is the deepest branch's 1x1
    expect(layers.slice(10, 13).map((l) => l.node)).toEqual([
      'Mixed_5b/Branch_2/Conv2d_0a_1x1',
      'Mixed_5b/Branch_2/Conv2d_0a_1x1/BatchNorm',
      'Mixed_5b/Branch_1/Conv2d_0a_1x1',
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// Synthetic Keras sources: the seeded model's values stored as Keras stores them.

interface Fake {
  readonly name: string;
  readonly className?: string;
  readonly tensors: { name: string; shape: number[]; data: Float32Array; dtype?: 'float32' | 'int32' }[];
}

async function kerasLayersOf(graph: Graph, seed = 1): Promise<Fake[]> {
  const values = await readAll(seededModel(graph, { seed, gamma: 'one' }));
  const shapes = new Map(graphParams(graph).map((p) => [p.name, p.shape]));
  return kerasWeightedLayers(graph).map((l) => ({
    name: l.name,
    className: l.className,
    tensors: l.weights.map((w) => ({ name: `${l.name}/${l.name}/${w.name}`, shape: [...w.shape], data: w.transform.store(values.get(w.param)!, shapes.get(w.param)!) })),
  }));
}

function source(layers: readonly Fake[], extra: Partial<KerasStructure> = {}): SourceModel {
  const kl: KerasLayer[] = layers.map((l) => {
    const weights: StoredTensor[] = l.tensors.map((t) => {
      const bytes = t.dtype === 'int32' ? bytesOf(Int32Array.from(t.data)) : bytesOf(t.data);
      return { name: t.name, dtype: t.dtype ?? 'float32', shape: t.shape, byteLength: bytes.byteLength, read: async () => bytes };
    });
    return { name: l.name, className: l.className, path: `/${l.name}`, weightNames: l.tensors.map((t) => t.name.split('/').pop()!), weights };
  });
  const structure: KerasStructure = { kind: 'keras', layout: 'legacy-weights', order: 'model', layers: kl, ...extra };
  return { format: 'keras', path: 'fake.h5', files: [], metadata: {}, tensors: kl.flatMap((l) => l.weights), structure, close: async () => {} };
}

async function expectBindsExactly(src: SourceModel, graph: Graph, seed = 1, classes?: number): Promise<void> {
  const { model, detection } = bindModel(src);
  expect(detection.scheme).toBe('keras');
  expect(model.graph.arch).toBe(graph.arch);
  expect(model.graph.options.classes).toBe(classes ?? graph.options.classes);
  const want = await readAll(seededModel(graph, { seed, gamma: 'one' }));
  const got = await readAll(model);
  expectSame(got, want);
}

/** Bit-equal values for every parameter (toEqual on typed arrays is slow). */
function expectSame(got: Map<string, Float32Array>, want: Map<string, Float32Array>): void {
  expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
  const differ = [...want].filter(([k, v]) => !Buffer.from(bytesOf(v)).equals(bytesOf(got.get(k)!))).map(([k]) => k);
  expect(differ).toEqual([]);
}

describe('binding by order', () => {
  const thin = (arch: Arch, o: { classes?: number } = {}) => buildGraph(arch, { widthDivisor: 8, ...o });

  it.each(['inception_resnet_v2', 'inception_v4'] as const)('%s: a Keras-ordered source binds every parameter (HWIO, [in, out], gamma = 1)', async (arch) => {
    const g = thin(arch);
    await expectBindsExactly(source(await kerasLayersOf(g)), g);
  });

  it.each([
    ['Keras 2 automatic names (conv2d_1...)', (l: Fake, i: number) => `${l.className!.toLowerCase()}_${i + 1}`],
    ['TF-slim-like names', (_l: Fake, i: number) => `Mixed_${i}_Branch_0_Conv2d_0a_1x1`],
    ['unnamed (third-party ports)', (_l: Fake, i: number) => `layer${i}`],
  ])('names do not matter: %s', async (_what, rename) => {
    const g = thin('inception_v4', { classes: 1001 });
    const layers = (await kerasLayersOf(g)).map((l, i) => {
      const name = rename(l, i);
      return { ...l, name, tensors: l.tensors.map((t) => ({ ...t, name: `${name}/${name}/${t.name.split('/').pop()}:0` })) };
    });
    await expectBindsExactly(source(layers), g);
  });

  it('class by class for a Keras 3 .weights.h5 without config', async () => {
    const g = thin('inception_resnet_v2');
    const layers = await kerasLayersOf(g);
    const byClass = [...layers].sort((a, b) => a.className!.localeCompare(b.className!)); // stable: order within a class kept
    await expectBindsExactly(source(byClass, { layout: 'keras3-weights', order: 'per-class' }), g);
  });

  it('BatchNormalization with scale=True stores gamma first, and it is used', async () => {
    const g = thin('inception_v4');
    const layers = (await kerasLayersOf(g)).map((l) =>
      l.className === 'BatchNormalization'
        ? { ...l, tensors: [{ name: `${l.name}/${l.name}/gamma`, shape: l.tensors[0].shape, data: new Float32Array(l.tensors[0].shape[0]).fill(2) }, ...l.tensors] }
        : l,
    );
    const { model } = bindModel(source(layers));
    expect((await model.params.find((p) => p.name === 'Conv2d_1a_3x3/BatchNorm/gamma')!.read())[0]).toBe(2);
  });

  it('softmax: from the config, else from a last layer named predictions', async () => {
    const g = thin('inception_v4');
    const layers = await kerasLayersOf(g);
    expect(bindModel(source(layers)).model.provenance.sourceOutputsProbabilities).toBe(true); // 'predictions'
    expect(bindModel(source(layers)).model.graph.options.softmax).toBe(true);
    const renamed = layers.map((l, i) => (i === layers.length - 1 ? { ...l, name: 'dense_1' } : l));
    expect(bindModel(source(renamed)).model.graph.options.softmax).toBe(false);
    expect(bindModel(source(renamed, { softmax: true })).model.graph.options.softmax).toBe(true);
    expect(bindModel(source(layers, { softmax: false })).model.graph.options.softmax).toBe(false);
  });

  it('--arch auto tells the two networks apart; --classes converts', async () => {
    const v4 = thin('inception_v4', { classes: 1001 });
    const { model, detection } = bindModel(source(await kerasLayersOf(v4)), { classes: 1000 });
    expect(detection.arch).toBe('inception_v4');
    expect(detection.options.classes).toBe(1001);
    expect(model.graph.options.classes).toBe(1000);
    expect(bindModel(source(await kerasLayersOf(thin('inception_resnet_v2')))).detection.arch).toBe('inception_resnet_v2');
  });
});

describe('what does not fit is named exactly', () => {
  const g = buildGraph('inception_resnet_v2', { widthDivisor: 8 });
  let layers: Fake[];
  beforeAll(async () => {
    layers = await kerasLayersOf(g);
  });
  const fails = (src: SourceModel, options = {}): SchemeError => {
    try {
      bindModel(src, options);
    } catch (e) {
      expect(e).toBeInstanceOf(SchemeError);
      return e as SchemeError;
    }
    throw new Error('bound without error');
  };

  it('a missing layer: which one, and after which layer', () => {
    const e = fails(source(layers.filter((_, i) => i !== 200)));
    const lost = kerasWeightedLayers(g)[200];
    expect(e.missing).toEqual(lost.weights.map((w) => w.param));
    expect(e.extra).toEqual([]);
    expect(e.message).toContain(`${lost.className}`);
    expect(e.message).toContain(`after layer #199 '${layers[199].name}'`);
    expect(e.code).toBe(3);
  });

  it('an extra layer: its tensors', () => {
    const odd: Fake = { name: 'dense_extra', className: 'Dense', tensors: [{ name: 'dense_extra/dense_extra/kernel', shape: [7, 3], data: new Float32Array(21) }, { name: 'dense_extra/dense_extra/bias', shape: [3], data: new Float32Array(3) }] };
    const e = fails(source([...layers.slice(0, 100), odd, ...layers.slice(100)]));
    expect(e.extra).toEqual(['dense_extra/dense_extra/kernel', 'dense_extra/dense_extra/bias']);
    expect(e.missing).toEqual([]);
    expect(e.message).toMatch(/layer #100 'dense_extra' \(Dense\) \[\[7,3\], \[3\]\] has no place/);
  });

  it('a dataset of the wrong shape: layer, weight, expected and found', () => {
    const bad = layers.map((l, i) => (i === 150 ? { ...l, tensors: [{ ...l.tensors[0], shape: [...l.tensors[0].shape.slice(0, 3), 5], data: new Float32Array(l.tensors[0].data.length / l.tensors[0].shape[3] * 5) }, ...l.tensors.slice(1)] } : l));
    const e = fails(source(bad));
    const spec = kerasWeightedLayers(g)[150];
    expect(e.mismatched).toEqual([{ param: spec.weights[0].param, source: layers[150].tensors[0].name, expected: spec.weights[0].shape, found: bad[150].tensors[0].shape }]);
    expect(e.message).toContain(`${layers[150].tensors[0].name} is [${bad[150].tensors[0].shape}], ${spec.weights[0].param} needs [${spec.weights[0].shape}]`);
  });

  it('a dataset of the wrong dtype', () => {
    const bad = layers.map((l, i) => (i === 3 ? { ...l, tensors: l.tensors.map((t) => ({ ...t, dtype: 'int32' as const })) } : l));
    expect(fails(source(bad)).message).toContain(`${layers[3].tensors[0].name} holds int32 values, a weight must be floating point`);
  });

  it('the wrong architecture (forced)', () => {
    const e = fails(source(layers), { arch: 'inception_v4' });
    expect(e.message).toMatch(/449 layers with weights, Inception-v4 needs 299/);
  });

  it('two layers swapped: reported as wrong shapes, not bound silently', () => {
    const i = kerasWeightedLayers(g).findIndex((l, k, all) => l.className === 'Conv2D' && all[k + 3]?.className === 'Conv2D' && l.weights[0].shape.join() !== all[k + 3].weights[0].shape.join());
    const swapped = [...layers];
    [swapped[i], swapped[i + 3]] = [swapped[i + 3], swapped[i]];
    const e = fails(source(swapped));
    expect(e.mismatched.map((m) => m.source)).toContain(layers[i + 3].tensors[0].name);
  });

  it('a model without its classifier (include_top=False): the Dense is named as missing', () => {
    const e = fails(source(layers.slice(0, -1)));
    expect(e.missing).toEqual(['Logits/Logits/weights', 'Logits/Logits/biases']);
    expect(e.message).toMatch(/a Dense \[\[192,1000\], \[1000\]\] for Logits\/Logits is missing after layer #447 'conv_7b_bn'/);
  });

  it('a model that is not an Inception: no scheme claims it', () => {
    const tiny = layers.slice(0, 4);
    expect(() => bindModel(source(tiny))).toThrow(/no known naming scheme/);
  });
});

describe('the keras naming', () => {
  it('is keras.applications naming: conv2d/kernel ... block35_1_conv/bias ... predictions/bias', () => {
    const names = kerasNaming.layout(buildGraph('inception_resnet_v2')).map((t) => t.name);
    expect(names.slice(0, 4)).toEqual(['conv2d/kernel', 'batch_normalization/beta', 'batch_normalization/moving_mean', 'batch_normalization/moving_variance']);
    expect(names).toContain('block35_1_conv/bias');
    expect(names).toContain('conv_7b_bn/moving_variance');
    expect(names.slice(-2)).toEqual(['predictions/kernel', 'predictions/bias']);
    expect(new Set(names).size).toBe(names.length);
    const keras = layersJson.inception_resnet_v2.filter((l) => l[2].length).map((l) => l[0]);
    expect([...new Set(names.map((n) => n.split('/')[0]))]).toEqual(keras);
  });

  it.each(['inception_resnet_v2', 'inception_v4'] as const)('%s: safetensors --naming keras reads back through the keras scheme, by name', async (arch) => {
    const graph = buildGraph(arch, { widthDivisor: 8, classes: 1001 });
    const model = seededModel(graph, { seed: 5, gamma: 'one' });
    const out = join(dir, `${arch}.safetensors`);
    await writeModel(model, out, { to: 'safetensors', naming: 'keras' });
    const src = await readModel(out);
    try {
      const { model: back, detection } = bindModel(src);
      expect(detection.scheme).toBe('keras');
      expect(detection.arch).toBe(arch);
      const want = await readAll(model);
      const got = await readAll(back);
      expectSame(got, want);
    } finally {
      await src.close();
    }
  });

  it('the scheme is registered for detection and as a naming', async () => {
    const { SCHEME_LIST, NAMINGS } = await import('../../../src/graphs/schemes/index.js');
    expect(SCHEME_LIST).toContain(kerasScheme);
    expect(NAMINGS).toContain(kerasNaming);
  });
});
