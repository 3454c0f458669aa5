/**
 * What both HDF5 engines share (the pure-TypeScript reader in ../hdf5-native.ts and the h5wasm
 * worker in ../hdf5.ts): the object list they hand to the Keras layout code, the open-file
 * interface, the errors and the limits. ../hdf5.ts re-exports all of it.
 */

/** One object of an HDF5 file, as the worker lists it. */
export interface H5Node {
  /** Absolute path, `/` for the root group. */
  readonly path: string;
  readonly kind: 'group' | 'dataset' | 'other';
  /** Attribute name -> decoded value (h5wasm's decoding), or the reason it could not be decoded. */
  readonly attrs: Readonly<Record<string, { readonly value?: unknown; readonly error?: string }>>;
  /** Names of a group's members (as HDF5 lists them: by name). */
  readonly children?: readonly string[];
  readonly dataset?: H5DatasetInfo;
}

export interface H5DatasetInfo {
  /** Null for a dataset without a dataspace. */
  readonly shape: readonly number[] | null;
  /** HDF5 type class: 0 integer, 1 float, others (strings, compounds...) are not tensors. */
  readonly type: number;
  /** Bytes per element. */
  readonly size: number;
  readonly signed: boolean;
  /** The file's byte order (`read` hands out little-endian bytes either way). */
  readonly littleEndian: boolean;
  readonly vlen: boolean;
  readonly chunks: readonly number[] | null;
}

/** An open HDF5 file: its objects, and the bytes of any dataset on request. */
export interface Hdf5File {
  readonly nodes: ReadonlyMap<string, H5Node>;
  /**
   * The bytes of a numeric dataset in little-endian order (h5wasm converts big-endian data as it
   * reads, and so does the built-in reader); at most `maxBytes`.
   */
  read(path: string, maxBytes: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

export type Hdf5Source = { readonly path: string } | { readonly bytes: Uint8Array; readonly name: string };

/** Every failure of the HDF5 layer; `aborted` when the wasm instance died (abort, crash, time-out). */
export class Hdf5Error extends Error {
  constructor(
    message: string,
    readonly aborted = false,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'Hdf5Error';
  }
}

/**
 * A valid HDF5 feature the pure-TypeScript reader does not implement (chunked or compressed
 * datasets, dense link or attribute storage, object header v2, shared messages...): openHdf5 then
 * opens the file with h5wasm instead. Never a sign of a corrupt file (those are plain Hdf5Errors).
 */
export class Hdf5Unsupported extends Hdf5Error {
  constructor(message: string) {
    super(message);
    this.name = 'Hdf5Unsupported';
  }
}

/** Objects listed at most (a Keras Inception-ResNet-v2 file holds about 2,500). */
export const MAX_OBJECTS = 200_000;
/** Group nesting at most (Keras files nest 3 to 6 deep); also stops cycles of hard links. */
export const MAX_DEPTH = 64;
