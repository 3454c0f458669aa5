// The headline path at full size: `port --from keras --to onnx` of keras.applications'
// Inception-ResNet-v2 as a legacy .h5 (225 MB, written by Keras 3.15: fixtures/keras_fixtures.py
// `full`), in a child process so that its peak RSS is its own:
// - wall time against `cp` of the same file, the two run in alternation (start-up and the source's
//   SHA-256, hashed beside the conversion, included; the parity check left out: --no-check);
//   target <= 2x cp. The file is
//   read by the built-in HDF5 reader (src/readers/keras/hdf5-native.ts), h5wasm is not started;
// - peak RSS against the weights' size (float32); target <= 1.5x weights + 100 MB;
// - reading alone (open + every dataset, in a child), against cp, to show where the time goes.
// The file is taken from the test cache (test/helpers/keras.ts makes it), or made here with the
// 'tf' Python environment when that exists.
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CACHE, CLI, ROOT, cpuFloorRow, measureBesideCp, median, row, runMeasured } from '../lib.mjs';

export const name = 'keras-to-onnx';

const RUNS = 7;
/** keras.applications.InceptionResNetV2: conv kernels, BN beta and moving statistics, dense. */
const WEIGHTS = 55_873_736 * 4;
const mib = (b) => `${(b / 2 ** 20).toFixed(0)} MiB`;

function findSource() {
  const root = join(CACHE, 'keras');
  for (const d of existsSync(root) ? readdirSync(root).sort() : []) {
    const f = join(root, d, 'irv2_full.h5');
    if (d.startsWith('full-') && existsSync(f)) return f;
  }
  const made = join(root, 'bench', 'irv2_full.h5');
  if (existsSync(made)) return made;
  const py = join(CACHE, 'venv-tf', 'bin', 'python');
  if (!existsSync(py)) throw new Error(`no full-size Keras .h5 in ${root} and no Python 'tf' environment to make one (scripts/python-env.sh tf)`);
  mkdirSync(join(root, 'bench'), { recursive: true });
  const input = join(root, 'bench', 'input.npy');
  const mk = spawnSync(
    process.execPath,
    ['--input-type=module', '-e', `const { writeNpy } = await import(${JSON.stringify(pathToFileURL(join(ROOT, 'dist/io/npy.js')).href)}); const { defaultInput } = await import(${JSON.stringify(pathToFileURL(join(ROOT, 'dist/parity/input.js')).href)}); const x = defaultInput(); await writeNpy(${JSON.stringify(input)}, x.data, x.dims);`],
    { encoding: 'utf8' },
  );
  if (mk.status !== 0) throw new Error(`cannot write the input: ${mk.stderr}`);
  const r = spawnSync(py, [join(ROOT, 'fixtures/keras_fixtures.py'), 'full', '--out', join(root, 'bench'), '--input', input, '--formats', '.h5'], {
    encoding: 'utf8',
    env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3', CUDA_VISIBLE_DEVICES: '' },
  });
  if (r.status !== 0 || !existsSync(made)) throw new Error(`keras_fixtures.py full failed: ${(r.stderr || '').slice(-500)}`);
  return made;
}

// Reading alone: open, read every dataset once; prints {ms}.
const READ_CHILD = `
  const { readModel } = await import(${JSON.stringify(pathToFileURL(join(ROOT, 'dist/index.js')).href)});
  const t = performance.now();
  const src = await readModel(process.argv[1], { from: 'keras' });
  for (const x of src.tensors) await x.read();
  await src.close();
  console.log(JSON.stringify({ ms: performance.now() - t }));
`;

export async function run() {
  const src = findSource();
  const dir = join(CACHE, 'bench');
  mkdirSync(dir, { recursive: true });
  const out = join(dir, 'keras-out.onnx');
  const copy = join(dir, 'keras-copy.h5');
  try {
    const args = [CLI, '--from', 'keras', '--to', 'onnx', src, '-o', out, '--force', '--no-check'];
    const { cp: cps, measured, bare } = measureBesideCp([src, copy], process.execPath, args, RUNS);
    const cp = median(cps.map((m) => m.ms));
    const cpCpu = median(cps.map((m) => m.cpu));
    const reads = [];
    for (let i = 0; i < RUNS; i++) {
      const r = runMeasured(process.execPath, ['--input-type=module', '-e', READ_CHILD, src]);
      reads.push({ ms: JSON.parse(r.stdout.trim().split('\n').at(-1)).ms, rss: r.rss });
    }
    const size = statSync(src).size;
    return [
      row(name, `port --from keras --to onnx IRv2 .h5 (${mib(size)})`, median(measured.map((m) => m.ms)), 'ms', 'cp of the .h5', cp, '<= 2x cp'),
      ...(bare.length ? [row(name, 'port --from keras --to onnx IRv2 .h5, NODE_EXTRA_CA_CERTS unset', median(bare.map((m) => m.ms)), 'ms', 'cp of the .h5', cp, '<= 2x cp')] : []),
      // On 2 cores the conversion is bound by the work it does beside cp's (hashing, layout changes, start-up).
      row(name, 'port --from keras --to onnx IRv2 .h5, CPU time (user + system)', median(measured.map((m) => m.cpu)), 'ms', 'cp of the .h5, CPU time', cpCpu),
      cpuFloorRow(name, `port --from keras --to onnx IRv2 .h5${bare.length ? ', NODE_EXTRA_CA_CERTS unset' : ''}`, bare.length ? bare : measured, 'cp of the .h5', cp),
      row(name, 'port --from keras --to onnx IRv2 .h5, peak RSS', Math.max(...measured.map((m) => m.rss)), 'B', 'weights (float32)', WEIGHTS, `<= 1.5x weights + 100 MB = ${mib(1.5 * WEIGHTS + 100e6)}`),
      row(name, 'read the IRv2 .h5 (open + every dataset)', median(reads.map((r) => r.ms)), 'ms', 'cp of the .h5', cp),
      row(name, 'read the IRv2 .h5, peak RSS', Math.max(...reads.map((r) => r.rss)), 'B', 'weights (float32)', WEIGHTS),
    ];
  } finally {
    rmSync(out, { force: true });
    rmSync(copy, { force: true });
  }
}
