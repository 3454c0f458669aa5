// node prep.mjs probe|seed   (run with cwd = the unpacked package root)
import { pathToFileURL } from 'node:url';
const at = (p) => import(pathToFileURL(`${process.cwd()}/${p}`).href);
const mode = process.argv[2];
if (mode === 'probe') {
  const { ENGINES } = await at('dist/parity/engines.js');
  let webgpuOk = false;
  for (const e of ENGINES) {
    const a = await e.available();
    console.log(`probe ${e.name}: ${JSON.stringify(a)}`);
    if (e.name === 'webgpu') webgpuOk = a.ok;
  }
  process.exit(webgpuOk ? 0 : 3);
} else if (mode === 'seed') {
  const { seededFiles } = await at('bench/suites/parity.mjs');
  for (const arch of ['inception_resnet_v2', 'inception_v4']) {
    const t = performance.now();
    console.log(arch, JSON.stringify(await seededFiles(arch)), `${((performance.now() - t) / 1000).toFixed(1)} s`);
  }
}
