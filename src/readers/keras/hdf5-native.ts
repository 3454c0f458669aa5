/**
 * A pure-TypeScript HDF5 reader for the subset that h5py writes for Keras files (Keras 2, tf.keras
 * and Keras 3 `.h5` / `.weights.h5`, and the weights inside `.keras` archives). It lists the same
 * objects as the h5wasm worker (worker-source.ts: depth first, members by name, the same
 * attribute values) and reads a dataset's raw bytes with one positional read, without starting
 * WebAssembly or a worker (which took 0.5 to 0.7 s, more than reading the weights).
 *
 * Supported (HDF5 File Format Specification 3.0): superblock versions 0 to 3 with 8-byte
 * addresses and lengths; object headers of versions 1 and 2 (checksums verified) with continuation
 * blocks; old-style groups (v1 B-tree, symbol table nodes, local heap) and compact new-style groups
 * (link messages, hard links; listed by name, or in creation order where it is indexed, as h5wasm
 * lists them); compact attributes (message versions 1 to 3) holding fixed-length or
 * variable-length strings (global heap), or 1/2/4/8-byte little-endian integers and 4/8-byte
 * floats; datasets of integers or floats (either byte order; read little-endian, as h5wasm reads
 * them) with a simple, scalar or null dataspace and contiguous or compact storage, or none yet
 * (never written: zeros, HDF5's default fill value).
 *
 * Everything else valid throws Hdf5Unsupported (hdf5/types.ts) and openHdf5 (hdf5.ts) falls back
 * to h5wasm: a superblock extension, shared messages, dense (fractal heap) link or attribute
 * storage (libver 'latest' groups of more than 8 members), soft and external links, chunked,
 * compressed or external datasets, layout messages before version 3, other datatypes (compounds,
 * enums such as h5py's booleans, arrays, references, big-endian attributes...). A corrupt file is
 * an Hdf5Error: every length and address is checked against the file's size before it is used,
 * every loop is bounded, and hard-link cycles stop at MAX_DEPTH / MAX_OBJECTS like the worker.
 */
import { corrupt, fileSource, memorySource, type Source, UNDEF } from './hdf5/bytes.js';
import { type DatasetDesc, type H5Object, readObject } from './hdf5/objects.js';
import { type Ctx, readSuperblock } from './hdf5/superblock.js';
import { Hdf5Error, Hdf5Unsupported, MAX_DEPTH, MAX_OBJECTS, type H5DatasetInfo, type H5Node, type Hdf5File, type Hdf5Source } from './hdf5/types.js';
import { decodeValue, elements } from './hdf5/values.js';

type Attrs = H5Node['attrs'];

/** Reverses each element's bytes (big-endian datasets), in place. */
function swapBytes(bytes: Uint8Array, size: number): Uint8Array {
  for (let i = 0; i + size <= bytes.length; i += size)
    for (let a = i, b = i + size - 1; a < b; a++, b--) {
      const t = bytes[a];
      bytes[a] = bytes[b];
      bytes[b] = t;
    }
  return bytes;
}

function attrsOf(ctx: Ctx, obj: H5Object, path: string): Attrs {
  const out: Record<string, { value?: unknown; error?: string }> = {};
  // HDF5 lists attributes by name (h5wasm's get_attribute_names).
  const sorted = [...obj.attributes].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const a of sorted) {
    try {
      const value = decodeValue(a.type, a.shape, a.data, ctx, `attribute '${a.name}' of ${path}`);
      out[a.name] = { value: value === undefined ? null : value };
    } catch (e) {
      if (e instanceof Hdf5Unsupported || !(e instanceof Hdf5Error)) throw e;
      out[a.name] = { error: e.message };
    }
  }
  return out;
}

function infoOf(d: DatasetDesc): H5DatasetInfo {
  const t = d.type;
  return { shape: d.shape, type: t.cls, size: t.size, signed: t.cls === 0 && t.signed, littleEndian: t.littleEndian, vlen: false, chunks: null };
}

/** Lists every object, depth first, as the worker's `walk` does (the same limits and messages). */
function walk(ctx: Ctx, root: number): { nodes: H5Node[]; datasets: Map<string, DatasetDesc> } {
  const nodes: H5Node[] = [];
  const datasets = new Map<string, DatasetDesc>();
  const objects = new Map<number, H5Object>();
  /** Decoded attributes per object (an object reached through several hard links is decoded once). */
  const decoded = new Map<number, Attrs>();
  const stack: [string, number, number][] = [['/', 0, root]];
  while (stack.length > 0) {
    const [path, depth, addr] = stack.pop()!;
    if (nodes.length >= MAX_OBJECTS) throw new Hdf5Error(`more than ${MAX_OBJECTS} objects (or a cycle of links)`);
    let obj = objects.get(addr);
    if (!obj) {
      obj = readObject(ctx, addr, path === '/' ? 'the root group' : `object ${path}`);
      objects.set(addr, obj);
    }
    const node: { path: string; kind: H5Node['kind']; attrs: Attrs; children?: string[]; dataset?: H5DatasetInfo } = {
      path,
      kind: obj.kind,
      attrs: {},
    };
    if (obj.kind !== 'other') {
      let attrs = decoded.get(addr);
      if (!attrs) decoded.set(addr, (attrs = attrsOf(ctx, obj, path)));
      node.attrs = attrs;
    }
    if (obj.dataset) {
      node.dataset = infoOf(obj.dataset);
      datasets.set(path, obj.dataset);
    }
    nodes.push(node);
    if (obj.kind !== 'group') continue;
    if (depth >= MAX_DEPTH) throw new Hdf5Error(`groups nested deeper than ${MAX_DEPTH} (or a cycle of links) at ${path}`);
    const members = obj.members!;
    node.children = members.map((m) => m.name);
    for (let i = members.length - 1; i >= 0; i--) stack.push([(path === '/' ? '' : path) + '/' + members[i].name, depth + 1, members[i].addr]);
  }
  return { nodes, datasets };
}

/**
 * Opens an HDF5 file with the built-in reader. Throws Hdf5Unsupported for valid files outside its
 * subset (the caller falls back to h5wasm) and Hdf5Error for corrupt ones.
 */
export async function openHdf5Native(source: Hdf5Source): Promise<Hdf5File> {
  const src: Source = 'path' in source ? fileSource(source.path) : memorySource(source.bytes);
  let listed: ReturnType<typeof walk>;
  try {
    const { ctx, root } = readSuperblock(src);
    listed = walk(ctx, root);
  } catch (e) {
    src.close();
    if (e instanceof Hdf5Error) throw e;
    // A fault of this reader itself (a bug): still typed, never a raw TypeError or RangeError.
    throw new Hdf5Error(`the built-in HDF5 reader failed: ${(e as Error).message}`, false, { cause: e });
  }
  const { nodes, datasets } = listed;
  let closed = false;
  return {
    nodes: new Map(nodes.map((n) => [n.path, n])),
    async read(path, maxBytes) {
      if (closed) throw new Hdf5Error('the file is closed');
      const d = datasets.get(path);
      if (!d) throw new Hdf5Error(`no dataset ${path}`);
      if (d.shape === null) throw new Hdf5Error('not a numeric dataset');
      const n = d.type.size * elements(d.shape);
      if (!Number.isSafeInteger(n) || n < 0 || n > maxBytes) throw new Hdf5Error(`dataset of ${n} bytes exceeds the limit of ${maxBytes}`);
      const layout = d.layout;
      let bytes: Uint8Array;
      if (layout.kind === 'compact') bytes = layout.data.slice(0, n);
      else if (layout.addr === UNDEF) return new Uint8Array(n); // never written: the default fill value
      else if (layout.size < n) throw corrupt(`dataset ${path}: ${layout.size} bytes of storage for ${n} bytes`);
      else bytes = await src.copy(layout.addr, n, `dataset ${path}`);
      // h5wasm reads in the machine's (little-endian) order; so does this reader.
      return d.type.littleEndian ? bytes : swapBytes(bytes, d.type.size);
    },
    async close() {
      if (closed) return;
      closed = true;
      src.close();
    },
  };
}
