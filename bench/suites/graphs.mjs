// Building and counting both graphs in-process, against a JSON round trip of the same graph
// (the cost of merely touching data of that size).
import { buildGraph, countGraph } from '../../dist/index.js';
import { row, timeIt } from '../lib.mjs';

export const name = 'graphs';

export async function run() {
  const rows = [];
  for (const arch of ['inception_v4', 'inception_resnet_v2']) {
    const build = await timeIt(() => countGraph(buildGraph(arch)), 20);
    const json = JSON.stringify(buildGraph(arch));
    const ref = await timeIt(() => JSON.parse(json), 20);
    rows.push(row(name, `build + count ${arch}`, build, 'ms', 'JSON.parse of the graph', ref));
  }
  return rows;
}
