import type { Argv, CommandModule } from 'yargs';
import { FORMATS } from '../../readers/types.js';
import { SCHEMES } from '../../graphs/schemes/types.js';

interface InspectArgs {
  input: string;
  from: (typeof FORMATS)[number] | 'auto';
  scheme: (typeof SCHEMES)[number] | 'auto';
  arch: 'auto' | 'inception_v4' | 'inception_resnet_v2';
  aux: boolean;
  ema: boolean;
  verify: boolean;
  json: boolean;
}

export const inspectCommand: CommandModule<object, InspectArgs> = {
  command: 'inspect <input>',
  describe: "list a model's tensors and checksums, its architecture and naming, what is left out",
  builder: (y: Argv) =>
    y
      .positional('input', { type: 'string', demandOption: true, describe: 'model file, folder or checkpoint prefix' })
      .option('from', { choices: ['auto', ...FORMATS] as const, default: 'auto' as const, describe: 'source format' })
      .option('scheme', { choices: ['auto', ...SCHEMES] as const, default: 'auto' as const, describe: "source's naming scheme" })
      .option('arch', { choices: ['auto', 'inception_v4', 'inception_resnet_v2'] as const, default: 'auto' as const, describe: "architecture (auto: recognised from the tensors' names and shapes)" })
      .option('aux', { type: 'boolean', default: false, describe: 'count the auxiliary head as used' })
      .option('ema', { type: 'boolean', default: false, describe: 'take ExponentialMovingAverage values when stored' })
      .option('verify', { type: 'boolean', default: true, describe: 'read every tensor and check stored checksums (--no-verify: names and shapes only)' })
      .option('json', { type: 'boolean', default: false, describe: 'print the report as JSON' })
      .example('$0 inspect inception_resnet_v2_2016_08_30.ckpt', 'a TF-slim V1 checkpoint')
      .example('$0 inspect model.ckpt --json', 'a V2 checkpoint prefix, as JSON') as unknown as Argv<InspectArgs>,
  async handler(args) {
    const { inspect } = await import('../../inspect.js');
    const { table, bytes, thousands } = await import('../format.js');
    const report = await inspect(args.input, {
      from: args.from,
      scheme: args.scheme,
      ...(args.arch !== 'auto' ? { arch: args.arch } : {}),
      aux: args.aux,
      ema: args.ema,
      verify: args.verify,
    });
    if (args.json) {
      process.stdout.write(JSON.stringify(report, null, 2) + '\n');
      return;
    }
    const d = report.detection;
    const lines = [
      `${report.file}: ${report.format}${report.metadata.version ? ` (${String(report.metadata.version)})` : ''}, ${report.files.length} file${report.files.length === 1 ? '' : 's'}, ${thousands(report.tensors.length)} tensors, ${bytes(report.totalBytes)}`,
      d
        ? `architecture: ${d.arch}, ${d.options.classes} classes${d.options.widthDivisor && d.options.widthDivisor > 1 ? `, width / ${d.options.widthDivisor}` : ''}${d.options.aux ? ', auxiliary head' : ''}`
        : 'architecture: not recognised',
      d ? `naming: ${d.scheme}: ${d.reason}` : `naming: ${report.problem ?? 'no scheme fits'}`,
      `checksums: ${report.checksum ? `${report.checksum} ${report.tensors.every((t) => t.checksum === 'ok') ? 'verified for every tensor' : 'not checked'}` : 'none in this format'}`,
      '',
    ];
    const rows = report.tensors.map((t) => [
      t.name,
      t.dtype,
      `[${t.shape.join(', ')}]`,
      thousands(t.bytes),
      t.checksum,
      t.why ? `${t.status}: ${t.why}` : t.status,
    ]);
    lines.push(table(['tensor', 'dtype', 'shape', 'bytes', 'checksum', 'status'], rows, 'lllrll'), '');
    if (report.leftOut.length) lines.push(`left out: ${report.leftOut.length} tensors (training state or auxiliary head)`);
    if (report.missing.length) lines.push(`missing: ${report.missing.join(', ')}`);
    if (report.extra.length) lines.push(`unexpected: ${report.extra.join(', ')}`);
    for (const m of report.mismatched) lines.push(`wrong shape: ${m.source} is [${m.found}], ${m.param} needs [${m.expected}]`);
    if (report.problem && d) lines.push(`problem: ${report.problem}`);
    process.stdout.write(lines.join('\n') + '\n');
  },
};
