#!/usr/bin/env node
// The `port` bin, bundled on its own into dist/port.mjs (scripts/bundle-cli.mjs): runs the
// command line bundled beside it, dist/port-main.cjs, from its code cache (cli/launch.ts).
import { fileURLToPath } from 'node:url';
import { loadCli } from './launch.js';

process.exitCode = await loadCli(fileURLToPath(new URL('./port-main.cjs', import.meta.url))).main(process.argv.slice(2));
