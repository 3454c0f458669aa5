// Start-up: `port --help` against a bare `node -e 0`, and `port graph` for both networks.
import { CLI, EXTRA_CA_CERTS, WITHOUT_EXTRA_CA_CERTS, row, timeCommand } from '../lib.mjs';

export const name = 'startup';

export async function run() {
  const node = timeCommand(process.execPath, ['-e', '0'], 7);
  const help = timeCommand(process.execPath, [CLI, '--help'], 7);
  const rows = [row(name, 'port --help', help, 'ms', 'node -e 0', node)];
  if (EXTRA_CA_CERTS !== undefined) {
    const bare = timeCommand(process.execPath, ['-e', '0'], 7, { env: WITHOUT_EXTRA_CA_CERTS });
    const bareHelp = timeCommand(process.execPath, [CLI, '--help'], 7, { env: WITHOUT_EXTRA_CA_CERTS });
    rows.push(row(name, 'node -e 0 (NODE_EXTRA_CA_CERTS set, as here)', node, 'ms', 'node -e 0 without it', bare));
    rows.push(row(name, 'port --help, NODE_EXTRA_CA_CERTS unset', bareHelp, 'ms', 'node -e 0, unset', bare));
  }
  for (const arch of ['inception_v4', 'inception_resnet_v2']) {
    const ms = timeCommand(process.execPath, [CLI, 'graph', arch, '--json'], 5);
    rows.push(row(name, `port graph ${arch} --json`, ms, 'ms', 'node -e 0', node));
  }
  return rows;
}
