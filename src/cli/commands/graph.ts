import type { Argv, CommandModule } from 'yargs';

interface GraphArgs {
  arch: 'inception_v4' | 'inception_resnet_v2';
  classes: number;
  aux: boolean;
  count: 'timm' | 'keras';
  widthDivisor: number;
  inputSize: number;
  json: boolean;
}

export const graphCommand: CommandModule<object, GraphArgs> = {
  command: 'graph <arch>',
  describe: 'print the canonical graph: per-block output shapes, parameters and multiply-adds',
  builder: (y: Argv) =>
    y
      .positional('arch', { choices: ['inception_v4', 'inception_resnet_v2'] as const, demandOption: true })
      .option('classes', { type: 'number', choices: [1000, 1001], default: 1000, describe: 'output classes (1001: TF-slim background class)' })
      .option('aux', { type: 'boolean', default: false, describe: 'include the auxiliary head' })
      .option('count', { choices: ['timm', 'keras'] as const, default: 'timm' as const, describe: 'parameter counting: timm (BN gamma+beta) or keras (BN beta+moving stats)' })
      .option('width-divisor', { type: 'number', default: 1, describe: 'thin variant: channels divided by this' })
      .option('input-size', { type: 'number', default: 299, describe: 'input height and width' })
      .option('json', { type: 'boolean', default: false, describe: 'print JSON' })
      .example('$0 graph inception_v4', 'per-block table and totals')
      .example('$0 graph inception_resnet_v2 --count keras --json', 'Keras parameter counting, as JSON') as unknown as Argv<GraphArgs>,
  async handler(args) {
    const { buildGraph, countGraph, blockStats } = await import('../../graphs/index.js');
    const { table, thousands, si } = await import('../format.js');
    const graph = buildGraph(args.arch, {
      classes: args.classes,
      aux: args.aux,
      widthDivisor: args.widthDivisor,
      inputSize: args.inputSize,
    });
    const stats = countGraph(graph, args.count);
    const blocks = blockStats(graph, args.count);
    const outputShape = stats.nodes.find((n) => n.node.name === graph.outputs.logits)!.shape;
    if (args.json) {
      const out = {
        arch: graph.arch,
        params: stats.params,
        macs: stats.macs,
        counting: args.count,
        inputShape: [1, ...graph.input.shape],
        outputShape: [1, ...outputShape],
        options: graph.options,
        nodes: stats.nodes.map((n) => ({ ...n.node, shape: n.shape, params: n.params, macs: n.macs })),
        blocks,
      };
      process.stdout.write(JSON.stringify(out, null, 2) + '\n');
      return;
    }
    const rows = blocks.map((b) => [b.block, b.shape.join('x'), thousands(b.params), si(b.macs)]);
    process.stdout.write(table(['block', 'output (CxHxW)', 'params', 'MACs'], rows, 'llrr') + '\n');
    process.stdout.write(
      `\n${graph.arch}: ${thousands(stats.params)} parameters (${args.count} counting), ${si(stats.macs, 'MAC')} at ${graph.options.inputSize}x${graph.options.inputSize}, ${graph.nodes.length} nodes\n`,
    );
  },
};
