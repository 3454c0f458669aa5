// Bundles the `port` command line (dist/cli/main.js, from tsc) and the library it loads into one
// file, dist/port.mjs, the package's `bin`. Node resolves, reads and compiles 130-170 modules
// otherwise: a thin-model conversion took 355 ms before its first byte, 225 ms bundled (start-up is
// most of a small conversion, and 0.1 s of a full-size one). The library itself (`main`) stays
// unbundled. Native and WebAssembly engines stay outside: they load their binaries relative to
// their own packages, and only when a command needs them.
import { chmodSync } from 'node:fs';
import { build } from 'esbuild';

const outfile = new URL('../dist/port.mjs', import.meta.url).pathname;
await build({
  entryPoints: [new URL('../dist/cli/main.js', import.meta.url).pathname],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: true, // `node --enable-source-maps dist/port.mjs --debug ...` for traces in dist/ terms
  external: ['onnxruntime-node', 'h5wasm', '@tensorflow/*', 'playwright-core', 'webgpu'],
  // CommonJS dependencies (protobufjs) call require(): give the ESM bundle one.
  banner: { js: "import { createRequire as __wpCreateRequire } from 'node:module'; const require = __wpCreateRequire(import.meta.url);" },
  logLevel: 'warning',
});
chmodSync(outfile, 0o755);
