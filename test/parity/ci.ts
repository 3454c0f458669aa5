/**
 * The parity CI job: `npm run parity:ci` (and .github/workflows/parity.yml). Not a vitest file:
 * run with tsx after `npm run build`, it drives the built `port` CLI as a user would.
 *
 * 1. The Python environments (scripts/python-env.sh) and the full-size fixtures of the reader
 *    issues, made by the real producers with the fixture scripts into the cache folder (the same
 *    cache entries the tests use, reused when present): timm's safetensors and its ONNX exports
 *    (fixtures/timm_fixtures.py), TF-slim checkpoints V1 and V2 (fixtures/tf_fixtures.py, with
 *    fixtures/timm_reference.py), keras.applications' Inception-ResNet-v2 as legacy HDF5 and
 *    .keras (fixtures/keras_fixtures.py). tfjs sources are the tfjs models written from timm's
 *    files here (no real tfjs producer runs without the network).
 * 2. Each source against its own framework's outputs on the default input (`port parity SRC
 *    --reference REF.npy`): timm's logits, TF's logits, Keras' probabilities.
 * 3. Every reader x writer path for both networks: `port --to W SRC -o OUT --no-check`, then
 *    `port parity OUT --against SRC`: the written file in its engine against the source written
 *    in the other format and run in the other engine (NCHW vs NHWC). The first source of each
 *    network runs on every available engine (`--engine all`: WebGPU included); the others on the
 *    two CPU engines (`--engines all` runs every engine on every path).
 * 4. JUnit XML (`junit.xml`: a testsuite per check), an HTML index linking every check's HTML
 *    report, the JSON reports, `summary.json` (counts, durations) in the output folder (default
 *    `$WEIGHTPORT_CACHE/parity-report/`). Exit code 1 on any mismatch or failed conversion.
 *
 * Usage: tsx test/parity/ci.ts [--out DIR] [--arch inception_v4|inception_resnet_v2] [--engines all]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { Arch } from '../../src/graphs/ir.js';
import { fmt, junitSuite, type ParityReport } from '../../src/parity/report.js';
import { CLI } from '../helpers/cli.js';
import { fullFixtures as kerasFull } from '../helpers/keras.js';
import { CACHE, cacheDir, python, ROOT } from '../helpers/python.js';
import { fullFixture as tfFull } from '../helpers/tf-fixtures.js';
import { defaultInputNpy, TIMM_SCRIPT } from '../helpers/timm.js';

const args = process.argv.slice(2);
const opt = (name: string): string | undefined => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const OUT = opt('--out') ?? join(CACHE, 'parity-report');
const ARCHS: readonly Arch[] = opt('--arch') ? [opt('--arch') as Arch] : ['inception_v4', 'inception_resnet_v2'];
const ALL_ENGINES_EVERYWHERE = opt('--engines') === 'all';
const WRITERS = ['onnx', 'tfjs', 'safetensors'] as const;
/** One command (a full-size conversion or check, WebGPU on software GL included) on a busy 2-core machine takes minutes at most. */
const COMMAND_TIMEOUT_MS = 20 * 60_000;

const started = performance.now();
const log = (s: string) => console.log(`[${((performance.now() - started) / 1000).toFixed(0).padStart(5)} s] ${s}`);

interface Source {
  readonly id: string;
  readonly arch: Arch;
  readonly path: string;
  /** The producer's own outputs on the default input, and what made them. */
  readonly reference?: { readonly npy: string; readonly by: string };
  readonly engines: 'all' | 'auto';
}

interface Check {
  readonly name: string;
  readonly report?: ParityReport;
  readonly reportFile?: string;
  /** A command that failed for another reason than a mismatch (exit code 2, 3, 4, 70). */
  readonly error?: string;
  readonly seconds: number;
}

const checks: Check[] = [];
const skipped: { name: string; reason: string }[] = [];

function port(argv: readonly string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...argv], {
    encoding: 'utf8',
    maxBuffer: 256 << 20,
    env: { ...process.env, CI: '1' },
    timeout: COMMAND_TIMEOUT_MS,
    killSignal: 'SIGKILL',
  });
  const timedOut = (r.error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT';
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: timedOut ? `timed out after ${COMMAND_TIMEOUT_MS / 60_000} min` : (r.stderr ?? '') };
}

/** `port parity ...` with JSON and HTML reports named after the check. */
function parity(name: string, argv: readonly string[]): Check {
  const t = performance.now();
  const base = join(OUT, 'checks', name.replace(' -> ', '.to.').replace(' vs ', '.vs.').replace(/[^A-Za-z0-9_.-]+/g, '_'));
  const r = port(['parity', ...argv, '--report', `${base}.json`, '--report', `${base}.html`, '--force']);
  const seconds = (performance.now() - t) / 1000;
  let check: Check;
  if ((r.code === 0 || r.code === 1) && existsSync(`${base}.json`))
    check = { name, report: JSON.parse(readFileSync(`${base}.json`, 'utf8')) as ParityReport, reportFile: `${base}.html`, seconds };
  else check = { name, error: `port parity exited ${r.code}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`, seconds };
  checks.push(check);
  const c = check.report?.comparisons ?? [];
  log(
    `${check.error ? 'ERROR' : check.report!.verdict === 'pass' ? 'pass ' : 'FAIL '} ${name}: ${
      check.error ?? c.map((x) => `${x.name} ${fmt(x.output?.maxAbs)}`).join(', ')
    } (${seconds.toFixed(1)} s)`,
  );
  return check;
}

/** The full-size fixtures of one network, made (or found) in the cache; skipped ones say why. */
async function sources(arch: Arch): Promise<Source[]> {
  const list: Source[] = [];
  const short = arch === 'inception_v4' ? 'v4' : 'irv2';
  // timm: safetensors and torch.onnx.export files (fixtures/README.md).
  const torch = python('torch');
  if (!torch.ok) skipped.push({ name: `timm ${arch}`, reason: torch.reason });
  else {
    const dir = cacheDir('timm');
    const names = [`timm_${arch}.safetensors`, `timm_${arch}.logits.npy`, `timm_${arch}.opset17.bn.onnx`, `timm_${arch}.opset13.folded.onnx`];
    if (!names.every((n) => existsSync(join(dir, n)))) {
      log(`making timm's full-size ${arch} (fixtures/timm_fixtures.py make --onnx)`);
      torch.run(TIMM_SCRIPT, ['make', '--arch', arch, '--out', dir, '--onnx', '--input', await defaultInputNpy(dir)], { timeoutMs: 60 * 60_000 });
    }
    const ref = { npy: join(dir, `timm_${arch}.logits.npy`), by: 'timm (PyTorch)' };
    list.push({ id: `${short}-timm-safetensors`, arch, path: join(dir, `timm_${arch}.safetensors`), reference: ref, engines: 'all' });
    // Both ONNX forms the ONNX scheme binds: BN kept (v4) and BN folded into the convs (IRv2).
    const onnx = arch === 'inception_v4' ? 'opset17.bn' : 'opset13.folded';
    list.push({ id: `${short}-timm-${onnx}-onnx`, arch, path: join(dir, `timm_${arch}.${onnx}.onnx`), reference: ref, engines: 'auto' });
  }
  // TF-slim checkpoints V1 and V2 (1001 classes), with TF's own logits.
  log(`TF-slim checkpoints of ${arch} (fixtures/tf_fixtures.py, fixtures/timm_reference.py)`);
  const tf = tfFull(arch);
  if ('skip' in tf) skipped.push({ name: `TF checkpoints ${arch}`, reason: tf.skip });
  else
    for (const kind of ['v1', 'v2'])
      list.push({ id: `${short}-tf-${kind}`, arch, path: join(tf.dir, kind, 'model.ckpt'), reference: { npy: join(tf.dir, 'ref_logits.npy'), by: 'TensorFlow' }, engines: 'auto' });
  // keras.applications.InceptionResNetV2 (Keras has no Inception-v4).
  if (arch === 'inception_resnet_v2') {
    log('keras.applications InceptionResNetV2 (fixtures/keras_fixtures.py full)');
    const k = await kerasFull();
    if (!k.ok) skipped.push({ name: 'Keras InceptionResNetV2', reason: k.reason });
    else
      for (const [id, file] of [
        ['keras-h5', 'irv2_full.h5'],
        ['keras-keras', 'irv2_full.keras'],
      ])
        list.push({ id: `${short}-${id}`, arch, path: join(k.dir, file), reference: { npy: join(k.dir, 'irv2_full.probs.npy'), by: 'Keras' }, engines: 'auto' });
  }
  return list;
}

/** Every writer from one source, each output checked against the source; returns the tfjs output (kept). */
function convertAll(src: Source, work: string, keep?: string): string | undefined {
  let kept: string | undefined;
  for (const to of WRITERS) {
    const name = `${src.id} -> ${to}`;
    const out = join(work, `${src.id}.${to}`);
    const t = performance.now();
    const c = port(['--to', to, src.path, '-o', out, '--no-check', '--force']);
    if (c.code !== 0) {
      checks.push({ name, error: `port --to ${to} exited ${c.code}: ${c.stderr.trim().split('\n').slice(-3).join(' | ')}`, seconds: (performance.now() - t) / 1000 });
      log(`ERROR ${name}: ${checks.at(-1)!.error}`);
      continue;
    }
    const engines = ALL_ENGINES_EVERYWHERE || src.engines === 'all' ? ['--engine', 'all'] : [];
    parity(name, [out, '--against', src.path, ...engines]);
    if (to === keep) kept = out;
    else rmSync(out, { recursive: true, force: true });
  }
  return kept;
}

function writeResults(): { failed: number; errors: number; passed: number } {
  const suites: string[] = [];
  for (const c of checks) {
    if (c.report) suites.push(junitSuite(c.report, c.name));
    else
      suites.push(
        `  <testsuite name="${xml(c.name)}" tests="1" failures="0" errors="1" skipped="0" time="${c.seconds.toFixed(3)}">\n    <testcase classname="${xml(c.name)}" name="${xml(c.name)}" time="${c.seconds.toFixed(3)}">\n      <error message="${xml(c.error ?? '')}" type="CommandError"/>\n    </testcase>\n  </testsuite>\n`,
      );
  }
  for (const s of skipped)
    suites.push(
      `  <testsuite name="${xml(s.name)}" tests="1" failures="0" errors="0" skipped="1" time="0">\n    <testcase classname="fixtures" name="${xml(s.name)}" time="0">\n      <skipped message="${xml(s.reason)}"/>\n    </testcase>\n  </testsuite>\n`,
    );
  writeFileSync(join(OUT, 'junit.xml'), `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="parity">\n${suites.join('')}</testsuites>\n`);
  const passed = checks.filter((c) => c.report?.verdict === 'pass').length;
  const failed = checks.filter((c) => c.report?.verdict === 'fail').length;
  const errors = checks.filter((c) => c.error).length;
  const seconds = (performance.now() - started) / 1000;
  const rows = checks
    .map((c) => {
      const worst = c.report?.comparisons.reduce((m, x) => Math.max(m, x.output?.maxAbs ?? NaN), 0);
      const ran = c.report?.engines.filter((e) => e.status === 'ran') ?? [];
      const engines = ran.length ? `${ran.filter((e) => e.role === 'checked').map((e) => e.engine).join(', ')} vs ${ran.find((e) => e.role === 'reference')?.engine ?? 'outputs'}` : '';
      const verdict = c.error ? 'ERROR' : c.report!.verdict === 'pass' ? 'pass' : 'FAIL';
      const link = c.reportFile ? `<a href="${xml(relative(OUT, c.reportFile))}">${xml(c.name)}</a>` : xml(c.name);
      return `<tr class="${verdict.toLowerCase()}"><td>${link}</td><td>${verdict}</td><td>${fmt(worst)}</td><td>${xml(engines)}</td><td>${c.seconds.toFixed(1)} s</td><td>${xml(c.error ?? c.report?.reference.description ?? '')}</td></tr>`;
    })
    .join('\n');
  writeFileSync(
    join(OUT, 'index.html'),
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>weightport parity CI: ${failed + errors ? 'FAIL' : 'pass'}</title>
<style>body{font:14px system-ui,sans-serif;margin:24px}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}tr.fail td,tr.error td{background:#fde8e8}</style></head><body>
<h1>weightport parity CI: ${failed + errors ? 'FAIL' : 'pass'}</h1>
<p>${passed} passed, ${failed} failed, ${errors} errors, ${skipped.length} fixtures skipped; ${(seconds / 60).toFixed(1)} min.</p>
${skipped.length ? `<ul>${skipped.map((s) => `<li>skipped ${xml(s.name)}: ${xml(s.reason)}</li>`).join('')}</ul>` : ''}
<table><thead><tr><th>check</th><th>verdict</th><th>max |diff|</th><th>checked vs reference</th><th>time</th><th>reference / error</th></tr></thead><tbody>
${rows}
</tbody></table></body></html>
`,
  );
  writeFileSync(
    join(OUT, 'summary.json'),
    JSON.stringify({ passed, failed, errors, skipped, seconds, checks: checks.map((c) => ({ name: c.name, verdict: c.error ? 'error' : c.report!.verdict, seconds: c.seconds })) }, null, 2) + '\n',
  );
  return { passed, failed, errors };
}

const xml = (s: string) => s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);

async function main(): Promise<number> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first (npm run parity:ci does)`);
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(join(OUT, 'checks'), { recursive: true });
  log('Python environments (scripts/python-env.sh all)');
  const env = spawnSync('bash', [join(ROOT, 'scripts/python-env.sh'), 'all'], { encoding: 'utf8' });
  if (env.status !== 0) log(`warning: python-env.sh failed; sources that need it are skipped: ${(env.stderr ?? '').trim().split('\n').at(-1)}`);
  const work = mkdtempSync(join(tmpdir(), 'weightport-parity-ci-'));
  try {
    for (const arch of ARCHS) {
      const list = await sources(arch);
      log(`${arch}: ${list.length} sources: ${list.map((s) => s.id).join(', ')}`);
      let tfjsSource: string | undefined;
      for (const src of list) {
        if (src.reference) parity(`${src.id} vs ${src.reference.by}`, [src.path, '--reference', src.reference.npy]);
        const kept = convertAll(src, work, src.id.endsWith('timm-safetensors') ? 'tfjs' : undefined);
        tfjsSource ??= kept;
      }
      // The tfjs reader: the tfjs model written from timm's file as a source.
      if (tfjsSource) {
        const short = arch === 'inception_v4' ? 'v4' : 'irv2';
        convertAll({ id: `${short}-tfjs`, arch, path: tfjsSource, engines: 'auto' }, work);
        rmSync(tfjsSource, { recursive: true, force: true });
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const { passed, failed, errors } = writeResults();
  const minutes = (performance.now() - started) / 60_000;
  console.log(
    `\nparity CI: ${passed} passed, ${failed} failed, ${errors} errors, ${skipped.length} fixtures skipped in ${minutes.toFixed(1)} min; reports in ${OUT}/ (junit.xml, index.html)`,
  );
  return failed + errors > 0 ? 1 : 0;
}

process.exitCode = await main().catch((e: Error) => {
  console.error(`parity CI: ${e.stack ?? e.message}`);
  return 2;
});
