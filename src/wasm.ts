/**
 * Just enough of the WebAssembly binary format (core spec 1.0 and fixed-width SIMD) to write the
 * few small modules of this tool as opcodes: no toolchain, no build step, no dependency. Code is
 * nested arrays of bytes, flattened when the module is assembled; each module documents itself in
 * WAT next to its code (graphs/layout-wasm.ts, io/crc32c.ts).
 */

export type Code = (number | Code)[];

export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
}

export function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && !(b & 0x40)) || (n === -1 && b & 0x40)) return [...out, b];
    out.push(b | 0x80);
  }
}

// value types
export const I32 = 0x7f;
export const F32 = 0x7d;
export const V128 = 0x7b;

// locals and constants
export const get = (l: number): Code => [0x20, ...uleb(l)];
export const set = (l: number): Code => [0x21, ...uleb(l)];
export const tee = (l: number): Code => [0x22, ...uleb(l)];
export const i32 = (n: number): Code => [0x41, ...sleb(n)];
export const call = (f: number): Code => [0x10, ...uleb(f)];

// i32 arithmetic and comparisons
export const add = 0x6a;
export const mul = 0x6c;
export const divU = 0x6e;
export const remU = 0x70;
export const and = 0x71;
export const xor = 0x73;
export const shl = 0x74;
export const shrU = 0x76;
export const eq = 0x46;
export const ltU = 0x49;
export const geU = 0x4f;
export const select = 0x1b;

// memory: memarg alignment 2^2 (a hint only), then the constant offset
export const i32Load = (offset = 0): Code => [0x28, 2, ...uleb(offset)];
export const i32Store = (offset = 0): Code => [0x36, 2, ...uleb(offset)];
export const i32Load8U = (offset = 0): Code => [0x2d, 0, ...uleb(offset)];
export const f32Load = [0x2a, 2, 0];
export const f32Store = [0x38, 2, 0];
export const v128Load = [0xfd, 0x00, 2, 0];
export const v128Store = [0xfd, 0x0b, 2, 0];

// float32 and SIMD
export const f32Mul = 0x94;
export const f32Div = 0x95;
export const f32x4Splat = [0xfd, ...uleb(0x13)];
export const f32x4Mul = [0xfd, ...uleb(0xe6)];
export const f32x4Div = [0xfd, ...uleb(0xe7)];
/** i8x16.shuffle on the two v128 operands, given as four i32 lanes (0-3 first operand, 4-7 second). */
export const shuffle32 = (lanes: number[]): Code => [0xfd, 0x0d, ...lanes.flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3])];

/** `for (i = from; i < to; i += step) body` (unsigned compare; `to` re-evaluated each turn). */
export const forLoop = (i: number, from: Code, to: Code, step: number, body: Code): Code => [
  from, set(i),
  0x02, 0x40, // block
  0x03, 0x40, // loop
  get(i), to, geU, 0x0d, 1, // br_if 1 (leave)
  body,
  get(i), i32(step), add, set(i),
  0x0c, 0, // br 0 (again)
  0x0b, 0x0b, // end loop, end block
];

export const ifElse = (cond: Code, then: Code, otherwise: Code): Code => [cond, 0x04, 0x40, then, 0x05, otherwise, 0x0b];

/** The opcodes of nested code, in order (pushed into one array: it runs once, in the interpreter). */
function flat(code: Code, out: number[] = []): number[] {
  for (const x of code) {
    if (typeof x === 'number') out.push(x);
    else flat(x, out);
  }
  return out;
}
const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
const name = (s: string): number[] => [...uleb(s.length), ...[...s].map((ch) => ch.charCodeAt(0))];

export interface WasmFunc {
  /** Exported under this name; else internal (called by index, in the order given). */
  readonly export?: string;
  readonly params: readonly number[];
  readonly results?: readonly number[];
  /** [count, type] runs, numbered after the params. */
  readonly locals: readonly [number, number][];
  readonly body: Code;
}

/** Function bodies encoded once (flattening the nested code is most of a module's assembly). */
const encodedBodies = new WeakMap<WasmFunc, number[]>();

/**
 * A module of one memory (exported as `memory`; `memoryPages` to start, no maximum) and these
 * functions, each with a type of its own. With `importMemory` the memory is not the module's own
 * but imported as `env.memory` (at least `memoryPages`): io/pool's arena, which the transposes
 * then work in where the tensors already are.
 */
export function wasmModule({ memoryPages, importMemory = false, funcs }: { memoryPages: number; importMemory?: boolean; funcs: readonly WasmFunc[] }): Uint8Array<ArrayBuffer> {
  const body = (f: WasmFunc): number[] => {
    let encoded = encodedBodies.get(f);
    if (!encoded) {
      const b = [...vec(f.locals.map(([n, t]) => [...uleb(n), t])), ...flat(f.body), 0x0b];
      encodedBodies.set(f, (encoded = [...uleb(b.length), ...b]));
    }
    return encoded;
  };
  const limits = [0x00, ...uleb(memoryPages)]; // min pages, no max
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // \0asm, version 1
    ...section(1, vec(funcs.map((f) => [0x60, ...vec(f.params.map((t) => [t])), ...vec((f.results ?? []).map((t) => [t]))]))), // types
    ...(importMemory ? section(2, vec([[...name('env'), ...name('memory'), 0x02, ...limits]])) : []), // imports: the memory
    ...section(3, vec(funcs.map((_, i) => uleb(i)))), // function i has type i
    ...(importMemory ? [] : section(5, vec([limits]))), // memory
    ...section(7, vec([[...name('memory'), 0x02, 0], ...funcs.flatMap((f, i) => (f.export ? [[...name(f.export), 0x00, ...uleb(i)]] : []))])),
    ...section(10, vec(funcs.map(body))),
  ]);
}
