/**
 * Bad Keras input through the real `port` CLI: a truncated file, the wrong architecture, a missing
 * or an extra layer, a dataset of the wrong shape or dtype, a zip without the weights, bytes that
 * are not HDF5. Each is a typed error naming the file and the layer / weight, exit code 3, no
 * output file. The faulty files are the committed fixture edited with h5wasm (writing HDF5 the way
 * any HDF5 library would).
 */
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readModel, convert } from '../../src/api.js';
import { FormatError, SchemeError, WeightportError } from '../../src/errors.js';
import { shutdownHdf5Workers } from '../../src/readers/keras/hdf5.js';
import { runCli } from '../helpers/cli.js';
import { COMMITTED } from '../helpers/keras.js';

let dir: string;
const V4 = join(COMMITTED, 'v4.h5');
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'wp-keras-bad-'));
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await shutdownHdf5Workers();
});

type H5 = typeof import('h5wasm');
let h5: H5;
/** A copy of the committed v4.h5, edited with h5wasm. */
async function edited(name: string, edit: (f: InstanceType<H5['File']>, h5: H5) => void): Promise<string> {
  h5 ??= (await import('h5wasm/node')) as unknown as H5;
  await h5.ready;
  const path = join(dir, name);
  copyFileSync(V4, path);
  const f = new h5.File(path, 'a');
  try {
    edit(f, h5);
  } finally {
    f.close();
  }
  return path;
}

const grp = (f: InstanceType<H5['File']>, path: string) => f.get(path) as InstanceType<H5['Group']>;

function setLayerNames(f: InstanceType<H5['File']>, change: (names: string[]) => string[]): void {
  const names = f.attrs.layer_names.value as string[];
  f.delete_attribute('layer_names');
  f.create_attribute('layer_names', change(names));
}

/** Runs `port <file> --to onnx -o <out>` and checks: exit 3, one line naming the file and `what`, no output. */
function expectBadInput(file: string, what: RegExp, extra: string[] = []): string {
  const out = join(dir, `out-${Math.random().toString(36).slice(2, 8)}.onnx`);
  const r = runCli([file, '--to', 'onnx', '-o', out, ...extra]);
  expect(r.code, r.stderr).toBe(3);
  expect(r.stderr).toContain(file);
  expect(r.stderr).toMatch(what);
  expect(r.stderr).not.toMatch(/\bat .*\.js:\d+/);
  expect(existsSync(out)).toBe(false);
  expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  return r.stderr;
}

describe('bad input: typed error, exit code 3, no output file', () => {
  it('a truncated file', () => {
    const path = join(dir, 'truncated.h5');
    const bytes = readFileSync(V4);
    writeFileSync(path, bytes.subarray(0, Math.floor(bytes.length / 2)));
    expectBadInput(path, /keras: .*truncated\.h5.*(not a readable HDF5 file|cannot read dataset)/);
  });

  it('the wrong architecture (--arch inception_resnet_v2 on an Inception-v4)', () => {
    expectBadInput(V4, /keras scheme: .*299 layers with weights, Inception-ResNet-v2 needs 449/, ['--arch', 'inception_resnet_v2']);
  });

  it('a missing layer: which one, after which', async () => {
    const path = await edited('missing.h5', (f) => setLayerNames(f, (n) => n.filter((x) => x !== 'conv2d_5')));
    expectBadInput(path, /298 layers with weights, Inception-v4 needs 299: a Conv2D \[\[3,3,8,12\]\] for Mixed_4a\/Branch_0\/Conv2d_1a_3x3 is missing after layer #15 'batch_normalization_8'; missing Mixed_4a\/Branch_0\/Conv2d_1a_3x3\/weights/);
  });

  it('an extra layer: its tensors', async () => {
    const path = await edited('extra.h5', (f) => {
      const g = f.create_group('extra_dense');
      g.create_attribute('weight_names', ['extra_dense/kernel', 'extra_dense/bias']);
      const inner = g.create_group('extra_dense');
      inner.create_dataset({ name: 'kernel', data: new Float32Array(192 * 10), shape: [192, 10], dtype: '<f' });
      inner.create_dataset({ name: 'bias', data: new Float32Array(10), shape: [10], dtype: '<f' });
      setLayerNames(f, (n) => [...n.slice(0, -1), 'extra_dense', n.at(-1)!]);
    });
    expectBadInput(path, /layer #298 'extra_dense' \[\[192,10\], \[10\]\] has no place in Inception-v4; unexpected extra_dense\/extra_dense\/kernel, extra_dense\/extra_dense\/bias/);
  });

  it('a dataset of the wrong shape: layer, weight, expected and found shape', async () => {
    const path = await edited('shape.h5', (f) => {
      grp(f, 'conv2d_5/conv2d_5').create_dataset({ name: 'kernel_bad', data: new Float32Array(16), shape: [2, 2, 2, 2], dtype: '<f' });
      grp(f, 'conv2d_5').delete_attribute('weight_names');
      grp(f, 'conv2d_5').create_attribute('weight_names', ['conv2d_5/kernel_bad']);
    });
    expectBadInput(path, /wrong shape: conv2d_5\/conv2d_5\/kernel_bad is \[2,2,2,2\], Mixed_4a\/Branch_0\/Conv2d_1a_3x3\/weights needs \[3,3,8,12\]/);
  });

  it('a dataset of the wrong dtype (int32)', async () => {
    const path = await edited('dtype.h5', (f) => {
      grp(f, 'conv2d/conv2d').create_dataset({ name: 'kernel_int', data: new Int32Array(3 * 3 * 3 * 4), shape: [3, 3, 3, 4], dtype: '<i' });
      grp(f, 'conv2d').delete_attribute('weight_names');
      grp(f, 'conv2d').create_attribute('weight_names', ['conv2d/kernel_int']);
    });
    expectBadInput(path, /conv2d\/conv2d\/kernel_int holds int32 values, a weight must be floating point/);
  });

  it('a weight that is a string dataset', async () => {
    const path = await edited('strings.h5', (f) => {
      grp(f, 'conv2d/conv2d').create_dataset({ name: 'kernel_str', data: ['a', 'b'] });
      grp(f, 'conv2d').delete_attribute('weight_names');
      grp(f, 'conv2d').create_attribute('weight_names', ['conv2d/kernel_str']);
    });
    expectBadInput(path, /tensor 'conv2d\/conv2d\/kernel_str'.*not a tensor type/);
  });

  it('weight_names naming a dataset that does not exist', async () => {
    const path = await edited('dangling.h5', (f) => {
      grp(f, 'conv2d').delete_attribute('weight_names');
      grp(f, 'conv2d').create_attribute('weight_names', ['conv2d/nope']);
    });
    expectBadInput(path, /tensor 'conv2d\/conv2d\/nope'.*no dataset \/conv2d\/conv2d\/nope/);
  });

  it('layer_names naming a group that does not exist', async () => {
    const path = await edited('nogroup.h5', (f) => setLayerNames(f, (n) => [...n, 'ghost']));
    expectBadInput(path, /layer 'ghost' is listed in layer_names but there is no group \/ghost/);
  });

  it('a zip without the weights', () => {
    const path = join(dir, 'noweights.keras');
    writeFileSync(path, zipSync({ 'metadata.json': new TextEncoder().encode('{}'), 'config.json': new TextEncoder().encode('{}') }));
    expectBadInput(path, /a zip without model\.weights\.h5 .*not a \.keras archive/);
  });

  it('a .keras whose zip is cut short', () => {
    const path = join(dir, 'cut.keras');
    const z = zipSync({ 'metadata.json': new TextEncoder().encode('{}'), 'model.weights.h5': readFileSync(V4) }, { level: 0 });
    writeFileSync(path, z.subarray(0, z.length - 100));
    expectBadInput(path, /cut\.keras.*(end-of-central-directory|central directory)/);
  });

  it('bytes that are neither HDF5 nor zip, with --from keras', () => {
    const path = join(dir, 'junk.h5');
    writeFileSync(path, new Uint8Array(1000).fill(7));
    expectBadInput(path, /neither an HDF5 file nor a zip archive/, ['--from', 'keras']);
  });

  it('a Keras file of another model: no scheme fits', async () => {
    const path = await edited('tiny.h5', (f) => setLayerNames(f, (n) => n.slice(0, 8)));
    expectBadInput(path, /no known naming scheme of Inception-v4 or Inception-ResNet-v2 fits its \d+ tensors/);
  });

  it('the library throws the typed errors (FormatError, SchemeError)', async () => {
    const junk = join(dir, 'junk2.h5');
    writeFileSync(junk, new Uint8Array([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]));
    await expect(readModel(junk, { from: 'keras' })).rejects.toBeInstanceOf(FormatError);
    await expect(convert(V4, join(dir, 'x.onnx'), { to: 'onnx', arch: 'inception_resnet_v2' })).rejects.toBeInstanceOf(SchemeError);
    await expect(readModel(join(dir, 'nope.h5'), { from: 'keras' })).rejects.toBeInstanceOf(WeightportError);
  });
});
