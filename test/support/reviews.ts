/**
 * A tiny synthetic reviews table for the text tests: deterministic (an LCG), two classes decided by sentiment words,
 * with the things real reviews have — capitals, punctuation, commas and quotes (CSV quoting), an embedded newline,
 * accents and an emoji. `mixed` adds a numeric `stars` column that agrees with the label most of the time.
 */
import * as fs from 'node:fs';

const POSITIVE = ['great', 'excellent', 'loved', 'wonderful', 'superb', 'delightful', 'charming', 'brilliant'];
const NEGATIVE = ['awful', 'terrible', 'boring', 'hated', 'dreadful', 'poor', 'dull', 'clumsy'];
const FILLER = [
  'the',
  'movie',
  'plot',
  'acting',
  'was',
  'really',
  'quite',
  'and',
  'story',
  'film',
  'ending',
  'music',
  'cast',
  'a',
  'bit',
  'overall',
  'café',
  'scenes',
];
const EXTRAS = [',', '!', '.', ' 🙂', ' "so to speak"', '\nsecond line'];

/** A deterministic pseudo-random stream in [0, 1). */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return (state >>> 8) / 16777216;
  };
}

export interface Review {
  review: string;
  /** 1-5, with `mixed` only. */
  stars?: number;
  label: 'neg' | 'pos';
}

export interface ReviewOptions {
  rows?: number;
  seed?: number;
  /** Add a numeric `stars` column. */
  mixed?: boolean;
}

/** `rows` reviews (default 400): about half positive, each with 1-3 words of its class among 3-10 fillers. */
export function reviews({ rows = 400, seed = 1, mixed = false }: ReviewOptions = {}): Review[] {
  const next = random(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T;
  const out: Review[] = [];
  for (let i = 0; i < rows; i++) {
    const positive = next() < 0.5;
    const words: string[] = [];
    const fillers = 3 + Math.floor(next() * 8);
    for (let k = 0; k < fillers; k++) words.push(pick(FILLER));
    const cues = 1 + Math.floor(next() * 3);
    for (let k = 0; k < cues; k++) {
      const word = pick(positive ? POSITIVE : NEGATIVE);
      words.splice(Math.floor(next() * (words.length + 1)), 0, word);
    }
    if (next() < 0.1) words.splice(Math.floor(next() * words.length), 0, pick(positive ? NEGATIVE : POSITIVE)); // noise
    let text = words.join(' ');
    if (next() < 0.3) text = text.charAt(0).toUpperCase() + text.slice(1);
    if (next() < 0.3) text += pick(EXTRAS);
    const review: Review = { review: text, label: positive ? 'pos' : 'neg' };
    if (mixed) {
      const agrees = next() < 0.8;
      const good = positive === agrees;
      review.stars = good ? 3 + Math.floor(next() * 3) : 1 + Math.floor(next() * 3);
    }
    out.push(review);
  }
  return out;
}

/** A CSV cell: quoted when it holds a comma, a quote or a newline. */
function cell(value: string | number): string {
  const text = String(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function reviewsCsv(rows: readonly Review[]): string {
  const mixed = rows.some((row) => row.stars !== undefined);
  const header = mixed ? ['stars', 'review', 'label'] : ['review', 'label'];
  const lines = [header.join(',')];
  for (const row of rows) {
    lines.push(
      (mixed ? [row.stars ?? '', row.review, row.label] : [row.review, row.label])
        .map((value) => cell(value))
        .join(','),
    );
  }
  return lines.join('\n') + '\n';
}

export function reviewsJsonl(rows: readonly Review[]): string {
  return rows.map((row) => JSON.stringify(row)).join('\n') + '\n';
}

/** Writes the reviews to `file` as CSV or JSON lines (by its extension). */
export function writeReviews(file: string, options: ReviewOptions = {}): Review[] {
  const rows = reviews(options);
  fs.writeFileSync(file, file.endsWith('.jsonl') ? reviewsJsonl(rows) : reviewsCsv(rows));
  return rows;
}

/**
 * A small hand-written WordPiece tokenizer.json (the Hugging Face format): [PAD] 0, [UNK] 1, then the reviews'
 * words, lower-cased with accents stripped, so data tests need no Python.
 */
export function tinyTokenizerJson(): string {
  const words = [...new Set([...POSITIVE, ...NEGATIVE, ...FILLER.map((word) => word.replace('é', 'e'))])].sort();
  const vocab: Record<string, number> = { '[PAD]': 0, '[UNK]': 1 };
  for (const word of words) vocab[word] = Object.keys(vocab).length;
  for (const mark of [',', '!', '.', '"']) vocab[mark] = Object.keys(vocab).length;
  const special = (id: number, content: string): Record<string, unknown> => ({
    id,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  });
  return JSON.stringify({
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special(0, '[PAD]'), special(1, '[UNK]')],
    normalizer: {
      type: 'BertNormalizer',
      clean_text: true,
      handle_chinese_chars: true,
      strip_accents: null,
      lowercase: true,
    },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: null,
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: '[UNK]',
      continuing_subword_prefix: '##',
      max_input_chars_per_word: 100,
      vocab,
    },
  });
}
