/**
 * The deterministic default input of parity checks and tests: a smooth synthetic image (gradients
 * and rings, per channel) in [-1, 1], NCHW, so that every run and every engine sees the same
 * numbers and the network's outputs are not degenerate.
 */
export function defaultInput(size = 299, batch = 1): { data: Float32Array; dims: [number, number, number, number] } {
  const data = new Float32Array(batch * 3 * size * size);
  for (let n = 0; n < batch; n++)
    for (let c = 0; c < 3; c++)
      for (let y = 0; y < size; y++)
        for (let x = 0; x < size; x++) {
          const u = x / (size - 1);
          const v = y / (size - 1);
          const r = Math.hypot(u - 0.4 - 0.1 * n, v - 0.55);
          const value = 0.6 * Math.sin(6 * r * (c + 1) + n) + 0.4 * (c === 0 ? u : c === 1 ? v : 1 - u) - 0.2;
          data[((n * 3 + c) * size + y) * size + x] = Math.max(-1, Math.min(1, value));
        }
  return { data, dims: [batch, 3, size, size] };
}

/** NCHW -> NHWC (for engines that take channels last). */
export function nchwToNhwc(data: Float32Array, [n, c, h, w]: readonly number[]): Float32Array {
  const out = new Float32Array(data.length);
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++)
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) out[((b * h + y) * w + x) * c + ch] = data[((b * c + ch) * h + y) * w + x];
  return out;
}
