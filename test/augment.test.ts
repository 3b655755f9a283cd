/**
 * The augmented text transfer set (src/data/augment.ts; Tang et al. 2019): the copies' rules, their repeatability, and
 * data.transfer { type: augment } through prepareData — each data.train row, then its copies with its sentence's fixed
 * columns and label, its words masked by the tokenizer's [UNK], and a transfer-origin.npy saying where each came from.
 * A hand-written tokenizer.json keeps Python out; the engine's side (copies of held-out rows left out) is in
 * python/tests/test_data.py.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError, parseExperiment } from '../src/config';
import { AugmentedTransfer } from '../src/config/schema';
import { prepareData } from '../src/data';
import { augmentTexts } from '../src/data/augment';
import { loadDataset } from '../src/eval/dataset';
import { loadTokenizer } from '../src/preprocess/text';
import { reviews, reviewsCsv, tinyTokenizerJson } from './support/reviews';
import { tempDir } from './support/tiny';

const options = (extra: Record<string, unknown> = {}) => AugmentedTransfer.parse({ type: 'augment', ...extra });
const SENTENCES = ['the film was good', 'a dull and slow story , sadly', '', 'fine'];

describe('augmentTexts', () => {
  test('keeps each sentence first, then distinct copies of it, and draws the same set from the same seed', () => {
    const made = augmentTexts(SENTENCES, options({ copies: 6 }), '[UNK]');
    expect(made).toEqual(augmentTexts(SENTENCES, options({ copies: 6 }), '[UNK]'));
    expect(made.texts).not.toEqual(augmentTexts(SENTENCES, options({ copies: 6, seed: 1 }), '[UNK]').texts);
    expect(made.texts.length).toBe(made.origin.length);
    SENTENCES.forEach((sentence, row) => {
      const mine = made.texts.filter((_, i) => made.origin[i] === row);
      expect(mine[0]).toBe(sentence); // the original first
      expect(new Set(mine).size).toBe(mine.length); // no duplicates
      expect(mine.length).toBeLessThanOrEqual(7);
    });
    expect(made.texts.filter((_, i) => made.origin[i] === 2)).toEqual(['']); // an empty text has no copies
  });

  test('masks every word at mask 1 and samples n-grams of at most maxNgram words at ngram 1', () => {
    const masked = augmentTexts(['a b c d e f'], options({ mask: 1, ngram: 0, original: false }), '[UNK]');
    expect(masked.texts).toEqual(['[UNK] [UNK] [UNK] [UNK] [UNK] [UNK]']);
    const words = 'one two three four five six seven eight nine ten'.split(' ');
    const grams = augmentTexts([words.join(' ')], options({ copies: 50, mask: 0, ngram: 1, maxNgram: 3 }), '[UNK]');
    const copies = grams.texts.slice(1);
    expect(copies.length).toBeGreaterThan(10);
    for (const copy of copies) {
      const n = copy.split(' ').length;
      expect(n).toBeLessThanOrEqual(3);
      expect(words.join(' ')).toContain(copy); // a contiguous n-gram of the sentence
    }
    expect(new Set(copies.map((copy) => copy.split(' ').length))).toEqual(new Set([1, 2, 3]));
  });

  test("at Tang et al.'s rates about one word in ten is masked", () => {
    const sentence = Array.from({ length: 40 }, (_, i) => `w${i}`).join(' ');
    const made = augmentTexts(Array(50).fill(sentence), options({ copies: 4, ngram: 0, original: false }), '[UNK]');
    const words = made.texts.flatMap((text) => text.split(' '));
    const share = words.filter((word) => word === '[UNK]').length / words.length;
    expect(share).toBeGreaterThan(0.07);
    expect(share).toBeLessThan(0.13);
  });
});

describe('data.transfer { type: augment }', () => {
  const folder = tempDir('augment');
  const tokenizerFile = path.join(folder, 'tokenizer.json');
  fs.writeFileSync(tokenizerFile, tinyTokenizerJson());
  const rows = reviews({ rows: 40, seed: 3, mixed: true });
  const trainFile = path.join(folder, 'train.csv');
  fs.writeFileSync(trainFile, reviewsCsv(rows));
  const testFile = path.join(folder, 'test.csv');
  fs.writeFileSync(testFile, reviewsCsv(reviews({ rows: 10, seed: 4, mixed: true })));
  const noEngine = (): never => {
    throw new Error('no tokenizer is fitted here');
  };
  const dataOf = (transfer: Record<string, unknown>, columns: Record<string, string> = { review: 'text' }) =>
    parseExperiment({
      data: {
        train: { type: 'csv', path: trainFile, label: 'label', columns, text: { tokenizer: { file: tokenizerFile } } },
        test: { type: 'csv', path: testFile },
        transfer,
        validation: { type: 'split', fraction: 0.25 },
      },
      teacher: { type: 'train', model: { type: 'textcnn' } },
      students: [{ name: 's', model: { type: 'embedding-bag' }, method: { type: 'soft-targets' } }],
    }).data;
  /** An int64 .npy (version 1, little-endian) as numbers. */
  const int64Npy = (file: string): number[] => {
    const bytes = fs.readFileSync(file);
    const start = 10 + bytes.readUInt16LE(8);
    return Array.from(
      new BigInt64Array(bytes.buffer.slice(bytes.byteOffset + start, bytes.byteOffset + bytes.length)),
      Number,
    );
  };

  test("encodes data.train's rows and their copies with their fixed columns, labels and origin", async () => {
    const dir = tempDir('augment-run');
    const prepared = await prepareData(dataOf({ type: 'augment', copies: 3, mask: 0.5 }), dir, { engine: noEngine });
    const transfer = prepared.data.transfer as { path: string; labelled: boolean };
    expect(transfer.labelled).toBe(true);
    expect(prepared.data.validation).toEqual({ type: 'split', fraction: 0.25 }); // the engine holds it out
    const origin = int64Npy(prepared.data.transferOrigin as string);
    const made = await loadDataset(transfer.path);
    const train = await loadDataset((prepared.data.train as { path: string }).path);
    const n = origin.length;
    const width = train.sampleShape[0]!;
    expect(made.sampleShape).toEqual([width]);
    expect(made.x.length).toBe(n * width);
    expect(prepared.summary.rows.transfer).toBe(n);
    expect(n).toBeGreaterThan(rows.length * 2);
    expect(new Set(origin)).toEqual(new Set(rows.map((_, i) => i)));
    // the copies' texts, for a teacher with its own tokenizer, which reads its own mask token for [UNK]
    const texts = fs
      .readFileSync(prepared.data.texts?.transfer as string, 'utf8')
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as string);
    expect(texts).toHaveLength(n);
    expect(texts.filter((text) => text.includes('[UNK]')).length).toBeGreaterThan(n / 4);
    expect(prepared.data.maskToken).toBe('[UNK]');
    expect(prepared.summary.notes?.some((note) => note.startsWith(`data.transfer: ${n} sentences`))).toBe(true);
    const unk = loadTokenizer(tinyTokenizerJson(), { maxLength: 128, truncation: 'right' }).unkId;
    let masked = 0;
    for (let row = 0; row < n; row++) {
      const from = origin[row]!;
      expect(made.y?.[row]).toBe(train.y?.[from]); // the sentence's label
      expect(made.x[row * width]).toBe(train.x[from * width]); // its stars column
      if (row === 0 || origin[row - 1] !== from) {
        expect(Array.from(made.x.slice(row * width, (row + 1) * width))).toEqual(
          Array.from(train.x.slice(from * width, (from + 1) * width)),
        ); // each sentence as it is, before its copies
      }
      for (let slot = 1; slot < width; slot++) if (made.x[row * width + slot] === unk) masked++;
    }
    expect(masked).toBeGreaterThan(n / 4);
  });

  test('needs a text column, and an unknown token to mask with', async () => {
    const noText = dataOf({ type: 'augment' }, { review: 'categorical' });
    await expect(prepareData(noText, tempDir('augment-none'), { engine: noEngine })).rejects.toThrow(
      /data\.transfer\.type: 'augment' alters the sentences of data\.train's text column, and it has none/,
    );
    const json = JSON.parse(tinyTokenizerJson()) as { model: { unk_token: string | null } };
    json.model.unk_token = null;
    fs.writeFileSync(tokenizerFile, JSON.stringify(json));
    try {
      const error = await prepareData(dataOf({ type: 'augment' }), tempDir('augment-unk'), { engine: noEngine }).then(
        () => null,
        (thrown: unknown) => thrown,
      );
      expect(error).toBeInstanceOf(ConfigError);
      expect(String(error)).toMatch(
        /data\.transfer\.mask: the tokenizer has no unknown token \(its model's unk_token\)/,
      );
      await expect(
        prepareData(dataOf({ type: 'augment', mask: 0 }), tempDir('augment-nomask'), { engine: noEngine }),
      ).resolves.toBeDefined();
    } finally {
      fs.writeFileSync(tokenizerFile, tinyTokenizerJson());
    }
  });

  test('masks with the unknown id when [UNK] is in the vocabulary only (a fitted WordPiece), as the model reads it', async () => {
    const json = JSON.parse(tinyTokenizerJson()) as { added_tokens: { content: string }[] };
    json.added_tokens = json.added_tokens.filter((token) => token.content !== '[UNK]');
    fs.writeFileSync(tokenizerFile, JSON.stringify(json));
    try {
      const dir = tempDir('augment-vocab-unk');
      const prepared = await prepareData(dataOf({ type: 'augment', copies: 3, mask: 0.5, ngram: 0 }), dir, {
        engine: noEngine,
      });
      const made = await loadDataset((prepared.data.transfer as { path: string }).path);
      const width = made.sampleShape[0]!;
      const ids = Array.from(made.x).filter((_, i) => i % width !== 0); // the token slots
      const unk = loadTokenizer(JSON.stringify(json), { maxLength: 128, truncation: 'right' }).unkId;
      expect(unk).toBe(1);
      expect(ids.filter((id) => id === unk).length).toBeGreaterThan(made.size / 4);
      // the model's own tokenizer is unchanged: it still reads the text "[UNK]" as pieces
      expect(
        loadTokenizer(JSON.stringify(json), { maxLength: 128, truncation: 'right' }).encode('[UNK]').ids,
      ).not.toEqual([1]);
      expect(prepared.data.maskToken).toBe('[UNK]');
    } finally {
      fs.writeFileSync(tokenizerFile, tinyTokenizerJson());
    }
  });

  test('is refused for images and arrays, and its options are checked', async () => {
    const mnist = parseExperiment({
      data: { train: { type: 'mnist', split: 'train' }, transfer: { type: 'augment' } },
      teacher: { type: 'train', model: { type: 'mlp' } },
      students: [{ name: 's', model: { type: 'mlp' }, method: { type: 'hard-labels' } }],
    }).data;
    await expect(prepareData(mnist, tempDir('augment-mnist'), { engine: noEngine })).rejects.toThrow(
      /data\.transfer\.type: 'augment' alters the sentences of a table's text column, and data\.train is 'mnist' data/,
    );
    expect(() => AugmentedTransfer.parse({ type: 'augment', copies: 0 })).toThrow(/copies/);
    expect(() => AugmentedTransfer.parse({ type: 'augment', mask: 1.5 })).toThrow(/\[0, 1\]/);
  });
});
