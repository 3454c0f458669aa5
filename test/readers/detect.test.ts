/**
 * `--from` is optional everywhere: every format's files are recognised from their bytes by exactly
 * one reader in READERS (whatever the order of the registry; a misleading file name does not
 * change the answer), and the architecture and naming scheme from their tensors. Files: the
 * committed TF-slim and Keras fixtures, every writer's output (each naming), PyTorch's ONNX and
 * timm's own safetensors when the torch environment is there; the CLI (`inspect`, `convert`,
 * `diff`) without --from.
 */
import { copyFileSync, cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bindModel, readModel } from '../../src/api.js';
import { FormatError } from '../../src/errors.js';
import { buildGraph, type Arch } from '../../src/graphs/index.js';
import { seededModel } from '../../src/graphs/init.js';
import { NAMINGS } from '../../src/graphs/schemes/index.js';
import { probePath } from '../../src/io/probe.js';
import { READERS, type FormatName } from '../../src/readers/index.js';
import { WRITERS, type WriteOptions } from '../../src/writers/index.js';
import { runCli } from '../helpers/cli.js';
import { tinyModel } from '../helpers/onnx.js';
import { cacheDir, python, ROOT } from '../helpers/python.js';

interface Case {
  readonly label: string;
  readonly path: string;
  readonly format: FormatName;
  /** Expected scheme and architecture; absent for files that are no Inception. */
  readonly scheme?: string;
  readonly arch?: Arch;
}

const dir = mkdtempSync(join(tmpdir(), 'wp-detect-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const cases: Case[] = [];
const notes: string[] = [];

const committed: Case[] = [
  { label: 'TF-slim V1 checkpoint (committed)', path: join(ROOT, 'fixtures/tf/inception_resnet_v2_d16/v1/model.ckpt'), format: 'tf', scheme: 'slim', arch: 'inception_resnet_v2' },
  { label: 'TF-slim V2 sharded checkpoint prefix (committed)', path: join(ROOT, 'fixtures/tf/inception_v4_d16/v2_sharded/model.ckpt'), format: 'tf', scheme: 'slim', arch: 'inception_v4' },
  { label: 'Keras HDF5 (committed)', path: join(ROOT, 'fixtures/keras/v4.h5'), format: 'keras', arch: 'inception_v4' },
];

beforeAll(async () => {
  for (const c of committed) if (existsSync(c.path) || existsSync(`${c.path}.index`)) cases.push(c);
  let i = 0;
  const model = (arch: Arch) => seededModel(buildGraph(arch, { widthDivisor: 16, aux: true }), { seed: 31 });
  for (const w of WRITERS) {
    const variants: { label: string; options: WriteOptions; scheme: string }[] =
      w.format === 'safetensors'
        ? NAMINGS.map((n) => ({ label: `safetensors, ${n.name} naming`, options: { naming: n.name as WriteOptions['naming'] }, scheme: n.name }))
        : w.format === 'onnx'
          ? [
              { label: 'onnx', options: {}, scheme: 'onnx' },
              { label: 'onnx, BN folded', options: { foldBn: true }, scheme: 'onnx' },
              { label: 'onnx, external data', options: { externalData: true }, scheme: 'onnx' },
            ]
          : [{ label: w.format, options: {}, scheme: w.format }];
    for (const v of variants) {
      const arch: Arch = i % 2 ? 'inception_v4' : 'inception_resnet_v2';
      const path = join(dir, w.format === 'tfjs' ? `out${i}` : `out${i}.${w.format}`);
      i++;
      await w.write(model(arch), path, v.options);
      cases.push({ label: `our ${v.label}`, path, format: w.format as FormatName, scheme: v.scheme, arch });
      if (w.format === 'tfjs') cases.push({ label: 'our tfjs, model.json', path: join(path, 'model.json'), format: 'tfjs', scheme: 'tfjs', arch });
      if (v.options.externalData) notes.push(`${path}.data`);
    }
  }
  // misleading names: bytes decide
  const onnx = cases.find((c) => c.label === 'our onnx');
  if (onnx) {
    copyFileSync(onnx.path, join(dir, 'renamed.safetensors'));
    cases.push({ ...onnx, label: 'our onnx named .safetensors', path: join(dir, 'renamed.safetensors') });
  }
  const st = cases.find((c) => c.format === 'safetensors');
  if (st) {
    copyFileSync(st.path, join(dir, 'renamed.onnx'));
    cases.push({ ...st, label: 'safetensors named .onnx', path: join(dir, 'renamed.onnx') });
  }
  const tfjs = cases.find((c) => c.label === 'our tfjs');
  if (tfjs) {
    cpSync(tfjs.path, join(dir, 'weights.onnx'), { recursive: true });
    cases.push({ ...tfjs, label: 'tfjs folder named .onnx', path: join(dir, 'weights.onnx') });
  }
  writeFileSync(join(dir, 'tiny.onnx'), await tinyModel());
  cases.push({ label: 'a tiny ONNX that is no Inception', path: join(dir, 'tiny.onnx'), format: 'onnx' });
  // the real producers, when their files are cached
  const torch = cacheDir('onnx-torch-d16');
  for (const arch of ['inception_v4', 'inception_resnet_v2'] as const) {
    const tag = `${arch}_d16`;
    for (const f of [`timm_${tag}.opset13.bn.onnx`, `timm_${tag}.opset17.folded.onnx`])
      if (existsSync(join(torch, f))) cases.push({ label: `PyTorch ${f}`, path: join(torch, f), format: 'onnx', scheme: 'onnx', arch });
    if (existsSync(join(torch, `timm_${tag}.safetensors`)))
      cases.push({ label: `timm's own ${tag}.safetensors`, path: join(torch, `timm_${tag}.safetensors`), format: 'safetensors', scheme: 'timm', arch });
  }
  if (!python('torch').ok) notes.push('PyTorch files: no torch environment');
}, 300_000);

describe('--from auto: one reader per file, from the bytes', () => {
  it('every file is taken by exactly its own reader', async () => {
    expect(cases.length).toBeGreaterThan(10);
    const rows: string[] = [];
    for (const c of cases) {
      const probe = await probePath(c.path);
      const takers = READERS.filter((r) => r.match(probe)).map((r) => r.format);
      expect(takers, c.label).toEqual([c.format]);
      const source = await readModel(c.path);
      try {
        expect(source.format, c.label).toBe(c.format);
        if (c.arch) {
          const { detection } = bindModel(source);
          if (c.scheme) expect(detection.scheme, c.label).toBe(c.scheme);
          expect(detection.arch, c.label).toBe(c.arch);
          rows.push(`${c.label}: ${source.format}, ${detection.scheme}, ${detection.arch}`);
        } else {
          expect(() => bindModel(source), c.label).toThrow(/not Inception-v4 or Inception-ResNet-v2/);
          rows.push(`${c.label}: ${source.format}, refused: not an Inception`);
        }
      } finally {
        await source.close();
      }
    }
    console.log(`recognised (${cases.length} files, readers ${READERS.map((r) => r.format).join(', ')}):\n  ${rows.join('\n  ')}`);
  }, 600_000);

  it('the order of READERS does not matter: no reader takes another format\'s file', async () => {
    for (const c of cases) {
      const probe = await probePath(c.path);
      for (const r of READERS) expect(r.match(probe), `${r.format} reader on ${c.label}`).toBe(r.format === c.format);
    }
  });

  it('files that are no model are refused by every reader (an external data file, random bytes, an empty file)', async () => {
    const junk = [
      ...notes.filter((p) => p.endsWith('.data')),
      join(dir, 'random.bin'),
      join(dir, 'empty.onnx'),
    ];
    writeFileSync(join(dir, 'random.bin'), Uint8Array.from({ length: 5000 }, (_, i) => (i * 2654435761) >>> 24));
    writeFileSync(join(dir, 'empty.onnx'), new Uint8Array(0));
    for (const p of junk) {
      const probe = await probePath(p);
      expect(READERS.filter((r) => r.match(probe)).map((r) => r.format), p).toEqual([]);
      await expect(readModel(p)).rejects.toBeInstanceOf(FormatError);
    }
  });
});

describe('the CLI without --from', () => {
  it('inspect, convert and diff recognise each format', () => {
    const pick = (f: FormatName) => cases.find((c) => c.format === f && c.arch);
    for (const f of ['onnx', 'safetensors', 'tfjs', 'tf', 'keras'] as const) {
      const c = pick(f);
      if (!c) continue;
      const r = runCli(['inspect', c.path, '--json', '--no-verify']);
      expect(r.code, `${c.label}: ${r.stderr}`).toBe(0);
      const report = JSON.parse(r.stdout);
      expect(report.format).toBe(f);
      expect(report.detection.arch).toBe(c.arch);
    }
    const onnx = pick('onnx')!;
    const out = join(dir, 'converted.safetensors');
    const conv = runCli([onnx.path, '--to', 'safetensors', '-o', out, '--no-check']);
    expect(conv.code, conv.stderr).toBe(0);
    const d = runCli(['diff', onnx.path, out]);
    expect(d.code, d.stderr).toBe(0);
  }, 300_000);
});
