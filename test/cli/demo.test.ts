import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

describe('port demo', () => {
  it('writes a seeded full-size source, converts it to ONNX and tfjs, and the two engines agree', () => {
    const r = runCli(['demo', '--arch', 'inception_v4', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.conversions.map((c: { detection: { scheme: string } }) => c.detection.scheme)).toEqual(['timm', 'timm']);
    expect(out.conversions[0].source.format).toBe('safetensors');
    expect(out.parity.verdict).toBe('pass');
    const [cmp] = out.parity.comparisons;
    expect(cmp.engine).toBe('ort');
    expect(cmp.output.maxAbs).toBeLessThan(1e-4);
    expect(cmp.output.top1Agrees).toBe(true);
    expect(cmp.output.top5Overlap).toBe(5);
    expect(new Set(cmp.output.top5).size).toBe(5);
    expect(out.parity.warnings.join(' ')).not.toMatch(/degenerate/);
  }, 300_000);
});
