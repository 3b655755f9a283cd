/** prepareData's own rules (src/data/index.ts) and raw inputs given to a model that takes arrays only. */
import * as path from 'node:path';
import { ConfigError } from '../src/config';
import { parseExperiment } from '../src/config';
import { prepareData } from '../src/data';
import { InputValidationError, OnnxModel } from '../src/runtime';
import { ROOT, tempDir, tinyData } from './support/tiny';

function dataOf(data: Record<string, unknown>) {
  return parseExperiment({
    data,
    teacher: { type: 'train', model: { type: 'mlp' } },
    students: [{ name: 's', model: { type: 'mlp' }, method: { type: 'hard-labels' } }],
  }).data;
}

describe('prepareData', () => {
  test('arrays pass through untouched, with no preprocessing recorded', async () => {
    const prepared = await prepareData(dataOf(tinyData), tempDir('prepare'));
    expect(prepared.data.preprocess).toBeNull();
    expect(prepared.data.train).toEqual(dataOf(tinyData).train);
    expect(prepared.summary).toEqual({ kind: 'arrays', rows: {}, skipped: {} });
  });

  test('every split must be encoded the same way: a table with an image folder, or with arrays, is refused naming the split', async () => {
    const table = { type: 'csv', path: '/data/train.csv', label: 'y' };
    const mixed = await prepareData(
      dataOf({ train: table, test: { type: 'images', path: '/data/test', size: [8, 8] } }),
      tempDir('prepare'),
    ).catch((e: unknown) => e);
    expect(mixed).toBeInstanceOf(ConfigError);
    expect((mixed as ConfigError).field).toBe('data.test.type');
    expect((mixed as ConfigError).message).toContain("expected 'csv' like data.train");
    const arrays = await prepareData(dataOf({ train: table, test: tinyData.test }), tempDir('prepare')).catch(
      (e: unknown) => e,
    );
    expect((arrays as ConfigError).field).toBe('data.test.type');
  });

  test('the encoding is fitted on data.train: a table only in the test split is refused', async () => {
    const error = await prepareData(
      dataOf({ train: tinyData.train, test: { type: 'csv', path: '/data/test.csv', label: 'y' } }),
      tempDir('prepare'),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).field).toBe('data.train.type');
  });
});

describe('raw inputs for a model trained on arrays', () => {
  test('a table row is refused with a typed error saying the model takes arrays', async () => {
    const model = await OnnxModel.load(path.join(ROOT, 'models', 'mnist-student.onnx'));
    try {
      expect(model.info.preprocess).toBeNull();
      const error = await model.predict({ carat: 0.3 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InputValidationError);
      expect((error as InputValidationError).message).toContain(
        'sample: expected an array of numbers: this model was not trained on a table',
      );
    } finally {
      await model.close();
    }
  });
});
