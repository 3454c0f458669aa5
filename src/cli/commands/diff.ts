import type { Argv, CommandModule } from 'yargs';
import { FORMATS } from '../../readers/types.js';
import { SCHEMES } from '../../graphs/schemes/types.js';

interface DiffArgs {
  a: string;
  b: string;
  from: (typeof FORMATS)[number] | 'auto';
  fromB?: (typeof FORMATS)[number] | 'auto';
  scheme: (typeof SCHEMES)[number] | 'auto';
  schemeB?: (typeof SCHEMES)[number] | 'auto';
  arch: 'auto' | 'inception_v4' | 'inception_resnet_v2';
  atol?: number;
  aux: boolean;
  ema: boolean;
  fold: boolean;
  classes?: number;
  all: boolean;
  json: boolean;
}

export const diffCommand: CommandModule<object, DiffArgs> = {
  command: 'diff <a> <b>',
  describe: 'compare two models (any formats) parameter by parameter on the canonical graph; exit code 1 when they differ beyond --atol',
  builder: (y: Argv) =>
    y
      .positional('a', { type: 'string', demandOption: true, describe: 'first model: file, folder or checkpoint prefix' })
      .positional('b', { type: 'string', demandOption: true, describe: 'second model' })
      .option('from', { choices: ['auto', ...FORMATS] as const, default: 'auto' as const, describe: 'format of <a> (and of <b> unless --from-b)' })
      .option('from-b', { choices: ['auto', ...FORMATS] as const, describe: 'format of <b>' })
      .option('scheme', { choices: ['auto', ...SCHEMES] as const, default: 'auto' as const, describe: 'naming scheme of <a> (and of <b> unless --scheme-b)' })
      .option('scheme-b', { choices: ['auto', ...SCHEMES] as const, describe: 'naming scheme of <b>' })
      .option('arch', { choices: ['auto', 'inception_v4', 'inception_resnet_v2'] as const, default: 'auto' as const, describe: "architecture of both (auto: recognised from the tensors' names and shapes)" })
      .option('atol', { type: 'number', describe: 'largest |a - b| counted as equal (default 1e-6)' })
      .option('aux', { type: 'boolean', default: false, describe: 'compare the auxiliary heads too' })
      .option('ema', { type: 'boolean', default: false, describe: 'take ExponentialMovingAverage values when stored' })
      .option('fold', { type: 'boolean', default: true, describe: 'fold batch norm on one side when the other has it folded (--no-fold: report them as missing)' })
      .option('classes', { type: 'number', choices: [1000, 1001], describe: 'compare at this many classes (default: 1000 when one side has 1001)' })
      .option('all', { type: 'boolean', default: false, describe: 'list every parameter, not only those that differ' })
      .option('json', { type: 'boolean', default: false, describe: 'print the report as JSON' })
      .example('$0 diff inception_v4.ckpt inception_v4.onnx', 'a TF-slim checkpoint against the ONNX made from it')
      .example('$0 diff a.safetensors b.onnx --atol 1e-4 --json', 'JSON report, looser tolerance') as unknown as Argv<DiffArgs>,
  async handler(args) {
    const { diffFiles, DEFAULT_DIFF_ATOL } = await import('../../diff.js');
    const { ParityError, UsageError } = await import('../../errors.js');
    const { table, thousands } = await import('../format.js');
    if (args.atol !== undefined && !(args.atol >= 0)) throw new UsageError(`--atol must be a non-negative number, got ${args.atol}`);
    const r = await diffFiles(args.a, args.b, {
      fromA: args.from,
      fromB: args.fromB ?? args.from,
      schemeA: args.scheme,
      schemeB: args.schemeB ?? args.scheme,
      ...(args.arch !== 'auto' ? { arch: args.arch } : {}),
      atol: args.atol ?? DEFAULT_DIFF_ATOL,
      aux: args.aux,
      ema: args.ema,
      fold: args.fold,
      classes: args.classes,
    });
    const s = r.summary;
    const tol = (x: number) => (x !== 0 && (x < 1e-3 || x >= 1e4) ? x.toExponential() : String(x));
    if (args.json) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
    else {
      const num = (x: number | undefined) => (x === undefined ? '' : x === 0 ? '0' : x.toExponential(2));
      const shape = (x?: readonly number[]) => (x ? x.join('x') || 'scalar' : '-');
      const side = (k: 'a' | 'b') => {
        const d = r[k];
        return `${k}: ${d.path} (${d.format}, ${d.scheme === 'onnx' ? 'bound by its graph' : `${d.scheme} naming`}, ${d.arch}, ${d.classes} classes${d.foldedBn ? ', batch norm folded' : ''}, ${d.dtypes.join('/') || 'no float tensors'})`;
      };
      const lines = [side('a'), side('b'), ...r.notes.map((n) => `note: ${n}`), ''];
      const rows = r.params
        .filter((p) => args.all || (p.status !== 'equal' && p.status !== 'within'))
        .map((p) => [
          p.name,
          p.status === 'only-a' ? 'only in a' : p.status === 'only-b' ? 'only in b' : p.status === 'shape' ? 'shape' : p.status,
          p.status === 'shape' ? `${shape(p.shapeA)} vs ${shape(p.shapeB)}` : shape(p.shapeA ?? p.shapeB),
          num(p.maxAbs),
          num(p.meanAbs),
        ]);
      if (rows.length) lines.push(table(['parameter', 'status', 'shape', 'max |a-b|', 'mean |a-b|'], rows, 'lllrr'), '');
      lines.push(
        `${thousands(s.compared)} parameters compared: ${thousands(s.equal)} equal, ${thousands(s.within)} within ${tol(r.atol)}, ${thousands(s.differs)} differ; ` +
          `${s.shape} shape mismatches, ${s.onlyA} only in a, ${s.onlyB} only in b`,
        `max |a-b| = ${num(s.maxAbs)}${s.worst ? ` (${s.worst})` : ''}: ${r.same ? `the same within --atol ${tol(r.atol)}` : 'they differ'}`,
      );
      process.stdout.write(lines.join('\n') + '\n');
    }
    if (!r.same) {
      const why = [
        s.differs ? `${s.differs} parameters differ beyond --atol ${tol(r.atol)} (max ${s.maxAbs.toExponential(2)} in ${s.worst})` : '',
        s.shape ? `${s.shape} shape mismatches` : '',
        s.onlyA || s.onlyB ? `${s.onlyA} parameters only in a, ${s.onlyB} only in b` : '',
        r.a.arch !== r.b.arch ? `architectures differ (${r.a.arch} vs ${r.b.arch})` : '',
      ].filter(Boolean);
      throw new ParityError(`diff: ${args.a} and ${args.b} differ: ${why.join('; ')}`, s.worst, s.maxAbs);
    }
  },
};
