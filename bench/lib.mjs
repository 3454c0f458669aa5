// Shared helpers of the benchmark suites: timing, child processes with peak RSS, the cache folder.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism, homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const CLI = join(ROOT, 'dist/port.cjs');
export const CACHE = process.env.WEIGHTPORT_CACHE ?? join(homedir(), '.cache', 'weightport');

export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * This machine sets NODE_EXTRA_CA_CERTS (a 200 KB certificate bundle), which every Node process
 * parses as it starts, before any of its code runs: about 40 ms here (`node -e 0` 63 ms with it,
 * 24 without). `port` makes no TLS connection. Rows that start `port` are measured as the
 * machine runs it and, when the variable is set, a second time without it (this environment).
 */
export const EXTRA_CA_CERTS = process.env.NODE_EXTRA_CA_CERTS;
export const WITHOUT_EXTRA_CA_CERTS = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_EXTRA_CA_CERTS'));

/** Median wall time in ms of `fn` over `runs` runs (after one warm-up). */
export async function timeIt(fn, runs = 5) {
  await fn();
  const times = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn();
    times.push(performance.now() - t);
  }
  return median(times);
}

/** GNU time, for peak RSS and CPU time; without it those rows read NaN and wall times stay. */
const GNU_TIME = existsSync('/usr/bin/time');

/**
 * Runs a command under GNU time and returns wall ms, CPU ms (user + system, every thread) and peak
 * RSS in bytes (NaN for both where /usr/bin/time is missing); throws when the command fails.
 */
export function runMeasured(cmd, args, options = {}) {
  const timed = GNU_TIME ? ['-f', '%M %U %S', cmd, ...args] : args;
  const t = performance.now();
  const r = spawnSync(GNU_TIME ? '/usr/bin/time' : cmd, timed, { encoding: 'utf8', ...options });
  const ms = performance.now() - t;
  if (r.error || r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr || r.error}`);
  if (!GNU_TIME) return { ms, rss: NaN, cpu: NaN, stdout: r.stdout };
  const [kib, user, system] = r.stderr.trim().split('\n').at(-1).split(' ').map(Number);
  return { ms, rss: Number.isFinite(kib) ? kib * 1024 : NaN, cpu: (user + system) * 1000, stdout: r.stdout };
}

/**
 * A conversion timed beside `cp` of the same bytes, in alternation (one warm-up round, then `runs`
 * rounds of cp, the command, and the command without NODE_EXTRA_CA_CERTS where that is set):
 * this VM's speed drifts by tens of percent from one minute to the next, and alternating gives
 * both sides the same minutes. All three go through `runMeasured` (GNU time's own start in every
 * wall time alike). Returns the runs: { cp, measured, bare } (bare empty where the variable is unset).
 */
export function measureBesideCp(cpArgs, cmd, args, runs) {
  const cp = [];
  const measured = [];
  const bare = [];
  for (let i = 0; i < runs + 1; i++) {
    const round = [runMeasured('cp', cpArgs), runMeasured(cmd, args)];
    if (EXTRA_CA_CERTS !== undefined) round.push(runMeasured(cmd, args, { env: WITHOUT_EXTRA_CA_CERTS }));
    if (i === 0) continue;
    cp.push(round[0]);
    measured.push(round[1]);
    if (round[2]) bare.push(round[2]);
  }
  return { cp, measured, bare };
}

/** A command run `runs` times after one warm-up: median wall ms and the largest peak RSS. */
export function measureRuns(cmd, args, runs) {
  const measured = [];
  for (let i = 0; i < runs + 1; i++) {
    const m = runMeasured(cmd, args);
    if (i > 0) measured.push(m);
  }
  return { ms: median(measured.map((m) => m.ms)), rss: Math.max(...measured.map((m) => m.rss)) };
}

/** Median wall ms of a command over runs. */
export function timeCommand(cmd, args, runs = 5, options = {}) {
  const times = [];
  for (let i = 0; i < runs + 1; i++) {
    const t = performance.now();
    const r = spawnSync(cmd, args, { stdio: 'ignore', ...options });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}`);
    if (i > 0) times.push(performance.now() - t);
  }
  return median(times);
}

/**
 * A row: an operation measured next to a reference in the same run.
 * { suite, name, value, unit, reference: { name, value }, ratio, target? }
 */
export function row(suite, name, value, unit, refName, refValue, target) {
  return { suite, name, value, unit, reference: { name: refName, value: refValue }, ratio: value / refValue, ...(target ? { target } : {}) };
}

/**
 * A conversion's CPU time (all its threads) spread over this machine's cores: the least wall time
 * that work allows, however well it overlaps. Beside `cp` it says whether a wall-time target is
 * within reach on this machine at all (2 cores here: a conversion is mostly CPU, `cp` mostly the
 * kernel's copy).
 */
export function cpuFloorRow(suite, label, runs, refName, refValue) {
  const cores = availableParallelism();
  const cpu = median(runs.map((m) => m.cpu));
  return row(suite, `${label}, CPU time / ${cores} cores (the least wall time it allows)`, cpu / cores, 'ms', refName, refValue);
}
