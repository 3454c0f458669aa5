/**
 * The `port` command line: parses, calls the library, formats. Command modules import the library
 * inside their handlers, so `port --help` loads no engine and no file library. `main` is bundled
 * with the library into dist/port-main.cjs and started by dist/port.cjs (cli/bin.ts, cli/launch.ts).
 */
import yargs, { type CommandModule } from 'yargs';
import { ExitCode, UsageError, WeightportError } from '../errors.js';
import { packageVersion } from '../version.js';
import { offerChecksWorker } from '../io/background.js';
import type { BlankWorker } from '../io/worker-start.js';
import { convertCommand } from './commands/convert.js';
import { graphCommand } from './commands/graph.js';
import { diffCommand } from './commands/diff.js';
import { demoCommand } from './commands/demo.js';
import { inspectCommand } from './commands/inspect.js';
import { parityCommand } from './commands/parity.js';

/** Every command, one line each. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const COMMANDS: readonly CommandModule<any, any>[] = [convertCommand, graphCommand, parityCommand, inspectCommand, demoCommand, diffCommand];

/** Internal faults (bugs) exit with EX_SOFTWARE, distinct from every documented code. */
const EXIT_INTERNAL = 70;

/** What the launcher (cli/bin.ts) may have started ahead of the command. */
export interface Launch {
  /** A worker for a conversion's checks (io/background.ts), started while the bundle loaded. */
  readonly checksWorker?: BlankWorker;
}

/** The part of yargs' internal API (17.x) that skipHelpCaching uses; absent in another version. */
interface YargsInternals {
  getInternalMethods?(): { getUsageInstance?(): { cacheHelpMessage?: () => void } } | undefined;
}

/**
 * yargs lays out the whole help text of a named command (`port convert ...`) each time one runs,
 * kept in case the program shows help after the command: 8-11 ms of cold JavaScript on a
 * conversion's path (its CPU profile). `fail` above never shows help (a usage error says to run
 * `--help`), so that text is never used. `--help` itself builds its text on demand, as before.
 */
export function skipHelpCaching(cli: unknown): void {
  const usage = (cli as YargsInternals).getInternalMethods?.()?.getUsageInstance?.();
  if (usage && typeof usage.cacheHelpMessage === 'function') usage.cacheHelpMessage = () => {};
}

/** Runs one command line (without node and the script) and returns its exit code. */
export async function main(argv: string[], launch: Launch = {}): Promise<number> {
  if (launch.checksWorker) offerChecksWorker(launch.checksWorker);
  const debug = argv.includes('--debug');
  let cli = yargs(argv)
    .scriptName('port')
    .usage('$0 [command] [options]: port Inception-v4 / Inception-ResNet-v2 weights, check the port')
    .option('debug', { type: 'boolean', default: false, global: true, describe: 'print stack traces' })
    .epilogue(
      'Exit codes: 0 ok, 1 parity failure, 2 usage error, 3 bad input file, 4 output refused.\nDocs: README.md',
    )
    .strict()
    .recommendCommands()
    .demandCommand(1, 'give a command or an input file (see --help)')
    .help()
    .alias('h', 'help')
    .version(packageVersion()) // (yargs would guess from the working folder's package.json)
    .wrap(Math.min(110, process.stdout.columns || 100))
    .fail((msg, err) => {
      if (err) throw err;
      throw new UsageError(msg.replace(/\n\s*/g, ' '));
    });
  for (const c of COMMANDS) cli = cli.command(c);
  skipHelpCaching(cli);
  try {
    await cli.parseAsync();
    return process.exitCode === undefined ? ExitCode.ok : Number(process.exitCode);
  } catch (e) {
    if (e instanceof WeightportError) {
      process.stderr.write(`port: ${e.message}\n`);
      if (e.code === ExitCode.usage) process.stderr.write('Run port --help for usage.\n');
      if (debug && e.stack) process.stderr.write(`${e.stack}\n`);
      return e.code;
    }
    const err = e as Error;
    process.stderr.write(`port: internal error: ${err?.message ?? String(e)}${debug ? '' : ' (run with --debug for details)'}\n`);
    if (debug && err?.stack) process.stderr.write(`${err.stack}\n`);
    return EXIT_INTERNAL;
  }
}

// A closed pipe (`port graph ... | head`) ends the output, not the process with a trace.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});
