/**
 * Is there a GPU, and which? Cheap checks (device files, /proc), no library loaded: engines that
 * need a GPU report themselves unavailable with the reason instead of failing inside a driver.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface GpuProbe {
  /** An NVIDIA GPU with its driver loaded (/dev/nvidia0 or /proc/driver/nvidia/gpus). */
  readonly nvidia: boolean;
  /** A DRM render node (/dev/dri/renderD*): some GPU that Vulkan or GL may drive. */
  readonly renderNode: boolean;
  /** Card names, where the driver says (nvidia-smi -L, or /proc/driver/nvidia). */
  readonly names: readonly string[];
}

let cached: GpuProbe | undefined;

export function probeGpu(): GpuProbe {
  if (cached) return cached;
  const names: string[] = [];
  const procGpus = '/proc/driver/nvidia/gpus';
  let nvidia = existsSync('/dev/nvidia0');
  try {
    for (const bus of readdirSync(procGpus)) {
      nvidia = true;
      const info = readFileSync(join(procGpus, bus, 'information'), 'utf8');
      const model = /^Model:\s*(.+)$/m.exec(info)?.[1];
      if (model) names.push(model.trim());
    }
  } catch {
    // no NVIDIA driver
  }
  if (nvidia && names.length === 0) {
    const r = spawnSync('nvidia-smi', ['-L'], { encoding: 'utf8', timeout: 10_000 });
    if (r.status === 0) for (const m of r.stdout.matchAll(/^GPU \d+: (.+?)(?: \(UUID|$)/gm)) names.push(m[1]);
  }
  let renderNode = false;
  try {
    renderNode = readdirSync('/dev/dri').some((f) => f.startsWith('renderD'));
  } catch {
    // no DRM devices
  }
  cached = { nvidia, renderNode, names };
  return cached;
}
