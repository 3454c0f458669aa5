import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { codeCachePath, loadCli } from '../../src/cli/launch.js';
import { runCli } from '../helpers/cli.js';

const BUNDLE = fileURLToPath(new URL('../../dist/port-main.cjs', import.meta.url));

/** A copy of the built bundle in a folder of its own, with `cache` as its code cache (none if undefined). */
function bundleCopy(cache: Buffer | undefined): string {
  const dir = mkdtempSync(join(tmpdir(), 'wp-launch-'));
  const copy = join(dir, 'port-main.cjs');
  copyFileSync(BUNDLE, copy);
  if (cache) writeFileSync(codeCachePath(copy), cache);
  return copy;
}

describe('the bin starts the bundled command line from its code cache', () => {
  it('the build wrote a cache that this Node accepts, holding more than the top level', () => {
    const cache = readFileSync(codeCachePath(BUNDLE));
    // Compiling the bundle without running it caches little more than its top-level code; the
    // warm-up's commands add the functions they ran.
    const bare = loadCli(bundleCopy(undefined), { useCache: false }).script!.createCachedData();
    expect(cache.length).toBeGreaterThan(2 * bare.length);
    expect(loadCli(bundleCopy(cache)).cacheRejected).toBe(false);
  });

  it('loading it leaves V8\'s flags as Node set them (its own code caches stay valid); a conversion\'s flags change them', () => {
    // cachedDataVersionTag hashes V8's version and flags: a code cache made under another tag is
    // refused, Node's cache of its built-in modules too. Flags are the process's: a child of its own.
    const launch = new URL('../../dist/cli/launch.js', import.meta.url).href;
    const script = `import v8 from 'node:v8';
import { loadCli, setPortV8Flags } from ${JSON.stringify(launch)};
const before = v8.cachedDataVersionTag();
const cli = loadCli(${JSON.stringify(BUNDLE)});
const loaded = v8.cachedDataVersionTag();
setPortV8Flags();
console.log(JSON.stringify({ before, loaded, tuned: v8.cachedDataVersionTag(), rejected: cli.cacheRejected }));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const tags = JSON.parse(r.stdout) as { before: number; loaded: number; tuned: number; rejected: boolean };
    expect(tags.loaded).toBe(tags.before);
    expect(tags.rejected).toBe(false);
    expect(tags.tuned).not.toBe(tags.loaded); // why the bin sets them only once it has compiled what it needs
  });

  it('the bundle is ASCII, so that V8 holds its source one byte per character', () => {
    expect(readFileSync(BUNDLE, 'latin1')).not.toMatch(/[^\x00-\x7f]/);
  });

  it('a cache V8 refuses, or none, only costs time: the command line still runs', () => {
    const refused = loadCli(bundleCopy(Buffer.from('not a V8 code cache'.repeat(100))));
    expect(refused.cacheRejected).toBe(true);
    expect(typeof refused.main).toBe('function');
    const none = loadCli(bundleCopy(undefined));
    expect(none.cacheRejected).toBeUndefined();
    expect(typeof none.main).toBe('function');
  });

  it('engines load from the cached bundle (their import() became require())', () => {
    // The thin Keras fixture, converted with the default parity check: onnxruntime and tfjs-wasm.
    const out = join(mkdtempSync(join(tmpdir(), 'wp-launch-')), 'v4.onnx');
    const r = runCli(['--from', 'keras', '--to', 'onnx', fileURLToPath(new URL('../../fixtures/keras/v4.h5', import.meta.url)), '-o', out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/PASS ort \(onnx\) vs tfjs-wasm/);
  });
});

describe("the bin sizes libuv's thread pool", () => {
  // A preloaded hook counts the process's threads as it exits: `port inspect` reads its file
  // through the pool, so the pool's threads are among them.
  const threadsAtExit = (env: NodeJS.ProcessEnv): number => {
    const dir = mkdtempSync(join(tmpdir(), 'wp-pool-'));
    const hook = join(dir, 'count.cjs');
    writeFileSync(hook, "process.on('exit', () => process.stderr.write('threads=' + require('fs').readdirSync('/proc/self/task').length + '\\n'));");
    const fixture = fileURLToPath(new URL('../../fixtures/keras/v4.h5', import.meta.url));
    const r = runCli(['inspect', fixture], { nodeArgs: ['--require', hook], env });
    expect(r.code, r.stderr).toBe(0);
    return Number(/threads=(\d+)/.exec(r.stderr)![1]);
  };

  it.skipIf(process.platform !== 'linux')('one thread per core up to libuv\'s 4, set before the pool starts; a size in the environment is kept (Linux only: counts /proc/self/task)', () => {
    const base = { ...process.env };
    delete base.UV_THREADPOOL_SIZE;
    const sized = threadsAtExit(base);
    const four = threadsAtExit({ ...base, UV_THREADPOOL_SIZE: '4' });
    expect(four - sized).toBe(4 - Math.min(4, availableParallelism()));
    expect(threadsAtExit({ ...base, UV_THREADPOOL_SIZE: '6' }) - four).toBe(2);
  });
});
