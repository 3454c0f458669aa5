// The kernel layout transposes on every conv kernel of full-size Inception-ResNet-v2 (244 kernels,
// 54.2M floats), in ns per float, all-in (copy into WebAssembly memory, transpose, copy out into
// the new array): the WebAssembly SIMD path against the tiled JS loops it replaces, in the same
// run, rounds interleaved (the machine is shared). Also the floor: copying the same floats into
// new arrays (`slice`), which any function returning a new array pays. Target: <= 1 ns per float.
import { buildGraph, graphParams } from '../../dist/index.js';
import { hwioToOihw, oihwToHwio, setLayoutWasm } from '../../dist/graphs/layout.js';
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
  const nsPerFloat = (fn) => {
    const t = performance.now();
    fn();
    return ((performance.now() - t) * 1e6) / floats;
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
  const times = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
  const was = setLayoutWasm(true);
  try {
    for (let round = 0; round <= ROUNDS; round++)
      for (const [key, [wasm, fn]] of Object.entries(cases)) {
        setLayoutWasm(wasm);
        const ns = nsPerFloat(fn);
        if (round > 0) times[key].push(ns); // round 0 warms up
      }
  } finally {
    setLayoutWasm(was);
  }
  const m = (key) => median(times[key]);
  const target = '<= 1 ns/float';
  return [
    row(name, 'OIHW -> HWIO, IRv2 kernels, wasm (ns/float)', m('wasm OIHW->HWIO'), 'ns', 'tiled JS loops', m('js OIHW->HWIO'), target),
    row(name, 'HWIO -> OIHW, IRv2 kernels, wasm (ns/float)', m('wasm HWIO->OIHW'), 'ns', 'tiled JS loops', m('js HWIO->OIHW'), target),
    row(name, 'floor: slice() of the same floats (ns/float)', m('floor'), 'ns', 'wasm OIHW -> HWIO', m('wasm OIHW->HWIO')),
  ];
}
