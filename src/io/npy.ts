/**
 * The .npy format (version 1.0) that numpy reads: arrays from TypeScript reach the engine as .npy members of
 * .npz files, never element by element through the bridge.
 */
const DTYPES: [new (...args: never[]) => ArrayBufferView, string][] = [
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
  const [only] = shape;
  const shapeText = shape.length === 1 && only !== undefined ? `(${only},)` : `(${shape.join(', ')})`;
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
