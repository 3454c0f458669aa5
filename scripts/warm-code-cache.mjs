// Writes V8's code cache of the bundled command line (dist/port-main.cache, read by
// src/cli/launch.ts): loads the bundle, runs typical commands on the committed thin fixtures in
// this one process, so that the functions they compile are in the cache too, then serialises it.
// V8 takes the cache only from the same Node version run with the same flags: it is written at
// build time (`npm run build`, `npm install`) by the Node that will run it.
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { codeCachePath, loadCli } from '../dist/cli/launch.js';

const root = new URL('..', import.meta.url).pathname;
const bundle = join(root, 'dist', 'port-main.cjs');
const fixture = (p) => join(root, 'fixtures', p);
const tmp = mkdtempSync(join(tmpdir(), 'weightport-warm-'));
const out = (name) => join(tmp, name);

// `--help` last: yargs ends the process after printing it (the cache is written on exit).
const COMMANDS = [
  ['graph', 'inception_resnet_v2', '--json'],
  ['inspect', fixture('keras/v4.h5')],
  ['convert', '--from', 'keras', '--to', 'onnx', fixture('keras/v4.h5'), '-o', out('v4.onnx')], // with its parity check (the default)
  ['convert', '--to', 'safetensors', '--naming', 'timm', out('v4.onnx'), '-o', out('v4.safetensors'), '--no-check'],
  ['convert', '--to', 'tfjs', out('v4.safetensors'), '-o', out('v4.tfjs'), '--no-check'],
  ['convert', '--to', 'onnx', out('v4.tfjs'), '-o', out('v4-tfjs.onnx'), '--no-check'],
  ['diff', out('v4.onnx'), out('v4-tfjs.onnx')],
  ['convert', '--from', 'tf', '--to', 'safetensors', fixture('tf/inception_resnet_v2_d16/v1/model.ckpt'), '-o', out('irv2.safetensors'), '--no-check'],
  ['convert', '--from', 'tf', '--to', 'onnx', fixture('tf/inception_v4_d16/v2_sharded/model.ckpt'), '-o', out('v4-v2.onnx'), '--no-check'],
  ['--help'],
];

// Run without --enable-source-maps, so the bundle is compiled as a vm.Script (cli.script).
const cli = loadCli(bundle, { useCache: false });
const cache = codeCachePath(bundle);
process.on('exit', (code) => {
  rmSync(tmp, { recursive: true, force: true });
  if (code !== 0) return;
  writeFileSync(`${cache}.tmp`, cli.script.createCachedData());
  renameSync(`${cache}.tmp`, cache);
});
const write = { out: process.stdout.write, err: process.stderr.write };
for (const argv of COMMANDS) {
  let said = '';
  process.stdout.write = () => true;
  process.stderr.write = (text) => ((said += text), true);
  let code;
  try {
    code = await cli.main(argv);
  } finally {
    process.stdout.write = write.out;
    process.stderr.write = write.err;
  }
  if (code !== 0) throw new Error(`port ${argv.join(' ')} exited ${code}: ${said}`);
}
