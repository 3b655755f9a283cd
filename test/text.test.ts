/**
 * src/preprocess text encoding, without Python: a hand-written WordPiece tokenizer.json, the packed row
 * `[F fixed slots | maxLength id slots]`, truncation sides, padding, empty texts, the word cache, the spec's rules.
 * Parity with Python `tokenizers` is test/text.parity.test.ts.
 */
import { InputValidationError } from '../src/core/errors';
import { Preprocess, type TablePreprocessSpec } from '../src/preprocess/spec';
import {
  compileTable,
  encodeRow,
  encodeRows,
  encodeText,
  MIN_TEXT_SLOTS,
  textColumnProblem,
} from '../src/preprocess/table';
import { loadTokenizer, sha256Hex, TokenizerError } from '../src/preprocess/text';

const WORDS = ['[PAD]', '[UNK]', 'a', 'fine', 'film', 'dull', 'mess', ',', '!', 'good', '##s', 'σοφοσ', 'ς', 'σ', '𠀀'];
const TOKENIZER = JSON.stringify({
  version: '1.0',
  truncation: null,
  padding: null,
  added_tokens: [
    { id: 0, content: '[PAD]', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
    { id: 1, content: '[UNK]', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
  ],
  normalizer: {
    type: 'BertNormalizer',
    clean_text: true,
    handle_chinese_chars: true,
    strip_accents: null,
    lowercase: true,
  },
  pre_tokenizer: { type: 'BertPreTokenizer' },
  post_processor: null,
  decoder: null,
  model: {
    type: 'WordPiece',
    unk_token: '[UNK]',
    continuing_subword_prefix: '##',
    max_input_chars_per_word: 100,
    vocab: Object.fromEntries(WORDS.map((word, id) => [word, id])),
  },
});
const id = (word: string): number => WORDS.indexOf(word);

function spec(maxLength: number, truncation: 'right' | 'left', withStars = true): TablePreprocessSpec {
  return {
    kind: 'table',
    columns: [
      ...(withStars ? [{ name: 'stars', type: 'numeric' as const, fill: 3 }] : []),
      {
        name: 'review',
        type: 'text' as const,
        maxLength,
        truncation,
        padId: 0,
        vocabSize: WORDS.length,
        tokenizerSha256: 'a'.repeat(64),
      },
    ],
    targets: ['label'],
  };
}

describe('loadTokenizer', () => {
  const right = loadTokenizer(TOKENIZER, { maxLength: 3, truncation: 'right' });
  const left = loadTokenizer(TOKENIZER, { maxLength: 3, truncation: 'left' });

  test('reads the kind, vocabulary size, [PAD] and [UNK]', () => {
    expect([right.kind, right.vocabSize, right.padId, right.unkId]).toEqual(['wordpiece', WORDS.length, 0, 1]);
  });

  test('no [CLS]/[SEP]; lower-cases, splits punctuation, sub-words, unknown words', () => {
    expect(right.tokenize('A FINE film, goods!')).toEqual([
      id('a'),
      id('fine'),
      id('film'),
      id(','),
      id('good'),
      id('##s'),
      id('!'),
    ]);
    expect(right.tokenize('a zebra')).toEqual([id('a'), 1]);
  });

  test('empty and whitespace-only texts have no tokens', () => {
    for (const empty of ['', '   ', '\t\n', '\u200b'])
      expect(right.encode(empty)).toEqual({ ids: [], truncated: false });
  });

  test('truncation keeps the first tokens (right) or the last (left) and says so', () => {
    expect(right.encode('a fine film , dull mess')).toEqual({
      ids: [id('a'), id('fine'), id('film')],
      truncated: true,
    });
    expect(left.encode('a fine film , dull mess')).toEqual({ ids: [id(','), id('dull'), id('mess')], truncated: true });
    expect(left.encode('goods mess')).toEqual({ ids: [id('good'), id('##s'), id('mess')], truncated: false });
    expect(right.encode('a film')).toEqual({ ids: [id('a'), id('film')], truncated: false });
  });

  test('Python’s quirks: Σ lowers to σ everywhere, astral CJK is split off, [UNK]s are not fused across words', () => {
    expect(right.tokenize('ΣΟΦΟΣ')).toEqual([id('σοφοσ')]);
    expect(right.tokenize('a𠀀a')).toEqual([id('a'), id('𠀀'), id('a')]);
    expect(right.tokenize('zebra yak')).toEqual([1, 1]);
  });

  test('added tokens in the raw text are their ids', () => {
    expect(right.tokenize('a [UNK] [PAD]film')).toEqual([id('a'), 1, 0, id('film')]);
  });

  test('the word cache gives the same ids as a fresh tokenizer, many times over', () => {
    const fresh = () => loadTokenizer(TOKENIZER, { maxLength: 100, truncation: 'right' });
    const warm = fresh();
    const texts = ['a fine film', 'goods , dull mess', 'A FINE FILM!', 'fine fine fine'];
    for (let round = 0; round < 3; round++)
      for (const sample of texts) expect(warm.tokenize(sample)).toEqual(fresh().tokenize(sample));
  });

  test('not a tokenizer: a typed error', () => {
    expect(() => loadTokenizer('{nope', { maxLength: 3, truncation: 'right' })).toThrow(TokenizerError);
    expect(() => loadTokenizer('[1]', { maxLength: 3, truncation: 'right' })).toThrow(TokenizerError);
    expect(() => loadTokenizer('{"model": {}}', { maxLength: 3, truncation: 'right' })).toThrow(/no "model"/);
  });
});

test('sha256Hex is the sha256 of the UTF-8 bytes', async () => {
  expect(await sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
});

describe('the packed row', () => {
  test('[F fixed slots | maxLength ids], right-padded with padId', () => {
    const table = spec(4, 'right');
    const tokenizer = loadTokenizer(TOKENIZER, table.columns[1] as { maxLength: number; truncation: 'right' });
    const compiled = compileTable(table, tokenizer);
    expect([compiled.width, compiled.fixedWidth, compiled.text?.name]).toEqual([5, 1, 'review']);
    const out = new Float32Array(5).fill(-1);
    encodeRow(table, { stars: 4, review: 'a film' }, out, 0, 'row');
    expect([...out]).toEqual([4, id('a'), id('film'), 0, 0]);
    encodeRow(table, { review: 'a fine film , dull' }, out, 0, 'row');
    expect([...out]).toEqual([3, id('a'), id('fine'), id('film'), id(',')]);
    encodeRow(table, { stars: 1 }, out, 0, 'row');
    expect([...out]).toEqual([1, 0, 0, 0, 0]);
  });

  test('encodeText reports tokens, truncation and empties; a non-string is a typed error', () => {
    const table = spec(2, 'left', false);
    const compiled = compileTable(table, loadTokenizer(TOKENIZER, { maxLength: 2, truncation: 'left' }));
    const text = compiled.text;
    if (text === null) throw new Error('no text column');
    const out = new Float32Array(2);
    expect(encodeText(text, 'a fine film', out, 0, 2, 'row')).toEqual({ tokens: 2, truncated: true, empty: false });
    expect([...out]).toEqual([id('fine'), id('film')]);
    expect(encodeText(text, null, out, 0, 2, 'row')).toEqual({ tokens: 0, truncated: false, empty: true });
    expect([...out]).toEqual([0, 0]);
    expect(encodeText(text, ' ', out, 0, 2, 'row')).toMatchObject({ empty: true });
    expect(() => encodeText(text, 3, out, 0, 2, 'row')).toThrow(InputValidationError);
  });

  test('encodeRows pads a batch to its longest text (at least MIN_TEXT_SLOTS)', () => {
    const table = spec(20, 'right');
    compileTable(table, loadTokenizer(TOKENIZER, { maxLength: 20, truncation: 'right' }));
    const short = encodeRows(table, [{ stars: 1, review: 'a film' }, { stars: 2 }], (i) => `rows[${i}]`);
    expect(short.width).toBe(1 + MIN_TEXT_SLOTS);
    expect([...short.data.subarray(0, 4)]).toEqual([1, id('a'), id('film'), 0]);
    const long = 'fine '.repeat(12);
    const batch = encodeRows(table, [{ review: long }, { review: 'a' }], (i) => `rows[${i}]`);
    expect(batch.width).toBe(13);
    expect([...batch.data.subarray(13, 16)]).toEqual([3, id('a'), 0]);
    const capped = encodeRows(table, [{ review: long.repeat(3) }], (i) => `rows[${i}]`);
    expect(capped.width).toBe(21);
    expect(() => encodeRows(table, [{ review: 1 }], (i) => `rows[${i}]`)).toThrow(/rows\[0\]\.review/);
  });

  test('a text column without its tokenizer cannot encode', () => {
    const table = spec(3, 'right');
    expect(() => encodeRow(table, { review: 'a' }, new Float32Array(4), 0, 'row')).toThrow(/no tokenizer/);
  });
});

describe('the spec', () => {
  test('at most one text column, and it is last', () => {
    const good = spec(3, 'right');
    expect(Preprocess.safeParse(good).success).toBe(true);
    const notLast = { ...good, columns: [...good.columns].reverse() };
    expect(Preprocess.safeParse(notLast).success).toBe(false);
    expect(textColumnProblem(notLast)).toMatch(/must be the last column/);
    const two = { ...good, columns: [good.columns[1], { ...good.columns[1], name: 'title' }] } as TablePreprocessSpec;
    expect(Preprocess.safeParse(two).success).toBe(false);
    expect(textColumnProblem(two)).toMatch(/review and title/);
    expect(() => compileTable(two)).toThrow(/at most one text column/);
  });

  test('a text column needs a hex sha256 and positive maxLength', () => {
    const bad = spec(0, 'right');
    expect(Preprocess.safeParse(bad).success).toBe(false);
    const column = { ...spec(3, 'right').columns[1], tokenizerSha256: 'XYZ' };
    expect(Preprocess.safeParse({ ...spec(3, 'right'), columns: [column] }).success).toBe(false);
  });
});
