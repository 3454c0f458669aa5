/** The engine registry: names, kinds, layouts, availability with reasons, engine selection. */
import { describe, expect, it } from 'vitest';
import { ENGINE_NAMES, ENGINES } from '../../src/parity/engines.js';
import { resolveEngines } from '../../src/parity/check.js';
import { probeGpu } from '../../src/parity/gpu.js';
import { UsageError } from '../../src/errors.js';

describe('engine registry', () => {
  it('is an explicit list: every name once, ONNX engines NCHW, tfjs engines NHWC', () => {
    expect(ENGINES.map((e) => e.name)).toEqual([...ENGINE_NAMES]);
    for (const e of ENGINES) expect(e.layout).toBe(e.kind === 'onnx' ? 'NCHW' : 'NHWC');
    expect(ENGINES.map((e) => `${e.name}:${e.kind}`)).toEqual(['ort:onnx', 'tfjs-wasm:tfjs', 'webgpu:tfjs', 'tfjs-node-gpu:tfjs', 'ort-cuda:onnx']);
  });

  it('the CPU engines are available; GPU-only engines say why not when there is no GPU', async () => {
    const byName = Object.fromEntries(await Promise.all(ENGINES.map(async (e) => [e.name, await e.available()] as const)));
    expect(byName.ort).toMatchObject({ ok: true, device: expect.stringMatching(/^CPU, \d+ threads$/) });
    expect(byName['tfjs-wasm'].ok).toBe(true);
    if (!probeGpu().nvidia)
      for (const name of ['ort-cuda', 'tfjs-node-gpu']) {
        expect(byName[name].ok).toBe(false);
        expect((byName[name] as { reason: string }).reason).toMatch(/no NVIDIA GPU/);
      }
    // WebGPU runs here too (software GL without a GPU), or says what is missing.
    const w = byName.webgpu;
    if (w.ok) expect(w.device).toMatch(/Dawn (default|opengles)/);
    else expect((w as { reason: string }).reason).toMatch(/webgpu|adapter/i);
  });

  it.each([
    [undefined, 'onnx', ['ort']],
    ['auto', 'tfjs', ['tfjs-wasm']],
    [['webgpu', 'ort'], 'onnx', ['webgpu', 'ort']],
    ['all', 'onnx', [...ENGINE_NAMES]],
    [['auto', 'all'], 'tfjs', ['tfjs-wasm', 'ort', 'webgpu', 'tfjs-node-gpu', 'ort-cuda']],
  ] as const)('engines %j for a %s model: %j', (choice, kind, names) => {
    expect(resolveEngines(choice as never, kind).map((e) => e.name)).toEqual(names);
  });

  it('an unknown engine is a usage error', () => {
    expect(() => resolveEngines(['cuda' as never], 'onnx')).toThrow(UsageError);
  });
});
