/** What the Keras reader hands to the Keras scheme, beside the flat tensor list (SourceModel.structure). */
import type { StoredTensor } from '../types.js';

/** How the file stores the weights. */
export type KerasLayout =
  /** Keras 2 / tf.keras `save_weights('x.h5')`: root attributes `layer_names`, one group per layer. */
  | 'legacy-weights'
  /** Keras 2 / tf.keras `save('x.h5')`: the same under `model_weights`, plus `model_config` JSON. */
  | 'legacy-model'
  /** Keras 3 `save_weights('x.weights.h5')`: `layers/<class>[_k]/vars/<i>`. */
  | 'keras3-weights'
  /** Keras 3 `save('x.keras')`: a zip of config.json, metadata.json and model.weights.h5. */
  | 'keras3-archive';

/** The few config fields a scheme can check a layer against (plain data from the model config). */
export interface KerasLayerConfig {
  readonly activation?: string;
  readonly use_bias?: boolean;
  readonly scale?: boolean;
  readonly center?: boolean;
  readonly epsilon?: number;
  readonly strides?: readonly number[];
  readonly padding?: string;
  readonly kernel_size?: readonly number[];
  readonly filters?: number;
  readonly units?: number;
}

/** A layer that has weights, with its weights in the order Keras loads them. */
export interface KerasLayer {
  /** Layer name; a layer of a nested model is `outer/inner`. */
  readonly name: string;
  /** Keras class (`Conv2D`, `BatchNormalization`, `Dense`...), from the config or a Keras 3 group name. */
  readonly className?: string;
  /** The HDF5 group that holds its weights (for messages). */
  readonly path: string;
  readonly config?: KerasLayerConfig;
  /** Short weight names (`kernel`, `bias`, `beta`, `moving_mean`... or `vars/<i>` when unknown), one per weight. */
  readonly weightNames: readonly string[];
  readonly weights: readonly StoredTensor[];
}

export interface KerasStructure {
  readonly kind: 'keras';
  readonly layout: KerasLayout;
  /**
   * `model`: `layers` is in Keras' load order (model.layers, from `layer_names` or the config).
   * `per-class`: a Keras 3 `.weights.h5` without its config; the file tells the order within each
   * class (`conv2d`, `conv2d_1`, ...) but not how the classes interleave, so layers must be matched
   * class by class (which is how Keras 3 itself addresses them: by class and index).
   */
  readonly order: 'model' | 'per-class';
  readonly layers: readonly KerasLayer[];
  /** The model's output is a softmax (from the config); undefined when the file has no config. */
  readonly softmax?: boolean;
  /** Input height (= width) from the config's input layer, when stated. */
  readonly inputSize?: number;
}

export const isKerasStructure = (s: unknown): s is KerasStructure =>
  typeof s === 'object' && s !== null && (s as { kind?: unknown }).kind === 'keras' && Array.isArray((s as { layers?: unknown }).layers);
