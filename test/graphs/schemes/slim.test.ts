/**
 * The TF-slim scheme: detection (architecture, classes, aux head, width) from names and shapes,
 * binding with the layout changes (HWIO, [in, out], gamma = 1), what it leaves out, --ema, and
 * round trips through the slim naming; the real TensorFlow files are in
 * test/readers/tf-checkpoint.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bindModel, detectScheme, readModel, writeModel } from '../../../src/api.js';
import { SchemeError } from '../../../src/errors.js';
import { buildGraph, graphParams, type Arch, type BuildOptions } from '../../../src/graphs/index.js';
import { seededModel } from '../../../src/graphs/init.js';
import { arenaMemory, giveBack } from '../../../src/io/pool.js';
import { slimLeftOut, slimNaming, SLIM_SCOPES } from '../../../src/graphs/schemes/slim.js';
import { NAMINGS, SCHEME_LIST } from '../../../src/graphs/schemes/index.js';
import { readAll, type CanonicalModel } from '../../../src/model.js';
import type { SourceModel, StoredTensor } from '../../../src/readers/types.js';
import { bytesOf, type DType } from '../../../src/tensor.js';
import { WRITERS } from '../../../src/writers/index.js';

const TMP = mkdtempSync(join(tmpdir(), 'wp-slim-'));
afterAll(() => rmSync(TMP, { recursive: true, force: true }));

const tensor = (name: string, shape: readonly number[], data?: Float32Array | BigInt64Array, dtype: DType = 'float32'): StoredTensor => {
  const n = shape.reduce((a, b) => a * b, 1);
  const bytes = data ? bytesOf(data) : new Uint8Array(n * (dtype === 'int64' ? 8 : 4));
  return { name, dtype, shape, byteLength: bytes.byteLength, read: async () => bytes };
};

const source = (tensors: StoredTensor[]): SourceModel => ({ format: 'tf', path: 'mem.ckpt', files: [], metadata: {}, tensors, close: async () => {} });

/** A TF-slim checkpoint in memory, holding `model`'s values in TF-slim's layout. */
async function slimSource(model: CanonicalModel, opts: { gamma?: boolean; extra?: StoredTensor[] } = {}): Promise<SourceModel> {
  const values = await readAll(model);
  const shapes = new Map(model.params.map((p) => [p.name, p.shape]));
  const tensors = slimNaming
    .layout(model.graph)
    .filter((t) => opts.gamma !== false || !t.name.endsWith('/gamma'))
    .map((t) => tensor(t.name, t.shape, t.transform!.store(values.get(t.param!)!, shapes.get(t.param!)!)));
  return source([...tensors, ...(opts.extra ?? [])]);
}

describe('registration', () => {
  it('is a scheme and a naming', () => {
    expect(SCHEME_LIST.some((s) => s.name === 'slim')).toBe(true);
    expect(NAMINGS.some((n) => n.name === 'slim')).toBe(true);
  });
});

describe('names and layouts', () => {
  it.each(['inception_v4', 'inception_resnet_v2'] as const)('%s: every parameter under the network scope, HWIO kernels, [in, out] dense', (arch) => {
    const graph = buildGraph(arch, { classes: 1001, aux: true });
    const layout = slimNaming.layout(graph);
    const scope = SLIM_SCOPES[arch];
    expect(layout.length).toBe(graphParams(graph).length);
    const byName = new Map(layout.map((t) => [t.name, t]));
    expect(byName.get(`${scope}/Conv2d_1a_3x3/weights`)!.shape).toEqual([3, 3, 3, 32]);
    expect(byName.get(`${scope}/Conv2d_1a_3x3/BatchNorm/moving_variance`)!.shape).toEqual([32]);
    expect(byName.get(`${scope}/Logits/Logits/weights`)!.shape).toEqual([1536, 1001]);
    const aux = arch === 'inception_v4' ? 'AuxLogits/Aux_logits' : 'AuxLogits/Logits';
    expect(byName.get(`${scope}/${aux}/weights`)!.shape).toEqual([768, 1001]);
    if (arch === 'inception_resnet_v2') {
      expect(byName.get(`${scope}/Repeat/block35_10/Conv2d_1x1/biases`)!.shape).toEqual([320]);
      expect(byName.get(`${scope}/Repeat_1/block17_20/Branch_1/Conv2d_0b_1x7/weights`)!.shape).toEqual([1, 7, 128, 160]);
      expect(byName.has(`${scope}/Block8/Conv2d_1x1/weights`)).toBe(true);
      expect(byName.get(`${scope}/AuxLogits/Conv2d_2a_5x5/weights`)!.shape).toEqual([5, 5, 128, 768]);
    } else {
      expect(byName.get(`${scope}/Mixed_7d/Branch_2/Conv2d_0e_3x1/weights`)!.shape).toEqual([3, 1, 512, 256]);
      expect(byName.get(`${scope}/AuxLogits/Conv2d_2a/weights`)!.shape).toEqual([5, 5, 128, 768]);
    }
  });
});

describe('detection by names and shapes', () => {
  const cases: [Arch, BuildOptions][] = [];
  for (const arch of ['inception_v4', 'inception_resnet_v2'] as const)
    for (const widthDivisor of [1, 8, 16]) for (const [classes, aux] of [[1001, true], [1000, false]] as const) cases.push([arch, { widthDivisor, classes, aux }]);

  it.each(cases)('%s %j', (arch, opts) => {
    const graph = buildGraph(arch, opts);
    const src = source([...slimNaming.layout(graph).filter((t) => !t.name.endsWith('/gamma')).map((t) => tensor(t.name, t.shape)), tensor('global_step', [], undefined, 'int64')]);
    const d = detectScheme(src);
    expect(d).toMatchObject({ scheme: 'slim', arch, options: { classes: opts.classes, aux: opts.aux, widthDivisor: opts.widthDivisor } });
    expect(d.reason).toContain(`${SLIM_SCOPES[arch]}/`);
    expect(d.reason).toMatch(/1 global_step/);
  });

  it('is not fooled by another naming', () => {
    const graph = buildGraph('inception_v4');
    const src = source(graphParams(graph).map((p) => tensor(p.name, p.shape)));
    expect(SCHEME_LIST.find((s) => s.name === 'slim')!.detect(src)).toBeNull();
  });
});

describe('binding', () => {
  it.each(['inception_v4', 'inception_resnet_v2'] as const)('%s: values come back in the canonical layout; stored gamma is taken', async (arch) => {
    const model = seededModel(buildGraph(arch, { widthDivisor: 8, classes: 1001 }), { seed: 3 });
    const bound = bindModel(await slimSource(model)).model;
    const want = await readAll(model);
    for (const [name, v] of await readAll(bound)) expect(v, name).toEqual(want.get(name));
  });

  it('changes layouts in the array read only when the reader says each read is a new array', async () => {
    const model = seededModel(buildGraph('inception_resnet_v2', { widthDivisor: 16, classes: 1001 }), { seed: 5 });
    const want = await readAll(model);
    const shared = await slimSource(model); // every read() returns the same buffer
    const kept = new Map(await Promise.all(shared.tensors.map(async (t) => [t.name, (await t.read()).slice()] as const)));
    const lastRead = new Map<string, Uint8Array>();
    const fresh: SourceModel = {
      ...shared,
      tensors: shared.tensors.map((t) => ({
        ...t,
        freshReads: true,
        read: async () => {
          const copy = (await t.read()).slice();
          lastRead.set(t.name, copy);
          return copy;
        },
      })),
    };
    for (const src of [shared, fresh]) {
      const bound = bindModel(src).model;
      for (let pass = 0; pass < 2; pass++) for (const [name, v] of await readAll(bound)) expect(v, name).toEqual(want.get(name));
    }
    // The shared buffers were never written to; a fresh kernel was laid out into io/pool's
    // arena, not into a new array (booleans in expect(): a failure would print the 64 MiB arena).
    for (const t of shared.tensors) expect(await t.read(), t.name).toEqual(kept.get(t.name));
    const kernel = `InceptionResnetV2/Conv2d_1a_3x3/weights`;
    const stemParam = bindModel(fresh).model.params.find((p) => p.name === 'Conv2d_1a_3x3/weights')!;
    const v = await stemParam.read();
    expect(v.buffer === arenaMemory()!.buffer && v.buffer !== lastRead.get(kernel)!.buffer).toBe(true);
    giveBack(v);
  });

  it('without gamma, gamma = 1 (TF-slim stores none)', async () => {
    const model = seededModel(buildGraph('inception_resnet_v2', { widthDivisor: 16, classes: 1001 }), { seed: 4 });
    const bound = bindModel(await slimSource(model, { gamma: false })).model;
    const got = await readAll(bound);
    const want = await readAll(model);
    for (const p of bound.params) {
      if (p.role === 'bn.gamma') expect([...new Set(got.get(p.name))]).toEqual([1]);
      else expect(got.get(p.name), p.name).toEqual(want.get(p.name));
    }
  });

  it('--classes 1000 drops the background row; --aux keeps the head', async () => {
    const model = seededModel(buildGraph('inception_v4', { widthDivisor: 16, classes: 1001, aux: true }), { seed: 5 });
    const src = await slimSource(model);
    const want = await readAll(model);
    const { model: m1000 } = bindModel(src, { classes: 1000 });
    const bias = (await readAll(m1000)).get('Logits/Logits/biases')!;
    expect(bias).toEqual(want.get('Logits/Logits/biases')!.slice(1));
    expect(m1000.params.some((p) => p.name.startsWith('AuxLogits/'))).toBe(false);
    const { model: withAux } = bindModel(src, { aux: true });
    expect((await readAll(withAux)).get('AuxLogits/Aux_logits/biases')).toEqual(want.get('AuxLogits/Aux_logits/biases'));
  });

  it('training state is left out; --ema takes the shadows that exist', async () => {
    const model = seededModel(buildGraph('inception_resnet_v2', { widthDivisor: 16, classes: 1001 }), { seed: 6 });
    const s = SLIM_SCOPES.inception_resnet_v2;
    const shadow = Float32Array.from({ length: 1001 }, (_, i) => i / 1000);
    const extra = [
      tensor('global_step', [], BigInt64Array.of(5n), 'int64'),
      tensor(`${s}/Conv2d_1a_3x3/weights/RMSProp`, [3, 3, 3, 2]),
      tensor(`${s}/Conv2d_1a_3x3/weights/RMSProp_1`, [3, 3, 3, 2]),
      tensor(`${s}/Logits/Logits/weights/Momentum`, [96, 1001]),
      tensor(`${s}/Logits/Logits/biases/ExponentialMovingAverage`, [1001], shadow),
    ];
    const src = await slimSource(model, { extra });
    const raw = (await readAll(bindModel(src).model)).get('Logits/Logits/biases')!;
    expect(raw).toEqual((await readAll(model)).get('Logits/Logits/biases'));
    const ema = await readAll(bindModel(src, { ema: true }).model);
    expect(ema.get('Logits/Logits/biases')).toEqual(shadow);
    expect(ema.get('Conv2d_1a_3x3/weights')).toEqual((await readAll(model)).get('Conv2d_1a_3x3/weights')); // no shadow: raw
    for (const t of extra) expect(slimLeftOut(t.name), t.name).toBeDefined();
  });

  it('reports every missing, unexpected and misshapen tensor at once', async () => {
    const model = seededModel(buildGraph('inception_v4', { widthDivisor: 16, classes: 1001 }), { seed: 7 });
    const src = await slimSource(model, { extra: [tensor('InceptionV4/Mixed_9z/weights', [1])] });
    const s = 'InceptionV4';
    const tensors = src.tensors
      .filter((t) => t.name !== `${s}/Mixed_6c/Branch_1/Conv2d_0b_1x7/weights`)
      .map((t) => (t.name === `${s}/Mixed_7b/Branch_0/Conv2d_0a_1x1/weights` ? tensor(t.name, [1, 1, 96, 17]) : t));
    const err = (() => {
      try {
        bindModel(source(tensors));
      } catch (e) {
        return e;
      }
    })() as SchemeError;
    expect(err).toBeInstanceOf(SchemeError);
    expect(err.code).toBe(3);
    expect(err.missing).toEqual(['Mixed_6c/Branch_1/Conv2d_0b_1x7/weights']);
    expect(err.extra).toEqual(['InceptionV4/Mixed_9z/weights']);
    expect(err.mismatched).toEqual([{ param: 'Mixed_7b/Branch_0/Conv2d_0a_1x1/weights', source: `${s}/Mixed_7b/Branch_0/Conv2d_0a_1x1/weights`, expected: [1, 1, 96, 16], found: [1, 1, 96, 17] }]);
  });
});

describe.skipIf(!WRITERS.some((w) => w.format === 'safetensors'))('round trip through safetensors --naming slim', () => {
  it.each(['inception_v4', 'inception_resnet_v2'] as const)('%s', async (arch) => {
    const model = seededModel(buildGraph(arch, { widthDivisor: 8, classes: 1001, aux: true }), { seed: 8 });
    const out = join(TMP, `${arch}.safetensors`);
    await writeModel(model, out, { to: 'safetensors', naming: 'slim' });
    const src = await readModel(out);
    try {
      expect(src.tensors.some((t) => t.name === `${SLIM_SCOPES[arch]}/Conv2d_1a_3x3/weights`)).toBe(true);
      const { model: back, detection } = bindModel(src, { aux: true });
      expect(detection).toMatchObject({ scheme: 'slim', arch, options: { widthDivisor: 8, classes: 1001, aux: true } });
      const want = await readAll(model);
      for (const [name, v] of await readAll(back)) expect(v, name).toEqual(want.get(name));
    } finally {
      await src.close();
    }
  });
});
