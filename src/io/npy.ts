/**
 * NumPy `.npy` files (format version 1.0-3.0, little-endian float32/float64/float16/int32/int64,
 * C order): parity inputs and reference outputs exchanged with Python tools.
 * Spec: numpy/lib/format.py (magic "\x93NUMPY", u8 major, u8 minor, header length u16 (v1) or u32
 * (v2+), an ASCII Python dict literal, padded so that data starts 64-byte aligned).
 */
import { writeFile } from 'node:fs/promises';
import { readRegularFile } from './files.js';
import { FormatError } from '../errors.js';
import { bytesToFloat32, type DType } from '../tensor.js';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const DESCR: Record<string, DType> = { '<f4': 'float32', '<f8': 'float64', '<f2': 'float16', '<i4': 'int32', '<i8': 'int64', '|u1': 'uint8' };

export interface NpyArray {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

export function parseNpy(bytes: Uint8Array, file = '<npy>'): NpyArray {
  const fail = (what: string, offset?: number) => new FormatError('npy', { file, offset }, what);
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) throw fail('not a .npy file (bad magic)', 0);
  const major = bytes[6];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = major === 1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  if (major < 1 || major > 3) throw fail(`unsupported .npy version ${major}`, 6);
  if (start + headerLen > bytes.length) throw fail(`header of ${headerLen} bytes runs past the end`, start);
  const header = new TextDecoder().decode(bytes.subarray(start, start + headerLen));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeText === undefined) throw fail(`malformed header ${JSON.stringify(header.trim())}`, start);
  if (fortran === 'True') throw fail('Fortran-order arrays are not supported', start);
  const dtype = DESCR[descr];
  if (!dtype) throw fail(`unsupported dtype ${descr}`, start);
  const shape = shapeText.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  const dataStart = start + headerLen;
  const size = { float32: 4, float64: 8, float16: 2, int32: 4, int64: 8, uint8: 1 }[dtype as 'float32'];
  if (dataStart + count * size > bytes.length) throw fail(`data needs ${count * size} bytes, file has ${bytes.length - dataStart}`, dataStart);
  return { shape, data: bytesToFloat32(dtype, bytes.subarray(dataStart, dataStart + count * size)) };
}

export async function readNpy(path: string): Promise<NpyArray> {
  const bytes = await readRegularFile(path).catch((e: Error) => {
    throw new FormatError('npy', { file: path }, `cannot read: ${e.message}`, { cause: e });
  });
  return parseNpy(new Uint8Array(bytes), path);
}

/** Serialises a float32 array as .npy version 1.0. */
export function encodeNpy(data: Float32Array, shape: readonly number[]): Uint8Array {
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const unpadded = 10 + dict.length + 1;
  const header = dict + ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return out;
}

export async function writeNpy(path: string, data: Float32Array, shape: readonly number[]): Promise<void> {
  await writeFile(path, encodeNpy(data, shape));
}
