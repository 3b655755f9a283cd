import { DatasetError, datasetFromArrays, loadDataset } from '../src/eval';
import { InputValidationError } from '../src/runtime';
import { expected, fixture } from './fixtures/expected';

describe('loadDataset', () => {
  test('.npz with stored entries: float32 x, int64 y', async () => {
    const data = await loadDataset(fixture('iris.npz'));
    expect(data.x).toBeInstanceOf(Float32Array);
    expect(data.y).toBeInstanceOf(Int32Array);
    expect(data).toMatchObject({ size: 30, sampleShape: [4], targetWidth: 1 });
    expect(Array.from(data.y ?? [])).toEqual(expected.iris.labels);
    expect(Array.from(data.x.subarray(0, 4))).toEqual((expected.iris.samples[0] ?? []).map(Math.fround));
  });

  test('.npz with deflated entries: float64 x, int32 y — the same data', async () => {
    const [stored, deflated] = await Promise.all([
      loadDataset(fixture('iris.npz')),
      loadDataset(fixture('iris_deflated.npz')),
    ]);
    expect(deflated.x).toBeInstanceOf(Float64Array);
    expect(Array.from(deflated.x)).toEqual(Array.from(stored.x));
    expect(deflated.y).toEqual(stored.y);
  });

  test('uint8 images keep their sample shape; float targets with several outputs', async () => {
    const digits = await loadDataset(fixture('digits_u8.npz'));
    expect(digits.x).toBeInstanceOf(Uint8Array);
    expect(digits).toMatchObject({ size: 6, sampleShape: [1, 8, 8] });
    const regression = await loadDataset(fixture('regression.npz'));
    expect(regression.y).toBeInstanceOf(Float32Array);
    expect(regression).toMatchObject({ size: 8, sampleShape: [2, 3], targetWidth: 2 });
  });

  test('.npy holds x only', async () => {
    const data = await loadDataset(fixture('iris_x.npy'));
    expect(data).toMatchObject({ size: 30, sampleShape: [4], y: null });
  });

  test.each<[string, string | null, RegExp]>([
    ['missing.npz', null, /no such file/],
    ['truncated.npz', null, /not a valid .npz archive, or it is truncated or corrupt/],
    ['no_y.npz', 'y', /missing; the archive holds x/],
    ['mismatched.npz', 'y', /has 4 rows but x has 5/],
    ['bad_member.npz', 'x', /not a valid .npy array/],
    ['iris_student.onnx', null, /unsupported file type .onnx/],
  ])('%s fails naming the file (and the array: %s)', async (name, key, message) => {
    const file = fixture(name);
    const error: unknown = await loadDataset(file).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(DatasetError);
    expect(error).toMatchObject({ file, key });
    expect((error as Error).message).toContain(file);
    expect((error as Error).message).toMatch(message);
  });
});

describe('datasetFromArrays', () => {
  test('typed arrays in memory', () => {
    const data = datasetFromArrays({ x: new Float32Array(12), y: Uint8Array.of(0, 1, 2), sampleShape: [2, 2] });
    expect(data).toMatchObject({ size: 3, targetWidth: 1, sampleShape: [2, 2] });
    expect(data.y).toEqual(Int32Array.of(0, 1, 2));
  });

  test.each<[string, () => unknown, string]>([
    [
      'x not a multiple of the sample',
      () => datasetFromArrays({ x: new Float32Array(5), sampleShape: [2] }),
      'dataset.x',
    ],
    ['x of the wrong type', () => datasetFromArrays({ x: [1, 2] as never, sampleShape: [2] }), 'dataset.x'],
    ['bad sample shape', () => datasetFromArrays({ x: new Float32Array(4), sampleShape: [0] }), 'dataset.sampleShape'],
    [
      'y of the wrong length',
      () => datasetFromArrays({ x: new Float32Array(4), y: Int32Array.of(1, 2, 3), sampleShape: [2] }),
      'dataset.y',
    ],
  ])('%s', (_name, call, field) => {
    expect(call).toThrow(InputValidationError);
    expect(call).toThrow(new RegExp(`^${field.replace('.', '\\.')}: expected`));
  });
});
