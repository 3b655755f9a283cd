/**
 * Word vectors through `run()` (issue 27): a student's `model.vectors` (a GloVe file, its path relative to the
 * experiment's folder) starts its embedding table, and report.json and report.md say how much of the vocabulary and
 * of data.train's tokens the file covered. The matching rules and errors are tested in python/tests/test_vectors.py.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { run } from '../src/experiment';
import { reviews, reviewsCsv } from './support/reviews';
import { tempDir } from './support/tiny';

const quick = { epochs: 2, batchSize: 64, optimizer: { type: 'adam', lr: 0.01 } } as const;
// The reviews' sentiment words; 'Great' meets the lower-casing tokenizer's 'great' in another casing.
const WORDS = ['Great', 'excellent', 'loved', 'awful', 'terrible', 'boring', 'the', 'movie'];

test('the report carries the word vectors coverage of a student', async () => {
  const folder = tempDir('text-vectors');
  fs.writeFileSync(path.join(folder, 'train.csv'), reviewsCsv(reviews({ rows: 200, seed: 1 })));
  fs.writeFileSync(path.join(folder, 'test.csv'), reviewsCsv(reviews({ rows: 50, seed: 2 })));
  const lines = WORDS.map((word, i) => [word, ...Array.from({ length: 8 }, (_, k) => ((i + k) % 5) / 10)].join(' '));
  fs.writeFileSync(path.join(folder, 'glove.txt'), lines.join('\n') + '\n');
  const outDir = path.join(folder, 'out');
  const report = await run(
    {
      name: 'vectors',
      seed: 0,
      device: 'cpu',
      data: {
        train: { type: 'csv', path: 'train.csv', label: 'label', text: { vocabSize: 300, minFrequency: 1 } },
        test: { type: 'csv', path: 'test.csv' },
      },
      teacher: { type: 'train', model: { type: 'embedding-bag', dim: 8, buckets: 0 }, training: quick },
      students: [
        {
          name: 'bag',
          model: { type: 'embedding-bag', dim: 8, buckets: 0, vectors: { path: 'glove.txt', freeze: true } },
          method: { type: 'hard-labels' },
          training: quick,
        },
      ],
      evaluate: { benchmark: false },
    },
    { outDir, baseDir: folder },
  );
  const [coverage] = report.students[0]!.vectors!;
  expect(coverage).toMatchObject({
    field: 'students[0].model.vectors',
    path: path.join(folder, 'glove.txt'),
    format: 'glove',
    dim: 8,
    freeze: true,
    matched: WORDS.length,
    lowercased: 1,
  });
  expect(coverage!.share).toBeCloseTo(WORDS.length / coverage!.vocabulary, 10);
  expect(coverage!.trainShare).toBeGreaterThan(0);
  expect(report.teacher.vectors).toBeUndefined();
  const json = JSON.parse(fs.readFileSync(path.join(outDir, 'report.json'), 'utf8'));
  expect(json.students[0].vectors).toEqual(report.students[0]!.vectors);
  expect(fs.readFileSync(path.join(outDir, 'report.md'), 'utf8')).toContain(
    `Word vectors of **bag** (\`students[0].model.vectors\`, glove.txt, 8 dimensions, frozen): ${WORDS.length} of`,
  );
}, 120_000);
