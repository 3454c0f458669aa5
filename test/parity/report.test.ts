/**
 * Reports from a real check (a thin model with an injected bug, so that there is a failure and a
 * first diverging block): JSON round trip, JUnit XML parsed by Python's ElementTree, and the HTML
 * page opened in a real headless Chromium (Debian's, driven by playwright-core; never a browser
 * download) to check that the plot and the tables render.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildGraph, seededModel, writeModel } from '../../src/index.js';
import { checkParity } from '../../src/parity/check.js';
import { renderReport, type ParityReport } from '../../src/parity/report.js';
import { browserAvailable, CHROMIUM, CHROMIUM_FLAGS } from '../helpers/browser.js';
import { python } from '../helpers/python.js';
import { PORTING_BUGS } from './porting-bugs.js';

const dir = mkdtempSync(join(tmpdir(), 'weightport-report-'));
let report: ParityReport;

beforeAll(async () => {
  const bug = PORTING_BUGS.find((b) => b.arch === 'inception_resnet_v2')!;
  const model = seededModel(buildGraph(bug.arch, { widthDivisor: 8 }), { seed: 5 });
  await writeModel(bug.inject(model), join(dir, 'buggy.onnx'), { to: 'onnx', exposeBlocks: true });
  report = await checkParity(join(dir, 'buggy.onnx'), { against: model, layers: true, engines: ['ort', 'ort-cuda'] });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('JSON report', () => {
  it('round-trips and follows the documented schema', () => {
    const back = JSON.parse(renderReport(report, 'json'));
    expect(back.schema).toBe('weightport.parity/1');
    expect(back.verdict).toBe('fail');
    expect(back.comparisons).toHaveLength(1);
    expect(back.comparisons[0].firstDivergence.block).toBe('Repeat/block35_4');
    expect(back.comparisons[0].layers.length).toBe(report.comparisons[0].layers!.length);
    expect(back.engines.map((e: { engine: string; status: string }) => `${e.engine}:${e.status}`)).toEqual(
      expect.arrayContaining(['tfjs-wasm:ran', 'ort:ran', 'ort-cuda:unavailable']),
    );
    for (const k of ['totalMs', 'enginesMs', 'prepareMs']) expect(back.timing[k]).toBeGreaterThan(0);
  });
});

describe('JUnit report', () => {
  const py = python('tf');
  it.skipIf(!py.ok)(`parses with ElementTree: one failing testcase, one skipped engine ${py.reason}`, () => {
    const path = join(dir, 'junit.xml');
    writeFileSync(path, renderReport(report, 'xml'));
    const r = spawnSync(
      py.bin,
      [
        '-c',
        `import sys, json, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
s = root.find('testsuite')
cases = s.findall('testcase')
print(json.dumps({"tag": root.tag, "tests": int(s.get("tests")), "failures": int(s.get("failures")), "skipped": int(s.get("skipped")),
  "cases": [[c.get("name"), c.find("failure") is not None, c.find("skipped") is not None] for c in cases],
  "failure": (s.find("testcase/failure").get("message"))}))`,
        path,
      ],
      { encoding: 'utf8' },
    );
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ tag: 'testsuites', tests: 2, failures: 1, skipped: 1 });
    expect(j.cases).toEqual([
      ['ort (onnx)', true, false],
      ['ort-cuda (checked)', false, true],
    ]);
    expect(j.failure).toMatch(/max \|diff\|/);
  });
});

describe('HTML report in a real browser', () => {
  const skip = browserAvailable();
  it.skipIf(Boolean(skip))(`renders the plot, the tables and the verdict in headless Chromium ${skip}`, async () => {
    const html = renderReport(report, 'html');
    const page = join(dir, 'report.html');
    writeFileSync(page, html);
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: CHROMIUM_FLAGS,
    });
    try {
      const tab = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      const requests: string[] = [];
      tab.on('request', (r) => requests.push(r.url()));
      const errors: string[] = [];
      tab.on('pageerror', (e) => errors.push(e.message));
      await tab.goto(`file://${page}`);
      // Self-contained: the page itself is the only request.
      expect(requests).toEqual([`file://${page}`]);
      expect(errors).toEqual([]);
      expect(await tab.textContent('#verdict')).toBe('FAIL');
      const layers = report.comparisons[0].layers!;
      expect(await tab.locator('#block-plot circle.point').count()).toBe(layers.length);
      expect(await tab.locator('#block-plot circle.point.over').count()).toBe(layers.filter((l) => !l.pass).length);
      expect(await tab.locator('#block-plot polyline.series').count()).toBe(1);
      expect(await tab.locator('#block-plot line.first-divergence').count()).toBe(1);
      expect(await tab.locator('#summary tbody tr').count()).toBe(report.comparisons.length);
      expect(await tab.locator('#engines tbody tr').count()).toBe(report.engines.length);
      expect(await tab.locator('table.blocks tbody tr').count()).toBe(layers.length);
      // The plot has a real size on the page, and points sit inside it.
      const box = await tab.locator('#block-plot').boundingBox();
      expect(box!.width).toBeGreaterThan(400);
      expect(box!.height).toBeGreaterThan(200);
      const first = await tab.locator('#block-plot circle.point').first().boundingBox();
      expect(first!.x).toBeGreaterThanOrEqual(box!.x);
      expect(first!.y).toBeLessThanOrEqual(box!.y + box!.height);
      const shot = join(dir, 'report.png');
      await tab.screenshot({ path: shot, fullPage: true });
      expect(statSync(shot).size).toBeGreaterThan(10_000);
    } finally {
      await browser.close();
    }
  });
});
