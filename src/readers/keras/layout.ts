/**
 * The Keras layouts inside an HDF5 file, read from the file's object list (hdf5.ts), into layers
 * with weights in Keras' load order and lazily read tensors.
 *
 * Legacy (Keras 2 / tf.keras; Keras 3 still writes it through legacy_h5_format.py): attributes
 * `layer_names` (model.layers, in order), `backend`, `keras_version` on the weights group (the
 * root, or `model_weights` in a whole-model file, whose root also holds `model_config`); a group
 * per layer with `weight_names` (`conv2d/kernel`, Keras 2: `conv2d_1/kernel:0`), each the path
 * of a dataset below that group. Attributes past HDF5's 64 KB header limit are chunked:
 * `layer_names0`, `layer_names1`, ... (keras/src/legacy/saving/legacy_h5_format.py,
 * save_attributes_to_hdf5_group / load_attributes_from_hdf5_group). Keras loads such a file by
 * order: the layers that have weights, in `layer_names` order, against model.layers
 * (load_weights_from_hdf5_group). A nested model is one layer whose `weight_names` span its
 * sub-layers (trainable weights first); it is split here into its sub-layers, by name prefix.
 *
 * Keras 3 (keras/src/saving/saving_lib.py): `layers/<snake-cased class>[_k]/vars/<i>`, where k
 * counts the layers of that class in model.layers order (whatever the layers' names: the name is
 * the attribute `name` of `vars`), and a nested model continues with its own `layers/`. The
 * config (config.json of a .keras archive) gives model.layers, hence the exact order; without it
 * the order is known per class only.
 */
import { FormatError } from '../../errors.js';
import { DTYPE_SIZE, type DType } from '../../tensor.js';
import type { StoredTensor } from '../types.js';
import { CLASS_OF_FAMILY, endsInSoftmax, inputSizeOf, parseModelConfig, toSnakeCase, type ConfigLayer, type ModelConfig } from './config.js';
import { Hdf5Error, type H5Node, type Hdf5File } from './hdf5.js';
import type { KerasLayer, KerasLayout, KerasStructure } from './types.js';

/** Largest tensor read from a chunked dataset (contiguous ones are bounded by the file size). */
export const MAX_TENSOR_BYTES = 4 * 2 ** 30;

/** The file, as messages name it, and what bounds a dataset's size. */
export interface LayoutContext {
  /** Path shown in messages (for a .keras archive: `x.keras!model.weights.h5`). */
  readonly file: string;
  readonly h5: Hdf5File;
  /** Bytes of the HDF5 file (contiguous datasets cannot be larger). */
  readonly size: number;
  /** The model config, from the archive's config.json (Keras 3). */
  readonly config?: unknown;
}

export interface KerasContents {
  readonly structure: KerasStructure;
  readonly tensors: readonly StoredTensor[];
  readonly metadata: Record<string, unknown>;
}

const fail = (ctx: LayoutContext, what: string, tensor?: string) => new FormatError('keras', { file: ctx.file, tensor }, what);

const join = (group: string, name: string) => (group === '/' ? `/${name}` : `${group}/${name}`);

/** An attribute decoded as a list of strings (h5wasm gives fixed and variable-length strings as strings). */
function stringList(ctx: LayoutContext, node: H5Node, name: string): string[] | undefined {
  const a = node.attrs[name];
  if (!a) return undefined;
  if (a.error !== undefined) throw fail(ctx, `attribute '${name}' of ${node.path} cannot be read: ${a.error}`);
  const v = a.value;
  const clean = (s: string) => s.replace(/\0+$/, '');
  if (typeof v === 'string') return [clean(v)];
  if (Array.isArray(v) && v.every((s) => typeof s === 'string')) return v.map(clean);
  // Keras writes an empty list as an empty float64 array.
  if (ArrayBuffer.isView(v) && (v as unknown as { length: number }).length === 0) return [];
  if (v === null) return [];
  throw fail(ctx, `attribute '${name}' of ${node.path} is not a list of strings`);
}

/** load_attributes_from_hdf5_group: `name`, or the chunks `name0`, `name1`, ... joined. */
function loadAttributes(ctx: LayoutContext, node: H5Node, name: string): string[] | undefined {
  const whole = stringList(ctx, node, name);
  if (whole) return whole;
  if (!node.attrs[`${name}0`]) return undefined;
  const out: string[] = [];
  for (let k = 0; node.attrs[`${name}${k}`]; k++) out.push(...stringList(ctx, node, `${name}${k}`)!);
  return out;
}

function stringAttr(node: H5Node | undefined, name: string): string | undefined {
  const v = node?.attrs[name]?.value;
  if (typeof v === 'string') return v.replace(/\0+$/, '');
  if (Array.isArray(v) && typeof v[0] === 'string' && v.length === 1) return v[0];
  return undefined;
}

function dtypeOf(ctx: LayoutContext, node: H5Node, tensor: string): DType {
  const d = node.dataset!;
  const bf16 = stringAttr(node, 'dtype') === 'bfloat16' && d.size === 2;
  if (bf16) return 'bfloat16';
  if (!d.vlen && d.type === 1) {
    const t = ({ 2: 'float16', 4: 'float32', 8: 'float64' } as const)[d.size as 2 | 4 | 8];
    if (t) return t;
  }
  if (!d.vlen && d.type === 0) {
    const t = (d.signed ? { 1: 'int8', 2: 'int16', 4: 'int32', 8: 'int64' } : { 1: 'uint8', 2: 'uint16' })[d.size as 1 | 2];
    if (t) return t as DType;
  }
  const kind = d.type === 0 ? 'integer' : d.type === 1 ? 'float' : `type class ${d.type}`;
  throw fail(ctx, `dataset ${node.path} holds ${d.vlen ? 'variable-length ' : ''}${d.size}-byte ${d.signed ? '' : 'unsigned '}${kind} values, not a tensor type`, tensor);
}

/** A stored tensor for the dataset at `path`, read through the worker when asked. */
function tensorOf(ctx: LayoutContext, path: string, name: string): StoredTensor {
  const node = ctx.h5.nodes.get(path);
  if (!node) throw fail(ctx, `no dataset ${path}`, name);
  if (node.kind !== 'dataset' || !node.dataset) throw fail(ctx, `${path} is a ${node.kind}, not a dataset`, name);
  const dtype = dtypeOf(ctx, node, name);
  const shape = node.dataset.shape;
  if (!shape) throw fail(ctx, `dataset ${path} has no dataspace`, name);
  if (shape.some((s) => !Number.isSafeInteger(s) || s < 0)) throw fail(ctx, `dataset ${path} has a malformed shape [${shape}]`, name);
  const byteLength = shape.reduce((a, b) => a * b, 1) * DTYPE_SIZE[dtype];
  const limit = node.dataset.chunks ? MAX_TENSOR_BYTES : ctx.size;
  if (!Number.isSafeInteger(byteLength) || byteLength > limit)
    throw fail(ctx, `dataset ${path} of shape [${shape}] needs ${byteLength} bytes, more than ${node.dataset.chunks ? 'the limit of' : 'the file holds:'} ${limit}`, name);
  return {
    name,
    dtype,
    shape,
    byteLength,
    file: ctx.file,
    freshReads: true, // both HDF5 engines return a new buffer per dataset read
    async read() {
      let bytes: Uint8Array;
      try {
        bytes = await ctx.h5.read(path, byteLength);
      } catch (e) {
        const msg = e instanceof Hdf5Error ? e.message : (e as Error).message;
        throw new FormatError('keras', { file: ctx.file, tensor: name }, `cannot read dataset ${path}: ${msg}`, { cause: e });
      }
      if (bytes.byteLength !== byteLength)
        throw new FormatError('keras', { file: ctx.file, tensor: name }, `dataset ${path} gave ${bytes.byteLength} bytes, expected ${byteLength}`);
      // Little-endian whatever the file's order: both HDF5 engines convert big-endian data as they read.
      return bytes;
    },
  };
}

const weightBase = (w: string) => w.slice(w.lastIndexOf('/') + 1).replace(/:\d+$/, '');

// ---------------------------------------------------------------------------------------------
// Legacy layout

function legacyLayers(ctx: LayoutContext, group: H5Node, config: ModelConfig | undefined): KerasLayer[] {
  const names = loadAttributes(ctx, group, 'layer_names')!;
  const configByName = new Map((config?.layers ?? []).map((l) => [l.name, l]));
  const out: KerasLayer[] = [];
  const addGroup = (layerName: string, required: boolean) => {
    const path = join(group.path, layerName);
    const node = ctx.h5.nodes.get(path);
    if (!node || node.kind !== 'group') {
      if (!required) return;
      throw fail(ctx, `layer '${layerName}' is listed in layer_names but ${node ? `${path} is a ${node.kind}` : `there is no group ${path}`}`);
    }
    const weightNames = loadAttributes(ctx, node, 'weight_names') ?? [];
    if (weightNames.length === 0) return;
    const weights = weightNames.map((w) => tensorOf(ctx, join(path, w), `${layerName}/${w}`));
    // One layer, or a nested model whose weight names span several sub-layers (by name prefix).
    const prefix = (w: string) => (w.includes('/') ? w.slice(0, w.lastIndexOf('/')) : '');
    const prefixes = [...new Set(weightNames.map(prefix))];
    const cfg = configByName.get(layerName);
    if (prefixes.length <= 1) {
      out.push({ name: layerName, path, weights, weightNames: weightNames.map(weightBase), ...(cfg ? { className: cfg.className, config: cfg.config } : {}) });
      return;
    }
    const subConfig = new Map((cfg?.layers ?? []).map((l) => [l.name, l]));
    for (const p of prefixes) {
      const idx = weightNames.map((w, i) => (prefix(w) === p ? i : -1)).filter((i) => i >= 0);
      const sub = subConfig.get(p.slice(p.lastIndexOf('/') + 1));
      out.push({
        name: `${layerName}/${p}`,
        path,
        weights: idx.map((i) => weights[i]),
        weightNames: idx.map((i) => weightBase(weightNames[i])),
        ...(sub ? { className: sub.className, config: sub.config } : {}),
      });
    }
  };
  for (const name of names) addGroup(name, true);
  // Keras 3 adds the model's own variables (none for these models) under this group.
  if (!names.includes('top_level_model_weights')) addGroup('top_level_model_weights', false);
  if (config) {
    // The config is the model the weights were saved from: Keras rebuilds it and loads the layers
    // that have weights, in order, from layer_names. Both must list them in the same order.
    const weighted = [...new Set(out.map((l) => l.name.split('/')[0]))].filter((n) => n !== 'top_level_model_weights');
    const listed = config.layers.map((l) => l.name).filter((n) => weighted.includes(n));
    const missing = weighted.find((n) => !configByName.has(n));
    if (missing !== undefined) throw fail(ctx, `layer '${missing}' has weights but is not in model_config`);
    const diff = weighted.findIndex((n, i) => listed[i] !== n);
    if (diff >= 0) throw fail(ctx, `model_config and layer_names order the layers with weights differently: #${diff} is '${listed[diff]}' in the config, '${weighted[diff]}' in layer_names`);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Keras 3 layout

/** A Keras 3 BatchNormalization's variables: gamma (if scale), beta (if center), moving_mean, moving_variance. */
function keras3WeightNames(className: string | undefined, count: number, config?: ConfigLayer['config']): string[] {
  const table: Record<string, string[]> = { Conv2D: ['kernel', 'bias'], Dense: ['kernel', 'bias'], DepthwiseConv2D: ['kernel', 'bias'] };
  let names = className ? table[className] : undefined;
  if (className === 'BatchNormalization') {
    const scale = config?.scale ?? count === 4;
    const center = config?.center ?? true;
    names = [...(scale ? ['gamma'] : []), ...(center ? ['beta'] : []), 'moving_mean', 'moving_variance'];
  }
  return Array.from({ length: count }, (_, i) => (names && names.length >= count ? names[i] : `vars/${i}`));
}

function varsOf(ctx: LayoutContext, group: string): { path: string; names: string[] } | undefined {
  const vars = ctx.h5.nodes.get(join(group, 'vars'));
  if (!vars || vars.kind !== 'group' || !vars.children?.length) return undefined;
  const idx = vars.children.map((c) => (/^\d+$/.test(c) ? Number(c) : NaN));
  if (idx.some((i) => Number.isNaN(i))) throw fail(ctx, `${vars.path} holds ${vars.children.find((c) => !/^\d+$/.test(c))}, not only numbered variables`);
  const sorted = [...idx].sort((a, b) => a - b);
  if (sorted.some((v, i) => v !== i)) throw fail(ctx, `${vars.path} numbers its variables ${sorted.join(', ')}, not 0..${sorted.length - 1}`);
  return { path: vars.path, names: sorted.map(String) };
}

function keras3Layer(ctx: LayoutContext, group: string, prefix: string, className: string | undefined, cfg?: ConfigLayer): KerasLayer | undefined {
  const vars = varsOf(ctx, group);
  if (!vars) return undefined;
  const realName = cfg?.name ?? stringAttr(ctx.h5.nodes.get(vars.path), 'name') ?? group.slice(group.lastIndexOf('/') + 1);
  const name = prefix + realName;
  const weightNames = keras3WeightNames(className, vars.names.length, cfg?.config);
  return {
    name,
    path: group,
    ...(className ? { className } : {}),
    ...(cfg ? { config: cfg.config } : {}),
    weightNames,
    weights: vars.names.map((i, k) => tensorOf(ctx, join(vars.path, i), `${name}/${weightNames[k]}`)),
  };
}

/** `conv2d_12` -> family `conv2d`, index 12; `conv2d` -> index 0. */
function family(key: string): { family: string; index: number } {
  const m = /^(.*?)_(\d+)$/.exec(key);
  return m ? { family: m[1], index: Number(m[2]) } : { family: key, index: 0 };
}

/** model.layers order from the config: the k-th layer of a class is the group `<class>[_k]`. */
function keras3ByConfig(ctx: LayoutContext, layersGroup: string, config: readonly ConfigLayer[], prefix: string, seen: Set<string>, out: KerasLayer[]): void {
  const used = new Map<string, number>();
  for (const l of config) {
    const snake = toSnakeCase(l.className);
    const k = used.get(snake);
    used.set(snake, (k ?? -1) + 1);
    const key = k === undefined ? snake : `${snake}_${k + 1}`;
    const group = join(layersGroup, key);
    const node = ctx.h5.nodes.get(group);
    if (!node || node.kind !== 'group') continue; // a layer without state writes no group
    seen.add(group);
    if (l.layers) {
      const layer = keras3Layer(ctx, group, prefix, l.className, l);
      if (layer) out.push(layer);
      keras3ByConfig(ctx, join(group, 'layers'), l.layers, `${prefix}${l.name}/`, seen, out);
    } else {
      const layer = keras3Layer(ctx, group, prefix, l.className, l);
      if (layer) out.push(layer);
    }
  }
}

/** Without a config: each family (`conv2d`, `conv2d_1`, ...) in its own order; nested models in place. */
function keras3ByClass(ctx: LayoutContext, layersGroup: string, prefix: string, seen: Set<string>, out: KerasLayer[]): void {
  const node = ctx.h5.nodes.get(layersGroup);
  const keys = [...(node?.children ?? [])].map((k) => ({ key: k, ...family(k) }));
  keys.sort((a, b) => (a.family < b.family ? -1 : a.family > b.family ? 1 : a.index - b.index));
  for (const { key, family: fam } of keys) {
    const group = join(layersGroup, key);
    seen.add(group);
    const className = CLASS_OF_FAMILY[fam];
    const layer = keras3Layer(ctx, group, prefix, className);
    if (layer) out.push(layer);
    const inner = ctx.h5.nodes.get(join(group, 'layers'));
    if (inner?.kind === 'group') {
      const name = stringAttr(ctx.h5.nodes.get(join(group, 'vars')), 'name') ?? key;
      keras3ByClass(ctx, inner.path, `${prefix}${name}/`, seen, out);
    }
  }
}

/** Groups with variables that the walk did not reach (reported, so that a scheme calls them extra). */
function unvisited(ctx: LayoutContext, seen: Set<string>, out: KerasLayer[]): void {
  for (const node of ctx.h5.nodes.values()) {
    if (node.kind !== 'group' || !node.path.endsWith('/vars') || node.path === '/vars') continue;
    const group = node.path.slice(0, -'/vars'.length);
    if (seen.has(group) || !group.includes('/layers/')) continue;
    const layer = keras3Layer(ctx, group, '', CLASS_OF_FAMILY[family(group.slice(group.lastIndexOf('/') + 1)).family]);
    if (layer && !out.some((l) => l.path === group)) out.push({ ...layer, name: group });
  }
}

// ---------------------------------------------------------------------------------------------

/** Reads the Keras layout of an open HDF5 file. Throws FormatError naming the file and the layer. */
export function readKerasLayout(ctx: LayoutContext, archiveMetadata?: Record<string, unknown>): KerasContents {
  const root = ctx.h5.nodes.get('/');
  if (!root) throw fail(ctx, 'the HDF5 file has no root group');
  let layout: KerasLayout;
  let layers: KerasLayer[];
  let config: ModelConfig | undefined;
  let order: KerasStructure['order'] = 'model';
  let versionNode: H5Node = root;
  const parseConfig = (json: unknown, where: string) => {
    try {
      return parseModelConfig(json);
    } catch (e) {
      throw fail(ctx, `${where} is not a usable Keras model config: ${(e as Error).message}`);
    }
  };
  const hasNames = (n: H5Node | undefined) => Boolean(n && (n.attrs.layer_names || n.attrs.layer_names0));
  const modelWeights = ctx.h5.nodes.get('/model_weights');
  if (hasNames(root)) {
    layout = 'legacy-weights';
    layers = legacyLayers(ctx, root, undefined);
  } else if (modelWeights?.kind === 'group' && hasNames(modelWeights)) {
    layout = 'legacy-model';
    versionNode = modelWeights;
    const json = stringAttr(root, 'model_config');
    if (json !== undefined) config = parseConfig(json, 'model_config');
    layers = legacyLayers(ctx, modelWeights, config);
  } else if (ctx.h5.nodes.get('/layers')?.kind === 'group') {
    layout = ctx.config !== undefined ? 'keras3-archive' : 'keras3-weights';
    const seen = new Set<string>();
    layers = [];
    const top = keras3Layer(ctx, '', '', undefined);
    if (top) layers.push({ ...top, name: 'vars' });
    if (ctx.config !== undefined) {
      config = parseConfig(ctx.config, 'config.json');
      keras3ByConfig(ctx, '/layers', config.layers, '', seen, layers);
    } else {
      order = 'per-class';
      keras3ByClass(ctx, '/layers', '', seen, layers);
    }
    unvisited(ctx, seen, layers);
  } else {
    throw fail(ctx, 'an HDF5 file without a Keras layout (no layer_names attribute, model_weights group or layers group)');
  }
  const softmax = config ? endsInSoftmax(config) : undefined;
  const inputSize = config ? inputSizeOf(config) : undefined;
  const structure: KerasStructure = {
    kind: 'keras',
    layout,
    order,
    layers,
    ...(softmax !== undefined ? { softmax } : {}),
    ...(inputSize !== undefined ? { inputSize } : {}),
  };
  const metadata: Record<string, unknown> = {
    layout,
    keras_version: stringAttr(versionNode, 'keras_version') ?? (archiveMetadata?.keras_version as string | undefined) ?? null,
    backend: stringAttr(versionNode, 'backend') ?? null,
    ...(config ? { model_class: config.className, model_name: config.name ?? null } : {}),
    order,
    layers: layers.map((l) => l.name),
    last_layer: layers.at(-1)?.name ?? null,
    last_layer_softmax: softmax ?? null,
    ...(inputSize !== undefined ? { input_size: inputSize } : {}),
  };
  return { structure, tensors: layers.flatMap((l) => l.weights), metadata };
}
