// Preloaded with `node --import`: records every module the process loads, into the file named by
// WEIGHTPORT_TRACE_IMPORTS, so a test can check what `port --help` loads: ES modules as they are
// resolved, CommonJS ones (the bundled command line, what it requires) from require's cache at exit.
import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';

register(
  'data:text/javascript,' +
    encodeURIComponent(`
      import { appendFileSync } from 'node:fs';
      export async function resolve(specifier, context, next) {
        const r = await next(specifier, context);
        appendFileSync(process.env.WEIGHTPORT_TRACE_IMPORTS, r.url + '\\n');
        return r;
      }`),
);

const { cache } = createRequire(import.meta.url);
process.on('exit', () => appendFileSync(process.env.WEIGHTPORT_TRACE_IMPORTS, Object.keys(cache).map((f) => `${f}\n`).join('')));
