/**
 * Loads a tfjs model folder in a real browser: Debian's Chromium driven by playwright-core
 * (scripts/browser-env.sh makes sure it is there; nothing is downloaded by playwright), the page
 * and the model served from a loopback http server, tfjs from its own bundle
 * (node_modules/@tensorflow/tfjs/dist/tf.min.js), `tf.loadLayersModel('http://127.0.0.1:<port>/
 * model/model.json')` (or `tf.loadGraphModel` for a graph-model) + `predict`, the outputs handed
 * back as base64 float32.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join, normalize } from 'node:path';
import { ROOT } from './python.js';

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
];

let availability: string | undefined;

/** '' when Chromium can be driven, else why not (to skip with). */
export function browserAvailable(): string {
  if (availability !== undefined) return availability;
  if (!existsSync(CHROMIUM)) {
    const r = spawnSync('bash', [join(ROOT, 'scripts/browser-env.sh')], { encoding: 'utf8', timeout: 15 * 60_000 });
    if (r.status !== 0 || !existsSync(CHROMIUM))
      return (availability = `(skipped: Chromium cannot be had: ${(r.stderr || '').trim().split('\n').at(-1) || `scripts/browser-env.sh exited ${r.status}`})`);
  }
  return (availability = '');
}

const TYPES: Record<string, string> = { '.json': 'application/json', '.js': 'text/javascript', '.bin': 'application/octet-stream', '.html': 'text/html' };

function serve(modelDir: string): Promise<{ server: Server; port: number }> {
  const tfBundle = join(ROOT, 'node_modules/@tensorflow/tfjs/dist/tf.min.js');
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    let file: string | undefined;
    if (url.pathname === '/') {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!doctype html><html><head><script src="/tf.min.js"></script></head><body></body></html>');
      return;
    }
    if (url.pathname === '/tf.min.js') file = tfBundle;
    else if (url.pathname.startsWith('/model/')) {
      const rel = normalize(decodeURIComponent(url.pathname.slice('/model/'.length)));
      if (!rel.startsWith('..')) file = join(modelDir, rel);
    }
    try {
      if (!file) throw new Error('not found');
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': TYPES[file.slice(file.lastIndexOf('.'))] ?? 'application/octet-stream' });
      res.end(body);
    } catch {
      res.writeHead(404);
      res.end();
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as { port: number }).port }));
  });
}

const toBase64 = (a: Float32Array): string => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
const fromBase64 = (s: string): Float32Array => {
  const b = Buffer.from(s, 'base64');
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};

export interface BrowserPrediction {
  readonly outputs: Float32Array[];
  readonly backend: string;
  readonly userAgent: string;
}

/**
 * Predicts one NHWC batch with the model folder (a layers-model or a graph-model) in Chromium
 * (tfjs cpu backend: plain float32).
 */
export async function predictInBrowser(modelDir: string, input: Float32Array, shape: readonly number[], backend = 'cpu'): Promise<BrowserPrediction> {
  const { chromium } = await import('playwright-core');
  const { server, port } = await serve(modelDir);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS, headless: true });
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${port}/`);
    const result = await page.evaluate(
      async ({ url, x, shape, backend }) => {
        // eslint-disable-next-line @typescript-eslint/no-explicit-any
        const tf = (globalThis as any).tf;
        await tf.setBackend(backend);
        await tf.ready();
        const b = atob(x);
        const bytes = new Uint8Array(b.length);
        for (let i = 0; i < b.length; i++) bytes[i] = b.charCodeAt(i);
        // A graph-model (format 'graph-model') loads with loadGraphModel; predict is the same call.
        const format = ((await (await fetch(url)).json()) as { format?: string }).format;
        const model = format === 'graph-model' ? await tf.loadGraphModel(url) : await tf.loadLayersModel(url);
        const t = tf.tensor(new Float32Array(bytes.buffer), shape);
        const y = model.predict(t);
        const ys = Array.isArray(y) ? y : [y];
        const outs: string[] = [];
        for (const o of ys) {
          const d = new Uint8Array(((await o.data()) as Float32Array).buffer);
          let s = '';
          for (let i = 0; i < d.length; i += 0x8000) s += String.fromCharCode(...d.subarray(i, i + 0x8000));
          outs.push(btoa(s));
        }
        return { outs, backend: tf.getBackend() as string, userAgent: navigator.userAgent };
      },
      { url: `http://127.0.0.1:${port}/model/model.json`, x: toBase64(input), shape: [...shape], backend },
    );
    return { outputs: result.outs.map(fromBase64), backend: result.backend, userAgent: result.userAgent };
  } finally {
    await browser.close();
    await new Promise((r) => server.close(r));
  }
}
