/** float32 -> float16 for whole tensors, refusing values that float16 cannot hold. */
import { UsageError } from '../../errors.js';
import { float32ToFloat16Bits } from '../../tensor.js';

/** Largest finite float16 (2^15 * (2 - 2^-10)). */
export const FLOAT16_MAX = 65504;

const INFINITY_EXPONENT = 0x7c00;

/**
 * Converts a tensor to float16 bits (round to nearest even). A finite value beyond float16's range
 * (|x| > 65504 rounds to infinity) is a UsageError naming the tensor, rather than a model that
 * silently computes infinities.
 */
export function toFloat16Checked(data: Float32Array, tensor: string): Uint16Array {
  const out = new Uint16Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const h = float32ToFloat16Bits(data[i]);
    if ((h & INFINITY_EXPONENT) === INFINITY_EXPONENT && Number.isFinite(data[i]))
      throw new UsageError(`--dtype float16 cannot hold ${data[i]} in ${tensor} (float16 stops at ${FLOAT16_MAX}): write float32`);
    out[i] = h;
  }
  return out;
}
