import type { Argv, CommandModule } from 'yargs';
import { FORMATS } from '../../readers/types.js';
import { SAFETENSORS_SCHEMES, TARGETS, TFJS_FORMATS } from '../../writers/types.js';
import { SCHEMES } from '../../graphs/schemes/types.js';

interface ConvertArgs {
  input: string;
  output: string;
  from: (typeof FORMATS)[number] | 'auto';
  to: (typeof TARGETS)[number];
  force: boolean;
  arch: 'auto' | 'inception_v4' | 'inception_resnet_v2';
  scheme: (typeof SCHEMES)[number] | 'auto';
  classes?: number;
  aux: boolean;
  ema: boolean;
  softmax?: boolean;
  dtype: 'float32' | 'float16';
  opset?: number;
  foldBn: boolean;
  externalData: boolean;
  naming: (typeof SAFETENSORS_SCHEMES)[number];
  shardSize?: number;
  tfjsFormat: (typeof TFJS_FORMATS)[number];
  json: boolean;
  check?: boolean;
}

export const convertCommand: CommandModule<object, ConvertArgs> = {
  command: ['convert <input>', '$0 <input>'],
  describe: 'convert a model: read <input>, map it onto the canonical graph, write --to a format',
  builder: (y: Argv) =>
    y
      .positional('input', { type: 'string', demandOption: true, describe: 'model file, folder or checkpoint prefix' })
      .option('output', { alias: 'o', type: 'string', demandOption: true, describe: 'output path' })
      .option('from', { choices: ['auto', ...FORMATS] as const, default: 'auto' as const, describe: 'source format' })
      .option('to', { choices: TARGETS, demandOption: true, describe: 'target format' })
      .option('force', { type: 'boolean', default: false, describe: 'overwrite an existing output' })
      .option('arch', { choices: ['auto', 'inception_v4', 'inception_resnet_v2'] as const, default: 'auto' as const, describe: "architecture (auto: recognised from the tensors' names and shapes)" })
      .option('scheme', { choices: ['auto', ...SCHEMES] as const, default: 'auto' as const, describe: "source's naming scheme" })
      .option('classes', { type: 'number', choices: [1000, 1001], describe: 'output classes (default: as the source); 1001 has background at 0' })
      .option('aux', { type: 'boolean', default: false, describe: 'keep the auxiliary head when the source has one' })
      .option('ema', { type: 'boolean', default: false, describe: 'take ExponentialMovingAverage values when stored' })
      .option('softmax', { type: 'boolean', describe: 'end in a softmax (default: as the source)' })
      .option('dtype', { choices: ['float32', 'float16'] as const, default: 'float32' as const, describe: 'weights written (float16: half the size; a value beyond its range is an error)' })
      .option('opset', { type: 'number', describe: 'ONNX opset, 13..21' })
      .option('fold-bn', { type: 'boolean', default: false, describe: 'ONNX: fold batch norm into the convs' })
      .option('external-data', { type: 'boolean', default: false, describe: 'ONNX: weights in a side file' })
      .option('naming', { choices: SAFETENSORS_SCHEMES, default: 'canonical' as const, describe: 'safetensors: naming scheme written' })
      .option('shard-size', { type: 'number', describe: 'tfjs: bytes per weight shard (default 4 MiB)' })
      .option('tfjs-format', { choices: TFJS_FORMATS, default: 'layers-model' as const, describe: 'tfjs: layers-model (tf.loadLayersModel) or graph-model (tf.loadGraphModel)' })
      .option('json', { type: 'boolean', default: false, describe: 'print the result as JSON' })
      .option('check', { type: 'boolean', describe: 'check the written model against the source in two engines, exit 1 on a mismatch (default on; --no-check skips it)' })
      .example('$0 --from keras --to onnx model.h5 -o model.onnx', 'Keras HDF5 to ONNX')
      .example('$0 --to safetensors --naming timm model.ckpt -o model.safetensors', 'a TF-slim checkpoint to timm safetensors') as unknown as Argv<ConvertArgs>,
  async handler(args) {
    const { convert } = await import('../../api.js');
    const { progressBar } = await import('../progress.js');
    const { bytes } = await import('../format.js');
    const started = performance.now();
    const result = await convert(args.input, args.output, {
      from: args.from,
      to: args.to,
      force: args.force,
      ...(args.arch !== 'auto' ? { arch: args.arch } : {}),
      scheme: args.scheme,
      classes: args.classes,
      aux: args.aux,
      ema: args.ema,
      softmax: args.softmax,
      dtype: args.dtype,
      opset: args.opset,
      foldBn: args.foldBn,
      externalData: args.externalData,
      naming: args.naming,
      shardSize: args.shardSize,
      tfjsFormat: args.tfjsFormat,
      onProgress: progressBar(`writing ${args.to}`),
    });
    const seconds = (performance.now() - started) / 1000;
    const { checkAfterConvert, failOnMismatch } = await import('./parity.js');
    const read = { from: args.from, ...(args.arch !== 'auto' ? { arch: args.arch } : {}), scheme: args.scheme, classes: args.classes, aux: args.aux, ema: args.ema, softmax: args.softmax };
    const check = args.check !== false ? await checkAfterConvert(args.input, args.output, { ...read, dtype: args.dtype }, args.check === true) : undefined;
    if (args.json) {
      process.stdout.write(JSON.stringify({ ...result, seconds, ...(check ? { parity: check.report ?? { skipped: check.text.trim() } } : {}) }, null, 2) + '\n');
      if (check?.report) await failOnMismatch(check.report, args.output, args.input);
      return;
    }
    const d = result.detection;
    process.stdout.write(
      `${args.input}: ${result.source.format}, ${d.scheme} naming, ${result.arch} (${d.options.classes} classes${d.options.widthDivisor && d.options.widthDivisor > 1 ? `, width / ${d.options.widthDivisor}` : ''})\n` +
        `wrote ${writtenFiles(result.written.files)} (${bytes(result.written.bytes)}) in ${seconds.toFixed(1)} s\n` +
        (check?.text ?? ''),
    );
    if (check?.report) await failOnMismatch(check.report, args.output, args.input);
  },
};

/** The files written, a folder's many shards summed up (`out/model.json + 54 weight shards`). */
function writtenFiles(files: readonly string[]): string {
  const shards = files.filter((f) => f.endsWith('.bin'));
  if (shards.length <= 2) return files.join(', ');
  return [...files.filter((f) => !f.endsWith('.bin')), `${shards.length} weight shards`].join(' + ');
}
