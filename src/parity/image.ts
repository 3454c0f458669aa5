/**
 * Parity inputs: the deterministic default, a `.npy` array, or an image file (PNG with pngjs,
 * JPEG with jpeg-js) preprocessed as Inception's evaluation does (TF-slim
 * inception_preprocessing.preprocess_for_eval): central crop of 0.875, bilinear resize to the
 * input size, values scaled to [-1, 1]. Everything is NCHW float32, batch 1.
 */
import { readRegularFile } from '../io/files.js';
import { extname } from 'node:path';
import { FormatError } from '../errors.js';
import { readNpy } from '../io/npy.js';
import { defaultInput } from './input.js';

export interface NchwInput {
  readonly data: Float32Array;
  readonly dims: readonly [number, number, number, number];
  /** Where it came from: `default`, the file, and how it was made. */
  readonly source: string;
}

export interface Rgb {
  readonly width: number;
  readonly height: number;
  /** Interleaved RGB bytes, row-major. */
  readonly data: Uint8Array;
}

const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47];
const JPEG_MAGIC = [0xff, 0xd8, 0xff];
const startsWith = (b: Uint8Array, m: readonly number[]) => m.every((v, i) => b[i] === v);

/** Decodes PNG or JPEG bytes (recognised by their magic) to RGB; alpha is dropped, grey expanded. */
export async function decodeImage(bytes: Uint8Array, file = '<image>'): Promise<Rgb> {
  let rgba: { width: number; height: number; data: Uint8Array };
  try {
    if (startsWith(bytes, PNG_MAGIC)) {
      const { PNG } = await import('pngjs');
      const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      rgba = { width: png.width, height: png.height, data: png.data };
    } else if (startsWith(bytes, JPEG_MAGIC)) {
      const jpeg = (await import('jpeg-js')).default;
      const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true });
      rgba = { width: img.width, height: img.height, data: img.data };
    } else throw new FormatError('image', { file, offset: 0 }, 'neither PNG nor JPEG (unknown magic bytes)');
  } catch (e) {
    if (e instanceof FormatError) throw e;
    throw new FormatError('image', { file }, `cannot decode: ${(e as Error).message}`, { cause: e });
  }
  const n = rgba.width * rgba.height;
  const data = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    data[3 * i] = rgba.data[4 * i];
    data[3 * i + 1] = rgba.data[4 * i + 1];
    data[3 * i + 2] = rgba.data[4 * i + 2];
  }
  return { width: rgba.width, height: rgba.height, data };
}

/**
 * The crop of tf.image.central_crop(image, 0.875): offsets are floor(size / 16), the kept size is
 * size - 2 * offset (tensorflow/python/ops/image_ops_impl.py).
 */
export function centralCropBox(height: number, width: number, fraction = 0.875): { top: number; left: number; height: number; width: number } {
  const denominator = Math.trunc(1 / ((1 - fraction) / 2));
  const top = Math.trunc(height / denominator);
  const left = Math.trunc(width / denominator);
  return { top, left, height: height - 2 * top, width: width - 2 * left };
}

/**
 * Inception's evaluation preprocessing: central crop 0.875, bilinear resize to `size` (as
 * tf.image.resize: half-pixel centres, no antialiasing), then x / 127.5 - 1 into [-1, 1]. NCHW.
 */
export function preprocess(img: Rgb, size = 299): Float32Array {
  const box = centralCropBox(img.height, img.width);
  const out = new Float32Array(3 * size * size);
  const sy = box.height / size;
  const sx = box.width / size;
  const plane = size * size;
  const px = (y: number, x: number, c: number) => img.data[((box.top + y) * img.width + box.left + x) * 3 + c];
  for (let oy = 0; oy < size; oy++) {
    const fy = Math.max(0, (oy + 0.5) * sy - 0.5);
    const y0 = Math.min(Math.floor(fy), box.height - 1);
    const y1 = Math.min(y0 + 1, box.height - 1);
    const dy = fy - y0;
    for (let ox = 0; ox < size; ox++) {
      const fx = Math.max(0, (ox + 0.5) * sx - 0.5);
      const x0 = Math.min(Math.floor(fx), box.width - 1);
      const x1 = Math.min(x0 + 1, box.width - 1);
      const dx = fx - x0;
      for (let c = 0; c < 3; c++) {
        const top = px(y0, x0, c) + (px(y0, x1, c) - px(y0, x0, c)) * dx;
        const bottom = px(y1, x0, c) + (px(y1, x1, c) - px(y1, x0, c)) * dx;
        const v = top + (bottom - top) * dy;
        out[c * plane + oy * size + ox] = v / 127.5 - 1;
      }
    }
  }
  return out;
}

/**
 * The input of a parity check: `path` undefined gives the deterministic default; `.npy` takes
 * [1, 3, S, S], [3, S, S] or channels-last [1, S, S, 3] / [S, S, 3]; anything else is decoded as
 * an image and preprocessed.
 */
export async function loadInput(path: string | undefined, size = 299): Promise<NchwInput> {
  if (path === undefined) {
    const d = defaultInput(size);
    return { data: d.data, dims: d.dims, source: 'default (deterministic synthetic image)' };
  }
  if (extname(path).toLowerCase() === '.npy') {
    const a = await readNpy(path);
    let dims = [...a.shape];
    if (dims.length === 3) dims = [1, ...dims];
    if (dims.length !== 4 || dims[0] !== 1)
      throw new FormatError('npy', { file: path }, `input must be one image, [1, 3, ${size}, ${size}] or [1, ${size}, ${size}, 3]; got [${a.shape}]`);
    let data = a.data;
    if (dims[3] === 3 && dims[1] !== 3) {
      // channels last -> NCHW
      const [, h, w] = dims;
      const nchw = new Float32Array(data.length);
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) nchw[(c * h + y) * w + x] = data[(y * w + x) * 3 + c];
      data = nchw;
      dims = [1, 3, h, w];
    }
    if (dims[1] !== 3 || dims[2] !== size || dims[3] !== size)
      throw new FormatError('npy', { file: path }, `input must be [1, 3, ${size}, ${size}] (or channels last); got [${a.shape}]`);
    return { data, dims: [1, 3, size, size], source: `${path} (.npy)` };
  }
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readRegularFile(path));
  } catch (e) {
    throw new FormatError('image', { file: path }, `cannot read: ${(e as Error).message}`, { cause: e });
  }
  const img = await decodeImage(bytes, path);
  return {
    data: preprocess(img, size),
    dims: [1, 3, size, size],
    source: `${path} (${img.width}x${img.height}, central crop 0.875, bilinear resize to ${size}, scaled to [-1, 1])`,
  };
}
