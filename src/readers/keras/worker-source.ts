/**
 * The HDF5 worker's code (a worker thread runs it from this string, `eval: true`): it owns one
 * h5wasm instance and answers `open`, `read` and `close`.
 *
 * Why a worker: h5wasm (HDF5 compiled to WebAssembly) calls `abort()` on some corrupt files, after
 * which that wasm instance is dead for the rest of the process, and a corrupt file could in
 * principle make the C library loop. A worker isolates both: an abort or a time-out costs that
 * worker only (terminate, start another). Why a string: a worker needs a JavaScript entry file,
 * and this one must work the same from the TypeScript sources (tests) and from dist/ (the CLI);
 * the code is small, plain JavaScript and imports nothing but h5wasm (by the URL it is given).
 *
 * Protocol: `{ id, op, ...args }` -> `{ id, result }` or `{ id, error: { name, message } }`.
 * - open  { path } (a real file, h5wasm/node, NODERAWFS) or { bytes, name } (h5wasm's in-memory
 *         file system, the ESM build): returns every object of the file as a flat, depth-first
 *         list `{ path, kind, attrs, dataset? }` (h5wasm lists children by name). Attribute
 *         values are decoded by h5wasm (strings, string arrays, typed arrays); one that cannot be
 *         decoded is `{ error }`.
 * - read  { path }: the dataset's raw bytes in the file's byte order (transferred).
 * - close: closes the file (and frees the in-memory copy).
 * Failures of the HDF5 library arrive as JavaScript errors: the worker enables h5wasm's throwing
 * error handler, so nothing is printed by HDF5 itself.
 */
export const WORKER_SOURCE = String.raw`
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
// h5wasm prints "Aborted(...)" and similar; silence it here rather than piping the worker's
// stdio to the parent: piped (resumed) stdio streams keep the parent's event loop alive even
// after the idle worker is unref'd, so the CLI would never exit.
process.stdout.write = process.stderr.write = () => true;
const MAX_NODES = workerData.maxNodes;
const MAX_DEPTH = workerData.maxDepth;
let h5 = null;
let M = null;
let file = null;
let memPath = null;

async function init() {
  h5 = await import(workerData.url);
  M = await h5.ready;
  M.activate_throwing_error_handler();
}

function errorOf(e) {
  if (e && typeof e === 'object') return { name: String(e.name || 'Error'), message: String(e.message || e) };
  return { name: 'Error', message: String(e) };
}

function attrsOf(path) {
  const out = {};
  const names = M.get_attribute_names(file.file_id, path);
  if (!Array.isArray(names)) throw new Error('cannot list the attributes of ' + path);
  for (const name of names) {
    try {
      const value = new h5.Attribute(file.file_id, path, name).value;
      out[name] = { value: value === undefined ? null : value };
    } catch (e) {
      out[name] = { error: errorOf(e).message.split('\n')[0] };
    }
  }
  return out;
}

function datasetOf(path) {
  const m = M.get_dataset_metadata(file.file_id, path);
  if (!m) throw new Error('no metadata for dataset ' + path);
  return {
    shape: m.shape === null || m.shape === undefined ? null : Array.from(m.shape, Number),
    type: m.type,
    size: m.size,
    signed: Boolean(m.signed),
    littleEndian: m.littleEndian !== false,
    vlen: Boolean(m.vlen),
    chunks: m.chunks ? Array.from(m.chunks, Number) : null,
  };
}

function walk() {
  const nodes = [];
  const stack = [['/', 0]];
  while (stack.length > 0) {
    const [path, depth] = stack.pop();
    if (nodes.length >= MAX_NODES) throw new Error('more than ' + MAX_NODES + ' objects (or a cycle of links)');
    const type = path === '/' ? M.H5G_GROUP : M.get_type(file.file_id, path);
    const kind = type === M.H5G_GROUP ? 'group' : type === M.H5G_DATASET ? 'dataset' : 'other';
    const node = { path, kind, attrs: kind === 'other' ? {} : attrsOf(path) };
    if (kind === 'dataset') node.dataset = datasetOf(path);
    nodes.push(node);
    if (kind !== 'group') continue;
    if (depth >= MAX_DEPTH) throw new Error('groups nested deeper than ' + MAX_DEPTH + ' (or a cycle of links) at ' + path);
    const names = M.get_names(file.file_id, path, false);
    if (!Array.isArray(names)) throw new Error('cannot list the group ' + path);
    node.children = names;
    for (let i = names.length - 1; i >= 0; i--) stack.push([(path === '/' ? '' : path) + '/' + names[i], depth + 1]);
  }
  return nodes;
}

function open(msg) {
  let path = msg.path;
  if (msg.bytes) {
    try { M.FS.mkdir('/weightport'); } catch (e) { /* exists */ }
    memPath = '/weightport/' + msg.name;
    M.FS.writeFile(memPath, msg.bytes, { canOwn: true });
    path = memPath;
  }
  const f = new h5.File(path, 'r');
  if (f.file_id === undefined || f.file_id < 0n) throw new Error('HDF5 cannot open the file');
  file = f;
  return walk();
}

function read(msg) {
  const m = M.get_dataset_metadata(file.file_id, msg.path);
  if (!m || m.shape === null || m.vlen || (m.type !== 0 && m.type !== 1)) throw new Error('not a numeric dataset');
  const n = Number(m.size) * Number(m.total_size);
  if (!Number.isSafeInteger(n) || n < 0 || n > msg.maxBytes) throw new Error('dataset of ' + n + ' bytes exceeds the limit of ' + msg.maxBytes);
  const ptr = M._malloc(Math.max(n, 1));
  if (!ptr) throw new Error('cannot allocate ' + n + ' bytes');
  try {
    const status = M.get_dataset_data(file.file_id, msg.path, null, null, null, BigInt(ptr));
    if (typeof status === 'number' && status < 0) throw new Error('HDF5 read failed (' + status + ')');
    return M.HEAPU8.slice(ptr, ptr + n);
  } finally {
    M._free(ptr);
  }
}

function close() {
  if (file) {
    const f = file;
    file = null;
    f.close();
  }
  if (memPath) {
    const p = memPath;
    memPath = null;
    M.FS.unlink(p);
  }
  return null;
}

const ready = init();
parentPort.on('message', async (msg) => {
  try {
    await ready;
    let result;
    if (msg.op === 'open') result = open(msg);
    else if (msg.op === 'read') result = read(msg);
    else if (msg.op === 'close') result = close();
    else throw new Error('unknown op ' + msg.op);
    parentPort.postMessage({ id: msg.id, result }, result instanceof Uint8Array ? [result.buffer] : []);
  } catch (e) {
    parentPort.postMessage({ id: msg.id, error: errorOf(e) });
  }
});
`;
