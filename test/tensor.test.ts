import { describe, expect, it } from 'vitest';
import { bytesToFloat32, bytesOf, float16BitsToFloat32, float32ToFloat16Bits, toFloat16 } from '../src/tensor.js';

describe('float16', () => {
  it.each([
    [0x3c00, 1],
    [0xc000, -2],
    [0x7bff, 65504],
    [0x0001, 2 ** -24],
    [0x0400, 2 ** -14],
    [0x7c00, Infinity],
    [0x3555, 0.333251953125],
  ])('bits %s are %s', (bits, value) => {
    expect(float16BitsToFloat32(bits)).toBe(value);
    expect(float32ToFloat16Bits(value)).toBe(bits);
  });

  it('every finite half round-trips through float32', () => {
    for (let h = 0; h < 0x10000; h++) {
      const v = float16BitsToFloat32(h);
      if (Number.isNaN(v)) continue;
      expect(float32ToFloat16Bits(v)).toBe(h);
    }
  });

  it('rounds to nearest even and overflows to infinity', () => {
    expect(float32ToFloat16Bits(1 + 2 ** -11)).toBe(0x3c00); // halfway, even stays
    expect(float32ToFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // halfway, odd rounds up
    expect(float32ToFloat16Bits(70000)).toBe(0x7c00);
    expect(toFloat16(Float32Array.of(0.5, -0.25))).toEqual(Uint16Array.of(0x3800, 0xb400));
  });
});

describe('bytesToFloat32', () => {
  it('converts every stored dtype', () => {
    expect([...bytesToFloat32('float64', bytesOf(Float64Array.of(1.5, -2)))]).toEqual([1.5, -2]);
    expect([...bytesToFloat32('bfloat16', bytesOf(Uint16Array.of(0x3f80, 0xc040)))]).toEqual([1, -3]);
    expect([...bytesToFloat32('int64', bytesOf(BigInt64Array.of(7n, -3n)))]).toEqual([7, -3]);
    expect([...bytesToFloat32('int32', bytesOf(Int32Array.of(5)))]).toEqual([5]);
    expect([...bytesToFloat32('float16', bytesOf(Uint16Array.of(0x3c00)))]).toEqual([1]);
  });

  it('handles unaligned input and rejects partial elements', () => {
    const buf = new Uint8Array(9);
    buf.set(bytesOf(Float32Array.of(2, 3)), 1);
    expect([...bytesToFloat32('float32', buf.subarray(1))]).toEqual([2, 3]);
    expect(() => bytesToFloat32('float32', new Uint8Array(6))).toThrow(RangeError);
  });
});
