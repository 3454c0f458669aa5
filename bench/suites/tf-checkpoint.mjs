// Reading full-size Inception-ResNet-v2 TensorFlow checkpoints (V1, V2; about 232 MiB, written by
// TensorFlow 2.21 through fixtures/tf_fixtures.py into the cache folder, as the tests make them)
// and writing safetensors: `port convert --to safetensors --no-check` (every CRC verified, kernels
// transposed HWIO -> OIHW, written once) against `cp` of the same bytes, the two run in alternation,
// and its peak RSS against the weights' size. In-process rows split reading (with and without CRC
// checks) from the rest.
// Targets: wall <= 2x cp; peak RSS <= 1.5x weights + 100 MB.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { bindModel, readModel, weightBytes } from '../../dist/index.js';
import { CACHE, CLI, ROOT, cpuFloorRow, measureBesideCp, median, row } from '../lib.mjs';

export const name = 'tf-checkpoint';

const RUNS = 7;
const ARCH = 'inception_resnet_v2';

/** The cached full-size checkpoints; made with the `tf` Python environment when missing. */
function fixture() {
  const dir = join(CACHE, 'tf', `${ARCH}_full`);
  if (!existsSync(join(dir, 'v1', 'model.ckpt')) || !existsSync(join(dir, 'v2', 'model.ckpt.index'))) {
    const py = join(CACHE, 'venv-tf', 'bin', 'python');
    if (!existsSync(py)) throw new Error(`no full-size checkpoints in ${dir} and no Python 'tf' environment to make them (scripts/python-env.sh tf)`);
    mkdirSync(dir, { recursive: true });
    const r = spawnSync(py, [join(ROOT, 'fixtures/tf_fixtures.py'), '--arch', ARCH, '--out', dir, '--kinds', 'v1,v2', '--npz'], {
      encoding: 'utf8',
      env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3', CUDA_VISIBLE_DEVICES: '' },
    });
    if (r.status !== 0) throw new Error(`fixtures/tf_fixtures.py failed: ${r.stderr.slice(-500)}`);
  }
  return dir;
}

export async function run() {
  const dir = fixture();
  const work = join(CACHE, 'bench');
  mkdirSync(work, { recursive: true });
  const out = join(work, 'tf.safetensors');
  const rows = [];
  try {
    for (const kind of ['v1', 'v2']) {
      const input = join(dir, kind, 'model.ckpt');
      const files = kind === 'v1' ? [input] : readdirSync(join(dir, kind)).map((f) => join(dir, kind, f));
      const size = files.reduce((n, f) => n + statSync(f).size, 0);
      const copy = join(work, 'tf-copy');
      mkdirSync(copy, { recursive: true });
      const source = await readModel(input);
      const weights = weightBytes(bindModel(source).model);
      await source.close();

      const args = [CLI, 'convert', input, '--to', 'safetensors', '-o', out, '--force', '--no-check'];
      const { cp: cps, measured, bare } = measureBesideCp([...files, copy], process.execPath, args, RUNS);
      rmSync(copy, { recursive: true, force: true });
      const cp = median(cps.map((m) => m.ms));
      const cpCpu = median(cps.map((m) => m.cpu));
      const label = `${kind.toUpperCase()} IRv2 (${(size / 2 ** 20).toFixed(0)} MiB)`;
      rows.push(row(name, `port convert ${label} -> safetensors`, median(measured.map((m) => m.ms)), 'ms', 'cp of the same bytes', cp, '<= 2x cp'));
      if (bare.length)
        rows.push(row(name, `port convert ${label} -> safetensors, NODE_EXTRA_CA_CERTS unset`, median(bare.map((m) => m.ms)), 'ms', 'cp of the same bytes', cp, '<= 2x cp'));
      rows.push(row(name, `port convert ${label}, CPU time (user + system)`, median(measured.map((m) => m.cpu)), 'ms', 'cp, CPU time', cpCpu));
      rows.push(cpuFloorRow(name, `port convert ${label}${bare.length ? ', NODE_EXTRA_CA_CERTS unset' : ''}`, bare.length ? bare : measured, 'cp of the same bytes', cp));
      rows.push(row(name, `port convert ${label}, peak RSS`, Math.max(...measured.map((m) => m.rss)), 'B', 'weights (float32)', weights, `<= 1.5x weights + 100 MB = ${((1.5 * weights + 100e6) / 2 ** 20).toFixed(0)} MiB`));

      for (const verify of [true, false]) {
        const times = [];
        for (let i = 0; i < RUNS + 1; i++) {
          const t = performance.now();
          const m = await readModel(input, { verify });
          for (const x of m.tensors) await x.read();
          await m.close();
          times.push(performance.now() - t);
        }
        rows.push(row(name, `read every tensor of ${label}, ${verify ? 'CRCs verified' : 'no CRC check'}`, median(times.slice(1)), 'ms', 'cp of the same bytes', cp));
      }
    }
    return rows;
  } finally {
    rmSync(out, { force: true });
  }
}
