/**
 * Clean-ups for Ctrl-C and kills: what a command has made for a while (an output's temporary
 * files, an old output set aside for an instant, the parity check's scratch folder, which is on
 * the RAM disk /dev/shm where it can) is removed on SIGINT, SIGTERM or SIGHUP instead of being
 * left behind. The process listens only while a clean-up is registered, so that a library user's
 * process is otherwise left as it was.
 */
import { rmSync } from 'node:fs';

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
const cleanups = new Set<() => void>();

/**
 * Runs every registered clean-up (synchronously: the process is ending), then lets the signal take
 * its course: where nothing else listens, the process ends as the signal's default would (exit
 * code 128 + n); where the program has listeners of its own, they decide.
 */
function onSignal(signal: NodeJS.Signals): void {
  for (const cleanup of cleanups) {
    try {
      cleanup();
    } catch {
      // best effort: the process is ending either way
    }
  }
  cleanups.clear();
  unwatch();
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function watch(): void {
  // First: a listener of the program's own may end the process there and then.
  for (const s of SIGNALS) if (!process.listeners(s).includes(onSignal)) process.prependListener(s, onSignal);
}

function unwatch(): void {
  for (const s of SIGNALS) process.off(s, onSignal);
}

/** Registers a synchronous clean-up for an interrupt; returns what unregisters it (idempotent). */
export function onInterrupt(cleanup: () => void): () => void {
  const own = () => cleanup(); // a function of its own: the same cleanup may be registered twice
  cleanups.add(own);
  watch();
  return () => {
    cleanups.delete(own);
    if (cleanups.size === 0) unwatch();
  };
}

/** Removes files, or folders with what is in them, synchronously; one that fails does not stop the next. */
export function removeNow(paths: readonly string[]): void {
  for (const p of paths) {
    try {
      rmSync(p, { recursive: true, force: true });
    } catch {
      // best effort, the next one all the same
    }
  }
}

/** onInterrupt for paths to remove (files, or folders with what is in them). */
export const removeOnInterrupt = (...paths: readonly string[]): (() => void) => onInterrupt(() => removeNow(paths));
