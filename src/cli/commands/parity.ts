import type { Argv, CommandModule } from 'yargs';
import { FORMATS } from '../../readers/types.js';
import { SCHEMES } from '../../graphs/schemes/types.js';

/** Engine names as the CLI takes them (kept here so that `--help` loads no engine module). */
const ENGINE_CHOICES = ['ort', 'tfjs-wasm', 'webgpu', 'tfjs-node-gpu', 'ort-cuda', 'all'] as const;

interface ParityArgs {
  model: string;
  against?: string;
  reference?: string;
  input?: string;
  engine: string[];
  atol: number;
  layers: boolean;
  report: string[];
  force: boolean;
  from: (typeof FORMATS)[number] | 'auto';
  scheme: (typeof SCHEMES)[number] | 'auto';
  arch: 'auto' | 'inception_v4' | 'inception_resnet_v2';
  json: boolean;
}

export const parityCommand: CommandModule<object, ParityArgs> = {
  command: 'parity <model>',
  describe: 'run a model in real engines and compare its outputs with an independent execution, another model or reference outputs',
  builder: (y: Argv) =>
    y
      .positional('model', { type: 'string', demandOption: true, describe: 'the model to check: .onnx, a tfjs folder, or any file port reads' })
      .option('against', { type: 'string', describe: 'compare with this model (default: the same weights in another engine and layout)' })
      .option('reference', { type: 'string', describe: 'reference outputs (.npy, [1, classes]) from the original framework' })
      .option('input', { type: 'string', describe: 'input: .npy (NCHW or NHWC) or a PNG/JPEG image (default: a deterministic synthetic image)' })
      .option('engine', {
        type: 'string',
        array: true,
        default: [] as string[],
        describe: `engines that run the model, repeatable or comma-separated: ${ENGINE_CHOICES.join(', ')} (default: the one native to its format)`,
      })
      .option('atol', { type: 'number', default: 1e-4, describe: 'absolute tolerance on the logits' })
      .option('layers', { type: 'boolean', default: false, describe: 'compare every block and report the first one over tolerance' })
      .option('report', { type: 'string', array: true, default: [] as string[], describe: 'write a report: file.json, file.xml (JUnit) or file.html; repeatable' })
      .option('force', { type: 'boolean', default: false, describe: 'overwrite existing report files' })
      .option('from', { choices: ['auto', ...FORMATS] as const, default: 'auto' as const, describe: 'format of the model, when it must be read' })
      .option('scheme', { choices: ['auto', ...SCHEMES] as const, default: 'auto' as const, describe: 'naming scheme of the model, when it must be read' })
      .option('arch', { choices: ['auto', 'inception_v4', 'inception_resnet_v2'] as const, default: 'auto' as const, describe: "architecture (auto: recognised from the tensors' names and shapes)" })
      .option('json', { type: 'boolean', default: false, describe: 'print the report as JSON' })
      .example('$0 parity model.onnx', 'ONNX in onnxruntime against the same weights as tfjs in tfjs-wasm')
      .example('$0 parity model.onnx --against model.h5 --layers --report parity.html', 'find the first block that diverges from the source')
      .example('$0 parity model.tfjs --engine all --report junit.xml', 'every available engine, a JUnit report for CI') as unknown as Argv<ParityArgs>,
  async handler(args) {
    const { UsageError, ParityError } = await import('../../errors.js');
    const engines = args.engine.flatMap((e) => e.split(',')).map((e) => e.trim()).filter(Boolean);
    for (const e of engines)
      if (!(ENGINE_CHOICES as readonly string[]).includes(e)) throw new UsageError(`--engine: unknown engine '${e}' (choose from ${ENGINE_CHOICES.join(', ')})`);
    const { reportFormatOf } = await import('../../parity/report.js');
    for (const r of args.report)
      if (!reportFormatOf(r)) throw new UsageError(`--report ${r}: name a .json, .xml or .html file`);
    const { checkParity } = await import('../../parity/check.js');
    const { renderReport, comparisonLine, fmt } = await import('../../parity/report.js');
    const { writeOutputs } = await import('../../io/output.js');
    const { writeFile } = await import('node:fs/promises');
    const read = {
      from: args.from,
      scheme: args.scheme,
      ...(args.arch !== 'auto' ? { arch: args.arch } : {}),
    };
    const verbose = Boolean(process.stderr.isTTY && !process.env.CI);
    const report = await checkParity(args.model, {
      against: args.against,
      reference: args.reference,
      input: args.input,
      engines: engines.length ? (engines as never) : 'auto',
      atol: args.atol,
      layers: args.layers,
      read,
      onProgress: verbose ? (m) => process.stderr.write(`${m}\n`) : undefined,
    });
    for (const path of args.report)
      await writeOutputs([path], { force: args.force }, (tmp) => writeFile(tmp(path), renderReport(report, reportFormatOf(path)!)));
    if (args.json) process.stdout.write(renderReport(report, 'json'));
    else {
      const lines = [`${args.model}${report.arch ? ` (${report.arch}, ${report.classes} classes)` : ''} against ${report.reference.description}`, `input: ${report.input}`];
      for (const c of report.comparisons) lines.push(comparisonLine(c));
      for (const e of report.engines) {
        if (e.status === 'ran')
          lines.push(`  ${e.engine.padEnd(13)} ${e.role.padEnd(9)} session ${fmt((e.createMs ?? 0) / 1000)} s, inference ${fmt((e.runMs ?? 0) / 1000)} s  (${e.device})`);
        else lines.push(`  ${e.engine.padEnd(13)} ${e.status}: ${e.reason}`);
      }
      for (const w of report.warnings) lines.push(`warning: ${w}`);
      lines.push(
        `${report.verdict === 'pass' ? 'PASS' : 'FAIL'} (atol ${report.atol}) in ${(report.timing.totalMs / 1000).toFixed(1)} s; engines ${(report.timing.enginesMs / 1000).toFixed(1)} s`,
      );
      process.stdout.write(lines.join('\n') + '\n');
    }
    if (report.verdict === 'fail') {
      const bad = report.comparisons.find((c) => !c.pass);
      const first = report.comparisons.find((c) => c.firstDivergence)?.firstDivergence;
      throw new ParityError(
        bad
          ? `parity check failed: ${bad.name} vs ${bad.referenceName}: ${bad.reason ?? 'outputs differ'}${first ? `; first diverging block ${first.block}` : ''}`
          : `parity check failed: ${report.warnings.at(-1) ?? report.engines.find((e) => e.status === 'failed')?.reason ?? 'nothing compared'}`,
        first?.block,
        bad?.output?.maxAbs ?? NaN,
      );
    }
  },
};

/**
 * `port convert` (check on unless --no-check): checks the written model against the source
 * (parity/check.ts `checkConversion`) and returns the report, with the lines to print; the caller
 * prints them and calls `failOnMismatch` after its own output. `strict` (an explicit --check)
 * turns a check that cannot run into an error instead of a skipped check.
 */
export async function checkAfterConvert(
  input: string,
  output: string,
  options: import('../../parity/check.js').CheckConversionOptions,
  strict: boolean,
): Promise<{ report?: import('../../parity/report.js').ParityReport; text: string }> {
  const { checkConversion } = await import('../../parity/check.js');
  const { comparisonLine } = await import('../../parity/report.js');
  const verbose = Boolean(process.stderr.isTTY && !process.env.CI);
  let report;
  try {
    report = await checkConversion(input, output, { ...options, onProgress: verbose ? (m) => process.stderr.write(`${m}\n`) : undefined });
  } catch (e) {
    // The check is on by default: a model it cannot check (no engine, a naming it cannot read
    // back) is converted all the same, and says so. An explicit --check fails instead.
    if (strict) throw e;
    return { text: `parity check skipped: ${(e as Error).message}\n` };
  }
  const lines = [`parity: ${output} against ${report.reference.description}`, ...report.comparisons.map(comparisonLine), ...report.warnings.map((w) => `warning: ${w}`)];
  lines.push(`parity ${report.verdict === 'pass' ? 'PASS' : 'FAIL'} in ${(report.timing.totalMs / 1000).toFixed(1)} s`);
  return { report, text: lines.join('\n') + '\n' };
}

/** Throws ParityError (exit code 1) when a conversion check failed. */
export async function failOnMismatch(report: import('../../parity/report.js').ParityReport, output: string, input: string): Promise<void> {
  if (report.verdict === 'pass') return;
  const { ParityError } = await import('../../errors.js');
  const bad = report.comparisons.find((c) => !c.pass);
  throw new ParityError(
    `${output} does not match ${input}: ${bad ? `${bad.name} vs ${bad.referenceName}: ${bad.reason ?? 'outputs differ'}` : (report.warnings.at(-1) ?? 'nothing compared')}; run \`port parity ${output} --against ${input} --layers\` to find the first diverging block`,
    undefined,
    bad?.output?.maxAbs ?? NaN,
  );
}
