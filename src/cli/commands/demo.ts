import type { Argv, CommandModule } from 'yargs';

interface DemoArgs {
  arch: 'inception_v4' | 'inception_resnet_v2';
  dir?: string;
  seed: number;
  json: boolean;
}

export const demoCommand: CommandModule<object, DemoArgs> = {
  command: 'demo',
  describe: 'the main job end to end on a built-in example: write a seeded full-size model, convert it to ONNX and tfjs, check parity',
  builder: (y: Argv) =>
    y
      .option('arch', { choices: ['inception_v4', 'inception_resnet_v2'] as const, default: 'inception_resnet_v2' as const, describe: 'architecture of the example' })
      .option('dir', { type: 'string', describe: 'keep the files in this folder (default: a temporary folder, removed)' })
      .option('seed', { type: 'number', default: 0, describe: 'seed of the example weights' })
      .option('json', { type: 'boolean', default: false, describe: 'print the result as JSON' })
      .example('$0 demo', 'Inception-ResNet-v2: safetensors -> ONNX + tfjs, onnxruntime vs tfjs-wasm')
      .example('$0 demo --arch inception_v4 --dir ./demo', 'keep the files') as unknown as Argv<DemoArgs>,
  async handler(args) {
    const { runDemo } = await import('../../demo.js');
    const { comparisonLine } = await import('../../parity/report.js');
    const { ParityError } = await import('../../errors.js');
    const result = await runDemo({
      arch: args.arch,
      dir: args.dir,
      seed: args.seed,
      onStep: args.json ? undefined : (line) => process.stdout.write(`${line}\n`),
    });
    if (args.json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
    else {
      for (const c of result.parity.comparisons) process.stdout.write(`${comparisonLine(c)}\n`);
      process.stdout.write(`verdict: ${result.parity.verdict}${result.kept ? `; files in ${result.dir}` : ''}\n`);
    }
    if (result.parity.verdict !== 'pass') {
      const worst = Math.max(...result.parity.comparisons.map((c) => c.output?.maxAbs ?? Infinity));
      throw new ParityError(`demo: the ONNX and tfjs outputs differ (max abs ${worst})`, undefined, worst);
    }
  },
};
