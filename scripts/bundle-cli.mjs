// Bundles the `port` command line (dist/cli/main.js, from tsc) and the library it loads into one
// CommonJS file, dist/port-main.cjs, started by the package's `bin`, dist/port.cjs (src/cli/bin.ts
// and launch.ts, bundled on their own), then writes V8's code cache of it (warm-code-cache.mjs).
// Node resolves, reads and compiles 130-170 modules otherwise: a thin-model conversion took 355 ms
// before its first byte, 225 ms bundled. The library itself (`main`) stays unbundled. Native and
// WebAssembly engines stay outside: they load their binaries relative to their own packages, and
// only when a command needs them.
import { spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { build } from 'esbuild';

const dist = (file) => new URL(`../dist/${file}`, import.meta.url).pathname;
const common = { bundle: true, platform: 'node', target: 'node20', logLevel: 'warning' };

// yargs' ESM entry (which `import yargs from 'yargs'` resolves to) lays out help with cliui's ESM
// build, whose `wrap` cuts lines every n characters, inside words ("an independent exec" / "ution");
// its CommonJS build wraps at spaces (wrap-ansi), as yargs does when it is required.
const cliuiWithWordWrap = {
  name: 'cliui-with-word-wrap',
  setup(b) {
    b.onResolve({ filter: /^cliui$/ }, () => ({ path: createRequire(import.meta.url).resolve('cliui') }));
  },
};

await build({
  ...common,
  plugins: [cliuiWithWordWrap],
  entryPoints: [dist('cli/main.js')],
  outfile: dist('port-main.cjs'),
  format: 'cjs',
  // import() of the engines becomes require(): they are all CommonJS packages, and a vm.Script
  // (cli/launch.ts) has no loader for import() without an experimental flag of Node.
  supported: { 'dynamic-import': false },
  sourcemap: true, // `node --enable-source-maps dist/port.cjs --debug ...` for traces in src/ terms
  external: ['onnxruntime-node', 'h5wasm', '@tensorflow/*', 'playwright-core', 'webgpu'],
  // import.meta.url (package.json, createRequire) is the bundle's own URL; dist/port-main.cjs is
  // one level below the root, as src/*.ts and dist/*.js are.
  define: { 'import.meta.url': '__portMainUrl' },
  banner: { js: "const __portMainUrl = require('node:url').pathToFileURL(__filename).href;" },
});
// V8 keeps a source with any character beyond Latin-1 as two bytes per character: one quote mark
// in a comment of a dependency (esbuild escapes strings, not comments) made the 1.1 MB bundle a
// 2.2 MB string to read, hash and scan (`port --help` 62 -> 59 ms without it, 15 interleaved runs).
// \uXXXX means the same in a string, a regular expression or an identifier, and nothing in a comment.
const bundle = readFileSync(dist('port-main.cjs'), 'utf8');
writeFileSync(dist('port-main.cjs'), bundle.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
// The bin is CommonJS (src/cli/bin.ts says why); its import.meta.url is its own file's URL.
await build({
  ...common,
  entryPoints: [dist('cli/bin.js')],
  outfile: dist('port.cjs'),
  format: 'cjs',
  define: { 'import.meta.url': '__portBinUrl' },
  banner: { js: "const __portBinUrl = require('node:url').pathToFileURL(__filename).href;" },
});
chmodSync(dist('port.cjs'), 0o755);
rmSync(dist('port.mjs'), { force: true }); // the ES module bin of earlier builds

rmSync(dist('port-main.cache'), { force: true });
const warm = spawnSync(process.execPath, [new URL('./warm-code-cache.mjs', import.meta.url).pathname], { stdio: 'inherit' });
if (warm.status !== 0) {
  console.error('bundle-cli: writing the code cache failed (the command line works without it, more slowly)');
  process.exit(1);
}
