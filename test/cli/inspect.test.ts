/**
 * `port inspect`: the tensors as TensorFlow lists them, the detection and its reason, what is left
 * out or missing, for TF checkpoints and the other formats port reads; --json; bad input.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeModel } from '../../src/api.js';
import { buildGraph } from '../../src/graphs/index.js';
import { seededModel } from '../../src/graphs/init.js';
import type { InspectReport } from '../../src/inspect.js';
import { WRITERS } from '../../src/writers/index.js';
import { runCli } from '../helpers/cli.js';
import { bundleEntry, bundleHeader, table } from '../helpers/sstable.js';
import { COMMITTED, KIND_PATH, thinFixture, type Kind, type TfFixture } from '../helpers/tf-fixtures.js';

const TMP = mkdtempSync(join(tmpdir(), 'wp-inspect-'));
afterAll(() => rmSync(TMP, { recursive: true, force: true }));

function inspectJson(args: string[]): InspectReport {
  const r = runCli(['inspect', ...args, '--json']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout);
}

/** The report's tensors as TensorFlow's list_variables gives them (key as stored, shape, dtype). */
function expectSameAsTensorFlow(report: InspectReport, f: TfFixture, kind: Kind) {
  const got = report.tensors.map((t) => `${t.storedAs ?? t.name} [${t.shape}] ${t.dtype}`).sort();
  const want = f.listing[kind].filter((v) => v.name !== '_CHECKPOINTABLE_OBJECT_GRAPH').map((v) => `${v.name} [${v.shape}] ${v.dtype}`).sort();
  expect(got).toEqual(want);
}

describe('port inspect on TensorFlow checkpoints', () => {
  it.each([
    ['Inception-ResNet-v2 V1', COMMITTED[0], 'v1'],
    ['Inception-v4 sharded V2', COMMITTED[1], 'v2_sharded'],
  ] as const)('%s: --json lists the same tensors as tf.train.list_variables, and what port makes of them', (_, f, kind) => {
    const report = inspectJson([join(f.dir, KIND_PATH[kind])]);
    expectSameAsTensorFlow(report, f, kind);
    expect(report).toMatchObject({
      format: 'tf',
      checksum: 'CRC32C',
      detection: { scheme: 'slim', arch: f.arch, options: { classes: 1001, aux: true, widthDivisor: 16 } },
      missing: [],
      extra: [],
      mismatched: [],
    });
    expect(report.detection!.reason).toMatch(/TF-slim names under Inception(V4|ResnetV2)\/.*width \/ 16.*1001 classes/);
    expect(report.tensors.every((t) => t.checksum === 'ok')).toBe(true);
    const status = (name: string) => report.tensors.find((t) => t.name.endsWith(name))!;
    expect(status('global_step')).toMatchObject({ status: 'left out', dtype: 'int64', shape: [] });
    expect(status('Conv2d_1a_3x3/weights/RMSProp').why).toMatch(/optimizer slot \(RMSProp\)/);
    expect(status('Logits/Logits/weights/Momentum').why).toMatch(/optimizer slot \(Momentum\)/);
    expect(status('Logits/Logits/biases/ExponentialMovingAverage').why).toMatch(/--ema/);
    expect(status('Conv2d_1a_3x3/weights').status).toBe('used');
    const aux = report.tensors.filter((t) => t.name.includes('/AuxLogits/'));
    expect(aux.length).toBe(10);
    expect(aux.every((t) => t.status === 'left out' && /auxiliary head/.test(t.why!))).toBe(true);
    expect(report.leftOut.length).toBe(1 + 5 + 3 + 10);
    expect(report.totalBytes).toBe(report.tensors.reduce((n, t) => n + t.bytes, 0));
  });

  it('--aux counts the auxiliary head as used; --no-verify reads no data', () => {
    const p = join(COMMITTED[1].dir, KIND_PATH.v2_sharded);
    expect(inspectJson([p, '--aux']).tensors.filter((t) => t.name.includes('/AuxLogits/') && t.status === 'used')).toHaveLength(10);
    expect(new Set(inspectJson([p, '--no-verify']).tensors.map((t) => t.checksum))).toEqual(new Set(['not checked']));
  });

  it('prints a readable report', () => {
    const r = runCli(['inspect', join(COMMITTED[0].dir, KIND_PATH.v1)]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^.*model\.ckpt: tf \(V1\), 1 file, 917 tensors/);
    expect(r.stdout).toMatch(/^architecture: inception_resnet_v2, 1001 classes, width \/ 16, auxiliary head$/m);
    expect(r.stdout).toMatch(/^naming: slim: TF-slim names under InceptionResnetV2\//m);
    expect(r.stdout).toMatch(/^checksums: CRC32C verified for every tensor$/m);
    expect(r.stdout).toMatch(/^global_step\s+int64\s+\[\]\s+8\s+ok\s+left out: global_step/m);
  });

  for (const arch of ['inception_resnet_v2', 'inception_v4'] as const) {
    const f = thinFixture(arch);
    const skip = 'skip' in f ? f.skip : '';
    it.skipIf(!!skip)(`${arch}, widthDivisor 8: V1, V2, sharded V2 and SavedModel list as TensorFlow does${skip ? ` (skipped: ${skip})` : ''}`, () => {
      const fx = f as TfFixture;
      for (const kind of fx.kinds) {
        const report = inspectJson([join(fx.dir, KIND_PATH[kind])]);
        expectSameAsTensorFlow(report, fx, kind);
        expect(report.detection).toMatchObject({ scheme: 'slim', arch, options: { widthDivisor: 8 } });
        if (kind === 'savedmodel') {
          expect(report.metadata).toMatchObject({ version: 'SavedModel', objectGraph: true });
          expect(report.tensors.every((t) => t.storedAs?.endsWith('/.ATTRIBUTES/VARIABLE_VALUE') || t.name === 'global_step')).toBe(true);
        }
      }
    }, 300_000);
  }

  it('reports what is missing when a checkpoint holds part of a network', () => {
    const prefix = join(TMP, 'partial');
    const w = new Uint8Array(3 * 3 * 3 * 32 * 4);
    const b = new Uint8Array(1001 * 4);
    writeFileSync(`${prefix}.index`, table([
      ['', bundleHeader(1)],
      ['InceptionV4/Conv2d_1a_3x3/weights', bundleEntry({ dtype: 1, shape: [3, 3, 3, 32], offset: 0, size: w.length })],
      ['InceptionV4/Logits/Logits/biases', bundleEntry({ dtype: 1, shape: [1001], offset: w.length, size: b.length })],
    ]));
    writeFileSync(`${prefix}.data-00000-of-00001`, new Uint8Array(w.length + b.length));
    const report = inspectJson([prefix]);
    expect(report.detection).toMatchObject({ scheme: 'slim', arch: 'inception_v4', options: { classes: 1001, widthDivisor: 1 } });
    expect(report.missing).toContain('Logits/Logits/weights');
    expect(report.missing).toContain('Mixed_7d/Branch_3/Conv2d_0b_1x1/BatchNorm/moving_variance');
    expect(report.problem).toMatch(/slim scheme: .*missing/);
  });

  it('a corrupt file: exit code 3, one line naming file, tensor and byte, nothing on stdout', () => {
    const prefix = join(TMP, 'corrupt');
    writeFileSync(`${prefix}.index`, table([['', bundleHeader(1)], ['w', bundleEntry({ dtype: 1, shape: [2], offset: 0, size: 8, crc: 12345 })]]));
    writeFileSync(`${prefix}.data-00000-of-00001`, new Uint8Array(8));
    const r = runCli(['inspect', prefix, '--json']);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^port: tf: .*corrupt\.data-00000-of-00001, tensor 'w', byte 0: CRC32C mismatch/);
  });
});

describe('port inspect on the other formats', () => {
  for (const format of ['safetensors', 'onnx'] as const) {
    const have = WRITERS.some((w) => w.format === format);
    it.skipIf(!have)(`${format}${have ? '' : ' (skipped: no writer registered yet)'}`, async () => {
      const model = seededModel(buildGraph('inception_v4', { widthDivisor: 16 }), { seed: 1 });
      const out = join(TMP, `m.${format}`);
      await writeModel(model, out, { to: format, force: true });
      const report = inspectJson([out]);
      expect(report.format).toBe(format);
      expect(report.detection).toMatchObject({ arch: 'inception_v4', options: { widthDivisor: 16, classes: 1000 } });
      expect(report.checksum).toBeUndefined();
      expect(report.tensors.length).toBeGreaterThan(100);
      expect(report.tensors.every((t) => t.checksum === 'read' && t.status === 'used')).toBe(true);
    });
  }
});
