/**
 * float32 -> float16 for whole tensors, refusing values that float16 cannot hold: every writer's
 * `--dtype float16` (ONNX initializers, safetensors, tfjs weights) goes through it.
 */
import { UsageError } from '../errors.js';
import { float32ToFloat16Bits } from '../tensor.js';

/** Largest finite float16 (2^15 * (2 - 2^-10)). */
export const FLOAT16_MAX = 65504;

/** |x| bits from which the result is a normal float16: 2^-14. */
const HALF_NORMAL_MIN_BITS = 0x38800000;
/** |x| bits from which float16 rounds to infinity: 65520, halfway between 65504 and 2^16. */
const HALF_OVERFLOW_BITS = 0x477ff000;
/** float32 infinity's bits; above are NaNs. */
const FLOAT32_INFINITY_BITS = 0x7f800000;
/** Exponent bias difference (127 - 15) in place: subtracting it re-biases float32 to float16. */
const REBIAS = (127 - 15) << 23;

/**
 * Converts a tensor to float16 bits with round to nearest even, bit for bit as tensor.ts
 * `float32ToFloat16Bits`. Results in the normal range, nearly all weights, take an integer path on
 * the float's bits (F. Giesen, "float_to_half_fast3_rtne": add 0xfff plus the lowest kept bit, then
 * shift; a carry rounds into the exponent correctly); zeros, subnormals and the rest take the
 * general function. This halves the cost of `--dtype float16`.
 *
 * A finite value beyond float16's range (|x| >= 65520 rounds to infinity) is a UsageError naming
 * the tensor, rather than a model that silently computes infinities.
 */
export function toFloat16Checked(data: Float32Array, tensor: string): Uint16Array {
  const bits = new Uint32Array(data.buffer, data.byteOffset, data.length); // a Float32Array is 4-byte aligned
  const out = new Uint16Array(data.length);
  for (let i = 0; i < bits.length; i++) {
    const x = bits[i];
    const abs = x & 0x7fffffff;
    let h: number;
    if (abs >= HALF_NORMAL_MIN_BITS && abs < HALF_OVERFLOW_BITS) h = (abs - REBIAS + 0xfff + ((abs >>> 13) & 1)) >>> 13;
    else {
      h = float32ToFloat16Bits(data[i]) & 0x7fff;
      if (h >= 0x7c00 && abs < FLOAT32_INFINITY_BITS)
        throw new UsageError(`--dtype float16 cannot hold ${data[i]} in ${tensor} (float16 stops at ${FLOAT16_MAX}): write float32`);
    }
    out[i] = h | ((x >>> 16) & 0x8000);
  }
  return out;
}
