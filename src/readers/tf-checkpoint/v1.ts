/**
 * TensorFlow V1 checkpoints (tensorflow/core/util/tensor_slice_writer.cc, tensor_slice_reader.cc):
 * one LevelDB table of SavedTensorSlices protos. The entry under the empty key holds the metadata
 * (each tensor's name, shape, dtype and slices); every other entry holds one slice of one tensor
 * (a TensorProto with `tensor_content` or typed values), under the key EncodeTensorNameSlice(name,
 * slice). A variable saved whole has one slice covering it; a partitioned one has several, which
 * are reassembled here.
 */
import { FormatError } from '../../errors.js';
import { DTYPE_SIZE } from '../../tensor.js';
import type { ReadOptions, StoredTensor } from '../types.js';
import { lendPrefix, takeBuffer } from '../../io/pool.js';
import { FORMAT, openRangeFile, type RangeFile } from './file.js';
import { decodeSavedTensorSlices, dtypeName, dtypeOf, type Extent, type SliceMeta, type TensorValues } from './protos.js';
import { copySlice, encodeTensorNameSlice, isFullSlice, sliceBox, tensorValueBytes } from './slices.js';
import { DecodeError, openTable, type BlockHandle, type Table } from './sstable.js';

export interface V1Checkpoint {
  readonly path: string;
  readonly tensors: readonly StoredTensor[];
  readonly table: Table;
  close(): Promise<void>;
}

const elements = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);
const hex = (k: Uint8Array) => Buffer.from(k).toString('latin1');

export async function openV1(path: string, options: ReadOptions = {}): Promise<V1Checkpoint> {
  const file: RangeFile = await openRangeFile(path);
  try {
    return await readMeta(file, options);
  } catch (e) {
    await file.close();
    throw e;
  }
}

async function readMeta(file: RangeFile, options: ReadOptions): Promise<V1Checkpoint> {
  const path = file.path;
  const table = await openTable(file, { verify: options.verify, checks: options.checks, what: 'TensorFlow V1 checkpoint' });
  const found = await table.get(new Uint8Array(0));
  if (!found) throw new FormatError(FORMAT, { file: path }, 'no SavedTensorSlices metadata (the empty key): not a V1 checkpoint');
  // everything rests on the metadata: its block is checked now even when the data's are deferred
  if (options.checks) await table.checkBlockNow(found.block);
  let meta: SliceMeta[] | undefined;
  try {
    meta = decodeSavedTensorSlices(found.value).meta;
  } catch (e) {
    if (e instanceof DecodeError) throw new FormatError(FORMAT, { file: path, offset: found.block.offset }, `bad metadata: ${e.message}`);
    throw e;
  }
  if (!meta) throw new FormatError(FORMAT, { file: path, offset: found.block.offset }, 'the metadata entry holds no SavedTensorSliceMeta');

  // data entries by key, filled on first use only when a computed key is not found (a writer
  // that encodes keys differently): a scan of the whole table
  let scanned: Map<string, { value: Uint8Array; block: BlockHandle }> | undefined;
  // `use(value, block, take)` while the block is held (it copies what it keeps, or takes the
  // block: Table.withValue); undefined: no such key
  const lookup = async <T>(key: Uint8Array, tensor: string, use: (value: Uint8Array, block: BlockHandle, take?: () => Uint8Array | undefined) => T): Promise<T | undefined> => {
    const hit = await table.withValue(key, tensor, use);
    if (hit !== undefined) return hit;
    if (!scanned) {
      scanned = new Map();
      for await (const e of table.entries()) {
        if (e.key.length === 0) continue;
        try {
          const d = decodeSavedTensorSlices(e.value).data;
          if (d) scanned.set(hex(encodeTensorNameSlice(d.name, d.slice)), { value: e.value, block: e.block });
        } catch {
          // a bad entry fails when its own tensor is read
        }
      }
    }
    const found = scanned.get(hex(key));
    return found && use(found.value, found.block);
  };

  const tensors = meta.map((m): StoredTensor => {
    const dtype = dtypeOf(m.dtype);
    if (!dtype)
      throw new FormatError(FORMAT, { file: path, tensor: m.name, offset: found.block.offset }, `unsupported dtype ${dtypeName(m.dtype)} (supported: float32, float16, bfloat16, float64, int32, int64)`);
    const shape = m.shape.dims;
    if (m.shape.unknownRank || shape.some((d) => d < 0)) throw new FormatError(FORMAT, { file: path, tensor: m.name }, `shape [${shape}] is not fully known`);
    if (m.slices.length === 0) throw new FormatError(FORMAT, { file: path, tensor: m.name }, 'the metadata lists no slice of this tensor');
    const size = DTYPE_SIZE[dtype];
    const byteLength = elements(shape) * size;
    // values take at least one byte per element (varints) and the slices must tile the tensor,
    // so a shape the file cannot hold is corrupt: refused before anything is allocated
    if (!Number.isSafeInteger(byteLength) || elements(shape) > file.size)
      throw new FormatError(FORMAT, { file: path, tensor: m.name, offset: found.block.offset }, `shape [${shape}] holds more elements than the ${file.size}-byte file can store`);
    const boxes = m.slices.map((s) => {
      try {
        return { extents: s, box: sliceBox(s, shape) };
      } catch (e) {
        throw new FormatError(FORMAT, { file: path, tensor: m.name }, (e as Error).message);
      }
    });
    // decodes one slice and hands its bytes to `place`, which copies them out of the block (or,
    // given `take` and bytes that are a view of the block, may keep the block)
    const readSlice = async <T>(extents: Extent[], box: { size: number[] }, place: (bytes: Uint8Array, take?: () => Uint8Array | undefined) => T): Promise<T> => {
      const got = await lookup(encodeTensorNameSlice(m.name, extents), m.name, (value, block, take): { placed: T } | { bad: DecodeError; block: BlockHandle } => {
        try {
          const data = decodeSavedTensorSlices(value).data;
          if (!data || data.name !== m.name) throw new DecodeError(`entry holds ${data ? `'${data.name}'` : 'no data'}`, 0);
          const values: TensorValues = data.values ?? { dtype: m.dtype, chunks: [], at: 0 };
          const bytes = tensorValueBytes(values, dtype, elements(box.size));
          return { placed: place(bytes, bytes.buffer === value.buffer ? take : undefined) };
        } catch (e) {
          if (e instanceof DecodeError) return { bad: e, block };
          throw e;
        }
      });
      if (!got) throw new FormatError(FORMAT, { file: path, tensor: m.name }, `slice ${JSON.stringify(extents)} is listed in the metadata but not stored`);
      if ('placed' in got) return got.placed;
      if (options.checks) await table.checkBlockNow(got.block, m.name); // corruption, if the CRC says so
      throw new FormatError(FORMAT, { file: path, tensor: m.name, offset: got.block.offset }, got.bad.message);
    };
    const covered = boxes.reduce((n, b) => n + elements(b.box.size), 0);
    if (covered !== elements(shape))
      throw new FormatError(FORMAT, { file: path, tensor: m.name, offset: found.block.offset }, `its slices cover ${covered} elements, shape [${shape}] has ${elements(shape)}`);
    return {
      name: m.name,
      dtype,
      shape,
      byteLength,
      file: path,
      // A tensor's bytes lie inside a block at any alignment. In a block of its own (most of the
      // bytes), they are moved to the block's start and the block's memory (io/pool) becomes the
      // tensor's; else copied out into memory of its own. Either way its float32 view can use it in
      // place and a writer give it back. (A partitioned tensor is put together in a new array.)
      freshReads: true,
      async read() {
        if (boxes.length === 1 && isFullSlice(boxes[0].extents, shape))
          return readSlice(boxes[0].extents, boxes[0].box, (bytes, take) => {
            const block = take?.();
            const kept = block && lendPrefix(block, bytes.length); // (not for memory that is not io/pool's)
            if (block && kept) {
              const at = bytes.byteOffset - block.byteOffset;
              block.copyWithin(0, at, at + bytes.length);
              return kept;
            }
            const own = takeBuffer(bytes.length);
            own.set(bytes);
            return own;
          });
        const out = new Uint8Array(byteLength);
        for (const { extents, box } of boxes)
          await readSlice(extents, box, (bytes) => {
            try {
              copySlice(out, shape, bytes, box, size);
            } catch (e) {
              throw new FormatError(FORMAT, { file: path, tensor: m.name }, (e as Error).message);
            }
            return true;
          });
        return out;
      },
    };
  });
  return {
    path,
    tensors,
    table,
    close: () => {
      table.release();
      return file.close();
    },
  };
}
