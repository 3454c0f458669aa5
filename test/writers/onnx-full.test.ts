/**
 * Full-size ONNX models (both networks, with the auxiliary head, seeded weights): the seeded
 * initialiser gives meaningful outputs at full depth, and onnxruntime agrees with TensorFlow with
 * BN kept, folded and float16. Files go to the cache folder (cacheDir('onnx')); TensorFlow's
 * outputs are cached there too, keyed by a hash of graph, weights and input.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildGraph, type Arch } from '../../src/graphs/index.js';
import { seededModel } from '../../src/graphs/init.js';
import { createModel, readAll, weightBytes, type CanonicalModel } from '../../src/model.js';
import { defaultInput } from '../../src/parity/input.js';
import { runOnnx } from '../../src/parity/ort.js';
import { onnxWriter } from '../../src/writers/onnx/index.js';
import { cacheDir, python } from '../helpers/python.js';
import { tfReferences, type ReferenceOutputs } from '../helpers/tf-reference.js';
import { compareLogits, degeneracy, FLOAT16_TOLERANCE, FLOAT32_TOLERANCE } from './onnx-compare.js';

const py = python('tf');
const input = defaultInput(299, 1);
const VARIANTS = [
  ['kept', {}],
  ['folded', { foldBn: true }],
  ['float16', { dtype: 'float16' as const }],
] as const;

describe.skipIf(!py.ok).each(['inception_v4', 'inception_resnet_v2'] as Arch[])(
  `onnx writer, full size: %s${py.ok ? '' : ` (skipped: ${py.reason})`}`,
  (arch) => {
    const dir = cacheDir('onnx');
    const path = (variant: string) => join(dir, `${arch}-${variant}.onnx`);
    let model: CanonicalModel;
    let reference: ReferenceOutputs;

    beforeAll(async () => {
      // Generate the seeded weights once, in memory, for TensorFlow and the three writes.
      const seeded = seededModel(buildGraph(arch, { aux: true }), { seed: 5 });
      model = createModel(seeded.graph, await readAll(seeded), seeded.provenance);
      for (const [variant, opts] of VARIANTS) await onnxWriter.write(model, path(variant), { ...opts, force: true });
      [reference] = await tfReferences(py, [{ model, input }], { cache: dir });
    });

    it('the seeded weights give non-degenerate outputs at full depth (spread, distinct top-5)', () => {
      expect(degeneracy(reference.logits)).toEqual([]);
      expect(degeneracy(reference.aux!)).toEqual([]);
    });

    it('the file is the weights plus a small graph; onnx.checker (full_check) accepts it', () => {
      const size = statSync(path('kept')).size;
      expect(size).toBeGreaterThan(weightBytes(model));
      expect(size).toBeLessThan(weightBytes(model) + 1_000_000);
      expect(statSync(path('float16')).size).toBeLessThan(weightBytes(model) / 2 + 1_000_000);
      const [line] = py.run('fixtures/onnx_check.py', [path('kept')]).trim().split('\n');
      expect(JSON.parse(line).outputs.map((o: { name: string }) => o.name)).toEqual(['logits', 'aux_logits']);
    });

    it('onnxruntime matches TensorFlow (float64) within 1e-4, BN kept and folded, same top-5', async () => {
      for (const variant of ['kept', 'folded']) {
        const run = await runOnnx(path(variant), input);
        const logits = compareLogits(run.outputs.get('logits')!.data, reference.logits);
        expect(logits.maxAbs, variant).toBeLessThan(FLOAT32_TOLERANCE);
        expect(logits.sameTop5, variant).toBe(true);
        expect(compareLogits(run.outputs.get('aux_logits')!.data, reference.aux!).maxAbs, `${variant} aux`).toBeLessThan(FLOAT32_TOLERANCE);
      }
    });

    it('float16 weights: within the documented tolerance, same top-1', async () => {
      const run = await runOnnx(path('float16'), input);
      const c = compareLogits(run.outputs.get('logits')!.data, reference.logits);
      expect(c.relative).toBeLessThan(FLOAT16_TOLERANCE);
      expect(c.sameTop1).toBe(true);
    });
  },
);
