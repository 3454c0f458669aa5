/**
 * WebGPU in Node through the `webgpu` package (Dawn), for tfjs-backend-webgpu.
 *
 * Where a GPU is present Dawn's default adapter (Vulkan) is used. Without one, Dawn's OpenGL ES
 * backend on Mesa's software rasteriser (llvmpipe) runs the same WebGPU code path; it needs
 * (DESIGN.md): EGL_PLATFORM=surfaceless, `create(['backend=opengles'])`,
 * `requestAdapter({featureLevel: 'compatibility'})`, and `globalThis.navigator.gpu` set before
 * tfjs-backend-webgpu is imported (it registers itself only when it sees navigator.gpu).
 */
import { probeGpu } from './gpu.js';

export interface WebGpuInfo {
  /** Adapter as Dawn describes it (device and driver). */
  readonly adapter: string;
  /** Dawn backend used: `default` (Vulkan on Linux) or `opengles`. */
  readonly backend: 'default' | 'opengles';
  /** True on a software rasteriser (llvmpipe, SwiftShader): the code path is WebGPU's, the speed is the CPU's. */
  readonly software: boolean;
}

let setup: Promise<WebGpuInfo> | undefined;

interface AdapterLike {
  readonly info?: { readonly vendor?: string; readonly architecture?: string; readonly device?: string; readonly description?: string };
}
interface GpuLike {
  requestAdapter(options?: Record<string, unknown>): Promise<AdapterLike | null>;
  readonly wgslLanguageFeatures?: unknown;
}

const describe = (a: AdapterLike): string =>
  [a.info?.vendor, a.info?.architecture, a.info?.device, a.info?.description].filter((s) => s && String(s).trim()).join(', ') || 'unnamed adapter';

/**
 * Installs `navigator.gpu` (once per process) and returns the adapter that tfjs will get.
 * `WEIGHTPORT_WEBGPU_BACKEND=opengles|default` forces Dawn's backend. Throws with the reason when
 * no adapter is found or the package is missing.
 */
export function setupWebGpu(): Promise<WebGpuInfo> {
  setup ??= (async () => {
    // Dawn's EGL reads this when the GL backend starts: no display server here.
    process.env.EGL_PLATFORM ??= 'surfaceless';
    let mod: { create(options: string[]): GpuLike; globals: object };
    try {
      mod = (await import('webgpu')) as unknown as typeof mod;
    } catch (e) {
      throw new Error(`the 'webgpu' package (Dawn for Node) is not installed or does not load: ${(e as Error).message}`);
    }
    Object.assign(globalThis, mod.globals); // GPUBufferUsage, GPUShaderStage, ... that tfjs reads
    const forced = process.env.WEIGHTPORT_WEBGPU_BACKEND;
    const gpuPresent = probeGpu().nvidia || probeGpu().renderNode;
    const attempts: Array<{ backend: 'default' | 'opengles'; flags: string[]; options: Record<string, unknown> }> = [];
    // Without a GPU device file the default (Vulkan) attempt only prints driver noise on stderr.
    if (forced === 'default' || (forced !== 'opengles' && gpuPresent)) attempts.push({ backend: 'default', flags: [], options: {} });
    if (forced !== 'default') attempts.push({ backend: 'opengles', flags: ['backend=opengles'], options: { featureLevel: 'compatibility' } });
    for (const a of attempts) {
      const gpu = mod.create(a.flags);
      const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance', ...a.options });
      if (!adapter) continue;
      // tfjs asks for its own adapter (without the feature level): answer with the same settings.
      const wrapped = {
        requestAdapter: (o: Record<string, unknown> = {}) => gpu.requestAdapter({ ...o, ...a.options }),
        getPreferredCanvasFormat: () => 'rgba8unorm',
        get wgslLanguageFeatures() {
          return gpu.wgslLanguageFeatures;
        },
      };
      const nav = (globalThis as { navigator?: object }).navigator;
      if (nav && Object.getOwnPropertyDescriptor(nav, 'gpu') === undefined && Object.isExtensible(nav))
        Object.defineProperty(nav, 'gpu', { value: wrapped, configurable: true });
      else Object.defineProperty(globalThis, 'navigator', { value: { ...(nav ?? {}), gpu: wrapped }, configurable: true, writable: true });
      const name = describe(adapter);
      return { adapter: name, backend: a.backend, software: /llvmpipe|swiftshader|softpipe|lavapipe/i.test(name) };
    }
    throw new Error(
      `no WebGPU adapter: Dawn found none (tried ${attempts.map((a) => a.backend).join(', ')}; a software adapter needs Mesa's EGL, libegl1 + libgles2 + mesa)`,
    );
  })();
  const p = setup;
  p.catch(() => {
    if (setup === p) setup = undefined;
  });
  return p;
}
