/**
 * The parity report: plain data (the JSON schema is documented in README.md, "Parity report"),
 * and its renderings as JUnit XML (for CI) and as one self-contained HTML page (inline SVG plot,
 * no external assets).
 */
import type { OutputComparison } from './compare.js';
import type { EngineName, ModelKind } from './engines.js';

export const REPORT_SCHEMA = 'weightport.parity/1';

/** One block's difference between a checked run and the reference (`--layers`). */
export interface BlockDiff {
  readonly block: string;
  /** 1-based position in the network (graphs/shapes.ts blockStats order). */
  readonly depth: number;
  /** Per-sample NCHW shape of the block's output. */
  readonly shape: readonly number[];
  readonly maxAbs: number;
  readonly meanAbs: number;
  /** Largest |reference| in the block. */
  readonly refMaxAbs: number;
  /** The block's tolerance: atol x max(1, refMaxAbs). */
  readonly tolerance: number;
  readonly pass: boolean;
}

export interface FirstDivergence {
  readonly block: string;
  readonly depth: number;
  readonly maxAbs: number;
  readonly tolerance: number;
  /** The block before it (absent when the first block diverges). */
  readonly previous?: { readonly block: string; readonly maxAbs: number; readonly tolerance: number };
}

/** How an engine took part. */
export interface EngineEntry {
  readonly engine: EngineName;
  readonly role: 'checked' | 'reference';
  readonly status: 'ran' | 'unavailable' | 'failed';
  /** Why it did not run (unavailable) or what went wrong (failed). */
  readonly reason?: string;
  /** The model file it ran, and whether that is the checked file itself or one written for the check. */
  readonly model?: string;
  readonly modelKind?: ModelKind;
  readonly written?: boolean;
  readonly device?: string;
  readonly createMs?: number;
  readonly runMs?: number;
}

export interface Comparison {
  /** `<engine>` or `<engine> (<model kind>)`: the row's name. */
  readonly name: string;
  readonly engine: EngineName;
  readonly referenceName: string;
  readonly pass: boolean;
  /** Why it failed, in one line. */
  readonly reason?: string;
  /** The main output (logits or probabilities), compared after any class alignment. */
  readonly output?: OutputComparison;
  /** Set when the two sides have 1001 and 1000 classes: the background class was dropped before comparing. */
  readonly classAlignment?: string;
  /** Set when one side outputs logits and the other probabilities: both were compared as probabilities. */
  readonly outputAlignment?: string;
  /** A hint about the kind of bug when the pattern is recognisable (class offset by one...). */
  readonly diagnosis?: string;
  readonly layers?: readonly BlockDiff[];
  readonly firstDivergence?: FirstDivergence;
}

export interface ParityReport {
  readonly schema: typeof REPORT_SCHEMA;
  readonly date: string;
  readonly tool: { readonly name: 'weightport'; readonly version: string };
  /** The checked model, as given. */
  readonly model: string;
  readonly arch?: string;
  readonly classes?: number;
  readonly input: string;
  readonly atol: number;
  readonly layers: boolean;
  /** What the checked runs are compared with. */
  readonly reference: {
    readonly kind: 'engine' | 'npy';
    /** `tfjs-wasm on model.tfjs (written from the checked model)`, `outputs.npy`. */
    readonly description: string;
    readonly engine?: EngineName;
    readonly model?: string;
  };
  readonly verdict: 'pass' | 'fail';
  readonly engines: readonly EngineEntry[];
  readonly comparisons: readonly Comparison[];
  /** Things a reader should know: degenerate outputs, engines skipped. */
  readonly warnings: readonly string[];
  readonly timing: {
    /** The whole check, ms. */
    readonly totalMs: number;
    /** Sum of the engines' own session creation and inference, ms. */
    readonly enginesMs: number;
    /** Reading, binding and writing the models run for the check, ms. */
    readonly prepareMs: number;
  };
}

export const reportFormats = ['json', 'xml', 'html'] as const;
export type ReportFormat = (typeof reportFormats)[number];

/** The report format a path asks for, by extension. */
export function reportFormatOf(path: string): ReportFormat | undefined {
  const ext = /\.([a-z]+)$/i.exec(path)?.[1]?.toLowerCase();
  if (ext === 'json') return 'json';
  if (ext === 'xml' || ext === 'junit') return 'xml';
  if (ext === 'html' || ext === 'htm') return 'html';
  return undefined;
}

export function renderReport(report: ParityReport, format: ReportFormat): string {
  switch (format) {
    case 'json':
      return JSON.stringify(report, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v), 2) + '\n';
    case 'xml':
      return renderJUnit(report);
    case 'html':
      return renderHtml(report);
  }
}

const escapeXml = (s: string): string =>
  s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!).replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '');

/** A number for people: 3 significant digits, exponent form for small values. */
export function fmt(v: number | undefined): string {
  if (v === undefined) return '';
  if (Number.isNaN(v)) return 'NaN';
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a < 1e-3 || a >= 1e5 ? v.toExponential(2) : v.toPrecision(3).replace(/\.?0+$/, '');
}

const ms = (v: number | undefined) => (v === undefined ? '' : `${(v / 1000).toFixed(2)} s`);

/** One line summary of a comparison, as the CLI prints it. */
export function comparisonLine(c: Comparison): string {
  const o = c.output;
  const parts = [`${c.pass ? 'PASS' : 'FAIL'} ${c.name} vs ${c.referenceName}`];
  if (o)
    parts.push(
      `max |diff| ${fmt(o.maxAbs)}, mean ${fmt(o.meanAbs)}, cosine ${o.cosine.toFixed(6)}, top-1 ${o.top1Agrees ? 'same' : `differs (${o.top1} vs ${o.refTop1})`}, top-5 ${o.top5Overlap}/5`,
    );
  if (c.firstDivergence) {
    const f = c.firstDivergence;
    parts.push(
      `first diverging block ${f.block} (max |diff| ${fmt(f.maxAbs)} > ${fmt(f.tolerance)}${f.previous ? `; before it ${f.previous.block}: ${fmt(f.previous.maxAbs)}` : ''})`,
    );
  }
  if (c.classAlignment) parts.push(c.classAlignment);
  if (c.outputAlignment) parts.push(c.outputAlignment);
  if (c.reason && !c.pass) parts.push(c.reason);
  if (c.diagnosis) parts.push(c.diagnosis);
  return parts.join('; ');
}

/**
 * JUnit XML: one testsuite per check, one testcase per comparison (a failure element with the
 * numbers when it fails), and a skipped testcase per unavailable engine.
 */
export function renderJUnit(report: ParityReport, suiteName = `parity ${report.model}`): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n${junitSuite(report, suiteName)}</testsuites>\n`;
}

/** The `<testsuite>` element of a report (parity:ci puts several in one file). */
export function junitSuite(report: ParityReport, suiteName = `parity ${report.model}`): string {
  const cases: string[] = [];
  for (const c of report.comparisons) {
    const time = (() => {
      const e = report.engines.find((x) => x.engine === c.engine && x.role === 'checked');
      return ((e?.createMs ?? 0) + (e?.runMs ?? 0)) / 1000;
    })();
    let body = '';
    if (!c.pass) body = `\n      <failure message="${escapeXml(c.reason ?? 'outputs differ')}" type="ParityMismatch">${escapeXml(comparisonLine(c))}</failure>\n    `;
    cases.push(`    <testcase classname="${escapeXml(suiteName)}" name="${escapeXml(c.name)}" time="${time.toFixed(3)}">${body}</testcase>`);
  }
  for (const e of report.engines)
    if (e.status !== 'ran')
      cases.push(
        `    <testcase classname="${escapeXml(suiteName)}" name="${escapeXml(`${e.engine} (${e.role})`)}" time="0">\n      ${
          e.status === 'unavailable' ? `<skipped message="${escapeXml(e.reason ?? 'unavailable')}"/>` : `<error message="${escapeXml(e.reason ?? 'failed')}" type="EngineError"/>`
        }\n    </testcase>`,
      );
  const failures = report.comparisons.filter((c) => !c.pass).length;
  const skipped = report.engines.filter((e) => e.status === 'unavailable').length;
  const errors = report.engines.filter((e) => e.status === 'failed').length;
  return (
    `  <testsuite name="${escapeXml(suiteName)}" tests="${cases.length}" failures="${failures}" errors="${errors}" skipped="${skipped}" time="${(report.timing.totalMs / 1000).toFixed(3)}" timestamp="${escapeXml(report.date)}">\n` +
    `    <properties>\n` +
    [
      ['model', report.model],
      ['reference', report.reference.description],
      ['input', report.input],
      ['atol', String(report.atol)],
      ['verdict', report.verdict],
    ]
      .map(([k, v]) => `      <property name="${k}" value="${escapeXml(v)}"/>`)
      .join('\n') +
    `\n    </properties>\n${cases.join('\n')}\n  </testsuite>\n`
  );
}

const escapeHtml = escapeXml;

/** Plot geometry, in SVG user units. */
const PLOT = { width: 900, height: 380, left: 70, right: 20, top: 20, bottom: 130 } as const;
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];

/**
 * The difference per block as an SVG line plot: depth on x, max |diff| on a log-scale y, one
 * series per comparison, the tolerance as a dashed line per series, the first diverging block
 * marked. Zero differences are drawn at the bottom of the axis.
 */
export function blockPlot(comparisons: readonly Comparison[]): string {
  const series = comparisons.filter((c) => c.layers && c.layers.length > 0);
  if (series.length === 0) return '';
  const all = series.flatMap((c) => c.layers!.flatMap((l) => [l.maxAbs, l.tolerance])).filter((v) => Number.isFinite(v) && v > 0);
  let lo = Math.floor(Math.log10(Math.min(...all, 1e-7)));
  let hi = Math.ceil(Math.log10(Math.max(...all, 1e-3)));
  if (hi <= lo) hi = lo + 1;
  lo = Math.max(lo, hi - 14);
  const n = Math.max(...series.map((c) => c.layers!.length));
  const w = PLOT.width - PLOT.left - PLOT.right;
  const h = PLOT.height - PLOT.top - PLOT.bottom;
  const x = (depth: number) => PLOT.left + (n <= 1 ? w / 2 : ((depth - 1) / (n - 1)) * w);
  const y = (v: number) => {
    const l = !Number.isFinite(v) ? hi : v <= 0 ? lo : Math.min(hi, Math.max(lo, Math.log10(v)));
    return PLOT.top + h - ((l - lo) / (hi - lo)) * h;
  };
  const parts: string[] = [];
  parts.push(`<rect x="${PLOT.left}" y="${PLOT.top}" width="${w}" height="${h}" fill="none" stroke="#999"/>`);
  for (let e = lo; e <= hi; e++)
    parts.push(
      `<line x1="${PLOT.left}" x2="${PLOT.left + w}" y1="${y(10 ** e).toFixed(1)}" y2="${y(10 ** e).toFixed(1)}" stroke="#eee"/>` +
        `<text x="${PLOT.left - 6}" y="${(y(10 ** e) + 4).toFixed(1)}" text-anchor="end" font-size="11">1e${e}</text>`,
    );
  const labels = series[0].layers!;
  const step = Math.max(1, Math.ceil(labels.length / 40));
  for (const l of labels)
    if ((l.depth - 1) % step === 0)
      parts.push(
        `<text transform="translate(${x(l.depth).toFixed(1)},${PLOT.top + h + 8}) rotate(60)" font-size="9">${escapeHtml(l.block)}</text>`,
      );
  series.forEach((c, i) => {
    const color = COLORS[i % COLORS.length];
    const pts = c.layers!.map((l) => `${x(l.depth).toFixed(1)},${y(l.maxAbs).toFixed(1)}`).join(' ');
    const tol = c.layers!.map((l) => `${x(l.depth).toFixed(1)},${y(l.tolerance).toFixed(1)}`).join(' ');
    parts.push(`<polyline class="tolerance" points="${tol}" fill="none" stroke="${color}" stroke-dasharray="4 3" stroke-opacity="0.6"/>`);
    parts.push(`<polyline class="series" data-name="${escapeHtml(c.name)}" points="${pts}" fill="none" stroke="${color}" stroke-width="1.5"/>`);
    for (const l of c.layers!)
      parts.push(
        `<circle class="point${l.pass ? '' : ' over'}" cx="${x(l.depth).toFixed(1)}" cy="${y(l.maxAbs).toFixed(1)}" r="${l.pass ? 2.5 : 4}" fill="${l.pass ? color : '#fff'}" stroke="${color}"><title>${escapeHtml(`${c.name}: ${l.block}: max |diff| ${fmt(l.maxAbs)} (tolerance ${fmt(l.tolerance)})`)}</title></circle>`,
      );
    if (c.firstDivergence) {
      const fx = x(c.firstDivergence.depth).toFixed(1);
      parts.push(`<line class="first-divergence" x1="${fx}" x2="${fx}" y1="${PLOT.top}" y2="${PLOT.top + h}" stroke="${color}" stroke-dasharray="2 2"/>`);
    }
    parts.push(
      `<g transform="translate(${PLOT.left + 10},${PLOT.top + 14 + 14 * i})"><line x2="18" stroke="${color}" stroke-width="2"/><text x="24" y="4" font-size="11">${escapeHtml(c.name)} vs ${escapeHtml(c.referenceName)}</text></g>`,
    );
  });
  parts.push(
    `<text x="${PLOT.left + w / 2}" y="${PLOT.height - 4}" text-anchor="middle" font-size="12">block (depth)</text>` +
      `<text transform="translate(14,${PLOT.top + h / 2}) rotate(-90)" text-anchor="middle" font-size="12">max |difference| (log scale)</text>`,
  );
  return `<svg id="block-plot" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${PLOT.width} ${PLOT.height}" width="${PLOT.width}" height="${PLOT.height}" role="img" aria-label="difference per block">${parts.join('')}</svg>`;
}

/** The report as one HTML page: verdict, summary table, engines, per-block plot and table. */
export function renderHtml(report: ParityReport): string {
  const pass = report.verdict === 'pass';
  const rows = report.comparisons
    .map((c) => {
      const o = c.output;
      const e = report.engines.find((x) => x.engine === c.engine && x.role === 'checked');
      return `<tr class="${c.pass ? 'pass' : 'fail'}"><td>${escapeHtml(c.name)}</td><td>${escapeHtml(c.referenceName)}</td><td>${fmt(o?.maxAbs)}</td><td>${fmt(o?.meanAbs)}</td><td>${o ? o.cosine.toFixed(7) : ''}</td><td>${o ? (o.top1Agrees ? 'yes' : `no (${o.top1} vs ${o.refTop1})`) : ''}</td><td>${o ? `${o.top5Overlap}/5` : ''}</td><td>${o ? fmt(o.probabilities.maxAbs) : ''}</td><td>${ms(e?.createMs)}</td><td>${ms(e?.runMs)}</td><td>${c.firstDivergence ? escapeHtml(c.firstDivergence.block) : ''}</td><td>${c.pass ? 'pass' : 'FAIL'}</td></tr>`;
    })
    .join('\n');
  const engines = report.engines
    .map(
      (e) =>
        `<tr class="${e.status}"><td>${e.engine}</td><td>${e.role}</td><td>${e.status}</td><td>${escapeHtml(e.device ?? e.reason ?? '')}</td><td>${escapeHtml(e.model ?? '')}${e.written ? ' (written for the check)' : ''}</td><td>${ms(e.createMs)}</td><td>${ms(e.runMs)}</td></tr>`,
    )
    .join('\n');
  const layered = report.comparisons.filter((c) => c.layers?.length);
  const blockTables = layered
    .map(
      (c) =>
        `<h3>${escapeHtml(c.name)} vs ${escapeHtml(c.referenceName)}: per block</h3>\n<table class="blocks"><thead><tr><th>#</th><th>block</th><th>shape</th><th>max |diff|</th><th>mean |diff|</th><th>max |ref|</th><th>tolerance</th><th></th></tr></thead><tbody>\n${c
          .layers!.map(
            (l) =>
              `<tr class="${l.pass ? 'pass' : 'fail'}${c.firstDivergence?.block === l.block ? ' first' : ''}"><td>${l.depth}</td><td>${escapeHtml(l.block)}</td><td>${l.shape.join('x')}</td><td>${fmt(l.maxAbs)}</td><td>${fmt(l.meanAbs)}</td><td>${fmt(l.refMaxAbs)}</td><td>${fmt(l.tolerance)}</td><td>${l.pass ? '' : 'over'}</td></tr>`,
          )
          .join('\n')}\n</tbody></table>`,
    )
    .join('\n');
  const warnings = report.warnings.length ? `<ul class="warnings">${report.warnings.map((w) => `<li>${escapeHtml(w)}</li>`).join('')}</ul>` : '';
  const firsts = report.comparisons
    .filter((c) => c.firstDivergence)
    .map((c) => `<li>${escapeHtml(c.name)}: first diverging block <b>${escapeHtml(c.firstDivergence!.block)}</b> (max |diff| ${fmt(c.firstDivergence!.maxAbs)}, tolerance ${fmt(c.firstDivergence!.tolerance)}${c.firstDivergence!.previous ? `; ${escapeHtml(c.firstDivergence!.previous.block)} before it: ${fmt(c.firstDivergence!.previous.maxAbs)}` : ''})</li>`)
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Parity: ${escapeHtml(report.model)} — ${pass ? 'pass' : 'FAIL'}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
h1{font-size:20px}.verdict{display:inline-block;padding:4px 12px;border-radius:4px;font-weight:bold;color:#fff}
.verdict.pass{background:#2a7d2a}.verdict.fail{background:#b22}
table{border-collapse:collapse;margin:8px 0 20px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;font-variant-numeric:tabular-nums}
th{background:#f3f3f3}tr.fail td{background:#fde8e8}tr.first td{font-weight:bold}tr.unavailable td{color:#888}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px}dt{color:#555}.warnings{color:#8a5a00}
</style></head><body>
<h1>Parity check <span id="verdict" class="verdict ${pass ? 'pass' : 'fail'}">${pass ? 'PASS' : 'FAIL'}</span></h1>
<dl><dt>model</dt><dd>${escapeHtml(report.model)}${report.arch ? ` (${escapeHtml(report.arch)}${report.classes ? `, ${report.classes} classes` : ''})` : ''}</dd>
<dt>reference</dt><dd>${escapeHtml(report.reference.description)}</dd><dt>input</dt><dd>${escapeHtml(report.input)}</dd>
<dt>tolerance</dt><dd>atol ${fmt(report.atol)}${report.layers ? ' (per block: atol × max(1, max |reference|))' : ''}</dd>
<dt>time</dt><dd>${ms(report.timing.totalMs)} in all; engines ${ms(report.timing.enginesMs)}; preparing models ${ms(report.timing.prepareMs)}</dd><dt>date</dt><dd>${escapeHtml(report.date)}</dd></dl>
${warnings}
<h2>Summary</h2>
<table id="summary"><thead><tr><th>checked</th><th>reference</th><th>max |diff|</th><th>mean |diff|</th><th>cosine</th><th>top-1 same</th><th>top-5</th><th>max |diff| prob.</th><th>session</th><th>inference</th><th>first diverging</th><th>verdict</th></tr></thead><tbody>
${rows}
</tbody></table>
${firsts ? `<ul>${firsts}</ul>` : ''}
<h2>Engines</h2>
<table id="engines"><thead><tr><th>engine</th><th>role</th><th>status</th><th>device / reason</th><th>model</th><th>session</th><th>inference</th></tr></thead><tbody>
${engines}
</tbody></table>
${layered.length ? `<h2>Difference per block</h2>\n${blockPlot(report.comparisons)}\n${blockTables}` : ''}
<script type="application/json" id="report-data">${JSON.stringify(report, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v)).replace(/</g, '\\u003c')}</script>
</body></html>
`;
}
