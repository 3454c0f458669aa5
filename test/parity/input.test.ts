/**
 * Parity inputs: images decoded by pngjs / jpeg-js and preprocessed here, against TensorFlow's own
 * decode + central_crop(0.875) + resize(bilinear) + scaling (fixtures/parity_preprocess.py); .npy
 * inputs in both layouts; errors name the file.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PNG } from 'pngjs';
import jpeg from 'jpeg-js';
import { encodeNpy, readNpy } from '../../src/io/npy.js';
import { centralCropBox, loadInput } from '../../src/parity/image.js';
import { defaultInput, nchwToNhwc } from '../../src/parity/input.js';
import { difference } from '../../src/parity/compare.js';
import { FormatError } from '../../src/errors.js';
import { python } from '../helpers/python.js';

const dir = mkdtempSync(join(tmpdir(), 'weightport-input-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A test picture with edges, gradients and texture, not a multiple of 16 in size. */
function picture(width: number, height: number): Uint8Array {
  const rgba = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 4;
      rgba[i] = (x * 255) / (width - 1);
      rgba[i + 1] = ((x ^ y) & 16) ? 220 : 30;
      rgba[i + 2] = 128 + 127 * Math.sin((x + 2 * y) / 9);
      rgba[i + 3] = 255;
    }
  return rgba;
}

function writePng(path: string, width: number, height: number): void {
  const png = new PNG({ width, height });
  png.data = Buffer.from(picture(width, height));
  writeFileSync(path, PNG.sync.write(png));
}

function writeJpeg(path: string, width: number, height: number): void {
  writeFileSync(path, jpeg.encode({ width, height, data: Buffer.from(picture(width, height)) }, 95).data);
}

describe('central crop', () => {
  it.each([
    [500, 375, { top: 31, left: 23, height: 438, width: 329 }],
    [299, 299, { top: 18, left: 18, height: 263, width: 263 }],
    [16, 15, { top: 1, left: 0, height: 14, width: 15 }],
  ])('of %ix%i is tf.image.central_crop(0.875)', (h, w, box) => expect(centralCropBox(h, w)).toEqual(box));
});

describe('image inputs against TensorFlow', () => {
  const py = python('tf');
  it.skipIf(!py.ok)(`PNG: TF's preprocessing to float32 rounding ${py.reason}`, async () => {
    const png = join(dir, 'a.png');
    writePng(png, 413, 351);
    py.run('fixtures/parity_preprocess.py', [png, join(dir, 'a.npy')]);
    const tf = await readNpy(join(dir, 'a.npy'));
    const ours = await loadInput(png);
    expect(ours.dims).toEqual([1, 3, 299, 299]);
    expect(tf.shape).toEqual([1, 3, 299, 299]);
    const d = difference(ours.data, tf.data);
    // TF interpolates in float32 (weights from (x + 0.5) * scale - 0.5): a few 1e-5 apart at most.
    expect(d.maxAbs).toBeLessThan(1e-4);
    expect(d.meanAbs).toBeLessThan(1e-5);
    expect(ours.data.every((v) => v >= -1 && v <= 1)).toBe(true);
  });
  it.skipIf(!py.ok)(`JPEG: within a grey level of TF's (libjpeg and jpeg-js round differently) ${py.reason}`, async () => {
    const jpg = join(dir, 'b.jpg');
    writeJpeg(jpg, 320, 240);
    py.run('fixtures/parity_preprocess.py', [jpg, join(dir, 'b.npy'), '150']);
    const tf = await readNpy(join(dir, 'b.npy'));
    const ours = await loadInput(jpg, 150);
    const d = difference(ours.data, tf.data);
    expect(d.meanAbs).toBeLessThan(1 / 127.5);
    expect(d.maxAbs).toBeLessThan(8 / 127.5);
  });
});

describe('.npy inputs', () => {
  it('NCHW and NHWC arrays give the same input; a wrong shape is refused with the file named', async () => {
    const x = defaultInput(75);
    writeFileSync(join(dir, 'nchw.npy'), encodeNpy(x.data, [1, 3, 75, 75]));
    writeFileSync(join(dir, 'nhwc.npy'), encodeNpy(nchwToNhwc(x.data, x.dims), [1, 75, 75, 3]));
    writeFileSync(join(dir, 'chw.npy'), encodeNpy(x.data, [3, 75, 75]));
    for (const f of ['nchw', 'nhwc', 'chw']) expect([...(await loadInput(join(dir, `${f}.npy`), 75)).data]).toEqual([...x.data]);
    await expect(loadInput(join(dir, 'nchw.npy'), 299)).rejects.toThrow(/nchw\.npy.*\[1, 3, 299, 299\]/);
    writeFileSync(join(dir, 'x.png'), 'not a png');
    await expect(loadInput(join(dir, 'x.png'))).rejects.toBeInstanceOf(FormatError);
  });
});
