/**
 * Typed arrays handed over from TypeScript travel to Python as an .npz file —
 * never element by element through the bridge (1e6 floats cost ~0.7 s there).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { zipSync } from 'fflate';
import { z } from 'zod';
import { ConfigError } from '../config/errors';
import type { DataSourceConfig } from '../config/schema';
import { writeFileAtomic } from '../experiment/files';

const TypedArray = z.union([
  z.instanceof(Float32Array),
  z.instanceof(Float64Array),
  z.instanceof(Int32Array),
  z.instanceof(Uint8Array),
]);

/** In-memory data: `x` holds N samples of `sampleShape`, row-major; `y` N labels or targets. */
export const ArraySource = z.strictObject({
  type: z.literal('arrays'),
  x: TypedArray,
  sampleShape: z.array(z.number().int().positive()).min(1),
  y: TypedArray.optional(),
  labelled: z.boolean().default(true),
});
export type ArraySourceInput = z.input<typeof ArraySource>;

const DTYPES: Array<[new (...args: never[]) => ArrayBufferView, string]> = [
  [Float32Array, '<f4'],
  [Float64Array, '<f8'],
  [Int32Array, '<i4'],
  [Uint8Array, '|u1'],
  [BigInt64Array, '<i8'],
];

/** An .npy file's bytes (format 1.0) for a typed array of the given shape. */
export function npyBytes(array: ArrayBufferView, shape: readonly number[]): Uint8Array {
  const dtype = DTYPES.find(([type]) => array instanceof type)?.[1];
  if (!dtype) throw new TypeError(`unsupported array type ${array.constructor.name}`);
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${dtype}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  // The header is padded with spaces so that the data starts on a 64-byte boundary.
  const unpadded = 10 + header.length + 1;
  header += ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const bytes = new Uint8Array(10 + header.length + array.byteLength);
  bytes.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0); // \x93NUMPY v1.0
  new DataView(bytes.buffer).setUint16(8, header.length, true);
  bytes.set(Buffer.from(header, 'latin1'), 10);
  bytes.set(new Uint8Array(array.buffer, array.byteOffset, array.byteLength), 10 + header.length);
  return bytes;
}

/** Writes an ArraySource to `<dir>/<name>.npz` and returns the equivalent file source. */
export function materializeArrays(value: unknown, dir: string, name: string, where: string): DataSourceConfig {
  const parsed = ArraySource.safeParse(value);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((issue) => ({ path: [where, ...issue.path].join('.'), message: issue.message })));
  }
  const source = parsed.data;
  const features = source.sampleShape.reduce((a, b) => a * b, 1);
  const rows = source.x.length / features;
  if (!Number.isInteger(rows) || rows === 0) {
    throw new ConfigError([{ path: `${where}.x`, message: `expected a non-empty multiple of ${features} values (sampleShape ${JSON.stringify(source.sampleShape)}), got ${source.x.length}` }]);
  }
  const files: Record<string, Uint8Array> = { 'x.npy': npyBytes(source.x, [rows, ...source.sampleShape]) };
  if (source.y) {
    if (source.y.length % rows !== 0) {
      throw new ConfigError([{ path: `${where}.y`, message: `expected ${rows} labels (or a multiple for several targets), got ${source.y.length}` }]);
    }
    const width = source.y.length / rows;
    files['y.npy'] = npyBytes(source.y, width === 1 ? [rows] : [rows, width]);
  }
  const file = path.join(dir, `${name}.npz`);
  writeFileAtomic(file, zipSync(files, { level: 0 }));
  return { type: 'file', path: file, x: 'x', y: 'y', offset: 0, labelled: source.labelled };
}

/** A fresh folder for array files when the caller gives none. */
export function scratchDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'distillery-arrays-'));
}
