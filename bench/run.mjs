// `npm run bench`: each operation next to a reference measured in the same run; prints a table
// and writes the rows as JSON (bench/results.json, or the path given by --out).
// Suites are listed here, one line each; `--only name,name` picks some.
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './lib.mjs';
import * as startup from './suites/startup.mjs';
import * as graphs from './suites/graphs.mjs';
import * as writeSafetensors from './suites/write-safetensors.mjs';
import * as writeTfjs from './suites/write-tfjs.mjs';
import * as writeOnnx from './suites/write-onnx.mjs';
import * as tfCheckpoint from './suites/tf-checkpoint.mjs';
import * as parity from './suites/parity.mjs';
import * as kerasToOnnx from './suites/keras-to-onnx.mjs';
import * as layout from './suites/layout.mjs';

const SUITES = [startup, graphs, layout, writeSafetensors, writeTfjs, writeOnnx, tfCheckpoint, parity, kerasToOnnx];

const args = process.argv.slice(2);
const only = args.includes('--only') ? args[args.indexOf('--only') + 1].split(',') : undefined;
const out = args.includes('--out') ? args[args.indexOf('--out') + 1] : join(ROOT, 'bench', 'results.json');

const fmt = (v, unit) => (unit === 'B' ? `${(v / 2 ** 20).toFixed(1)} MiB` : `${v.toFixed(unit === 'ms' ? 1 : 3)} ${unit}`);
const rows = [];
for (const suite of SUITES) {
  if (only && !only.includes(suite.name)) continue;
  try {
    for (const r of await suite.run()) {
      rows.push(r);
      const target = r.target ? `  (target: ${r.target})` : '';
      console.log(
        `${r.suite.padEnd(10)} ${r.name.padEnd(44)} ${fmt(r.value, r.unit).padStart(12)}   vs ${r.reference.name}: ${fmt(r.reference.value, r.unit)}  = ${r.ratio.toFixed(2)}x${target}`,
      );
    }
  } catch (e) {
    console.log(`${suite.name.padEnd(10)} skipped: ${e.message}`);
    rows.push({ suite: suite.name, skipped: e.message });
  }
}
const result = { date: new Date().toISOString(), node: process.version, cpus: cpus().length, cpu: cpus()[0]?.model, rows };
writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
console.log(`\nwrote ${out}`);
