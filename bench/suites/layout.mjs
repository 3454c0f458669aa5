// The kernel layout transposes on every conv kernel of full-size Inception-ResNet-v2 (244 kernels,
// 54.2M floats), in ns per float, all-in (copy into WebAssembly memory, transpose, copy out into
// the new array): the WebAssembly SIMD path against the tiled JS loops it replaces, in the same
// run, rounds interleaved (the machine is shared). Also the floor: copying the same floats into
// new arrays (`slice`), which any function returning a new array pays (on a busy VM most of it
// is page faults on the new arrays' memory). Also the module's transpose alone, inside its own
// memory, against copying the same bytes there (copyWithin): the part that the copies and the
// allocator do not blur. Target: <= 1 ns per float.
import { buildGraph, graphParams } from '../../dist/index.js';
import { hwioToOihw, oihwToHwio, setLayoutWasm } from '../../dist/graphs/layout.js';
import { moduleBytes } from '../../dist/graphs/layout-wasm.js';
import { median, row } from '../lib.mjs';

export const name = 'layout';

const ROUNDS = 5;

export async function run() {
  const specs = graphParams(buildGraph('inception_resnet_v2')).filter((s) => s.role === 'conv.weights');
  const oihw = specs.map(({ shape }) => {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = (i % 1009) * 0.01 - 5;
    return { shape, data };
  });
  const hwio = oihw.map(({ shape: [co, ci, kh, kw], data }) => ({ shape: [kh, kw, ci, co], data: oihwToHwio(data, [co, ci, kh, kw]) }));
  const floats = oihw.reduce((s, k) => s + k.data.length, 0);
  const faults = {};
  const nsPerFloat = (key, fn) => {
    const f = process.resourceUsage().minorPageFault;
    const t = performance.now();
    fn();
    const ns = ((performance.now() - t) * 1e6) / floats;
    (faults[key] ??= []).push(process.resourceUsage().minorPageFault - f);
    return ns;
  };
  const toHwio = () => oihw.forEach((k) => oihwToHwio(k.data, k.shape));
  const toOihw = () => hwio.forEach((k) => hwioToOihw(k.data, k.shape));
  const cases = {
    'js OIHW->HWIO': [false, toHwio],
    'wasm OIHW->HWIO': [true, toHwio],
    'js HWIO->OIHW': [false, toOihw],
    'wasm HWIO->OIHW': [true, toOihw],
    floor: [true, () => oihw.forEach((k) => k.data.slice())],
  };
  // The bare kernel: its own instance, source at 0, destination at 16 MiB, both directions.
  const { exports } = new WebAssembly.Instance(new WebAssembly.Module(moduleBytes));
  exports.memory.grow(512);
  const heap = new Float32Array(exports.memory.buffer);
  heap.fill(0.5);
  const DST = 16 * 2 ** 20;
  cases['bare transpose'] = [true, () => oihw.forEach(({ shape: [co, ci, kh, kw] }) => {
    exports.transpose(0, DST, co, ci * kh * kw, 1, kh * kw);
    exports.transpose(0, DST, ci * kh * kw, co, kh * kw, 1);
  })];
  cases['bare copy'] = [true, () => oihw.forEach(({ data }) => {
    heap.copyWithin(DST / 4, 0, data.length);
    heap.copyWithin(DST / 4, 0, data.length);
  })];
  const times = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
  const was = setLayoutWasm(true);
  try {
    for (let round = 0; round <= ROUNDS; round++)
      for (const [key, [wasm, fn]] of Object.entries(cases)) {
        setLayoutWasm(wasm);
        const ns = nsPerFloat(key, fn);
        if (round > 0) times[key].push(ns); // round 0 warms up
      }
  } finally {
    setLayoutWasm(was);
  }
  const m = (key) => median(times[key]);
  // Minor page faults per pass (median) beside each all-in row: 53k means every page of every
  // new array faulted, 0 that the allocator reused memory; this is most of the runs' spread.
  const f = (key) => median(faults[key].slice(1));
  const pf = (key, ref) => ({ pageFaults: f(key), referencePageFaults: f(ref), pages: Math.ceil((floats * 4) / 4096) });
  const target = '<= 1 ns/float';
  return [
    { ...row(name, 'OIHW -> HWIO, IRv2 kernels, wasm (ns/float)', m('wasm OIHW->HWIO'), 'ns', 'tiled JS loops', m('js OIHW->HWIO'), target), ...pf('wasm OIHW->HWIO', 'js OIHW->HWIO') },
    { ...row(name, 'HWIO -> OIHW, IRv2 kernels, wasm (ns/float)', m('wasm HWIO->OIHW'), 'ns', 'tiled JS loops', m('js HWIO->OIHW'), target), ...pf('wasm HWIO->OIHW', 'js HWIO->OIHW') },
    { ...row(name, 'floor: slice() of the same floats (ns/float)', m('floor'), 'ns', 'wasm OIHW -> HWIO', m('wasm OIHW->HWIO')), ...pf('floor', 'wasm OIHW->HWIO') },
    row(name, 'wasm transpose alone, both ways (ns/float)', m('bare transpose') / 2, 'ns', 'copyWithin in wasm memory', m('bare copy') / 2),
  ];
}
