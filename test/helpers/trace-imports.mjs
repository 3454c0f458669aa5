// Preloaded with `node --import`: records every module URL the process resolves, into the file
// named by WEIGHTPORT_TRACE_IMPORTS, so a test can check what `port --help` loads.
import { register } from 'node:module';

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
