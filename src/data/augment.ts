/**
 * An augmented transfer set for text (Tang et al. 2019, "Distilling task-specific knowledge from BERT into simple
 * neural networks", §3.3): altered copies of data.train's sentences, which the teacher labels, so that the student
 * sees the teacher's outputs on more of the input space than the training sentences cover.
 *
 * Each copy of a sentence replaces each word, with probability `mask`, by the tokenizer's unknown token, then with
 * probability `ngram` keeps only one of its n-grams (n uniform in 1..maxNgram). Words are what whitespace separates:
 * the copies are strings, so every model tokenizes them its own way. Tang et al.'s third rule, a word replaced by
 * another of the same part of speech, is not done: it needs a tagger's data, which no offline package bundles.
 */
import type { AugmentedTransferConfig } from '../config/schema';

/** The altered copies, and for each the index of the data.train sentence it was made from. */
export interface AugmentedTexts {
  texts: string[];
  origin: Int32Array;
}

/**
 * A seeded generator of floats in [0, 1) (mulberry32): the same seed draws the same transfer set on every machine,
 * which Math.random cannot promise.
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One altered copy of `words`: masked words, then perhaps one n-gram of them. */
function alteredCopy(
  words: readonly string[],
  options: AugmentedTransferConfig,
  maskToken: string,
  random: () => number,
): string[] {
  let copy = words.map((word) => (random() < options.mask ? maskToken : word));
  if (random() < options.ngram) {
    const n = Math.min(copy.length, 1 + Math.floor(random() * options.maxNgram));
    const start = Math.floor(random() * (copy.length - n + 1));
    copy = copy.slice(start, start + n);
  }
  return copy;
}

/**
 * The transfer set's sentences: each of `texts` (when `original`), then its distinct altered copies (at most
 * `copies`; a copy equal to the sentence or to an earlier copy is dropped). An empty text has no copies.
 */
export function augmentTexts(
  texts: readonly string[],
  options: AugmentedTransferConfig,
  maskToken: string,
): AugmentedTexts {
  const random = seededRandom(options.seed);
  const out: string[] = [];
  const origin: number[] = [];
  texts.forEach((text, row) => {
    if (options.original) {
      out.push(text);
      origin.push(row);
    }
    const words = text.split(/\s+/u).filter((word) => word !== '');
    if (words.length === 0) return;
    const seen = new Set([words.join(' ')]);
    for (let i = 0; i < options.copies; i++) {
      const copy = alteredCopy(words, options, maskToken, random).join(' ');
      if (seen.has(copy)) continue;
      seen.add(copy);
      out.push(copy);
      origin.push(row);
    }
  });
  return { texts: out, origin: Int32Array.from(origin) };
}

/**
 * The tokenizer.json that encodes the altered copies, and the text of its unknown token, which stands for a masked
 * word (null: it has none). A masked word must become the unknown token's id whatever the tokenizer, so the token is
 * made an added token if it is not one already (a fitted WordPiece keeps [UNK] in its vocabulary only, where the
 * pre-tokenizer would split the text "[UNK]" into pieces). Only the copies are encoded with it: data.train, the other
 * splits and the model's own tokenizer are untouched.
 */
export function maskingTokenizer(json: string): { json: string; maskToken: string | null } {
  const parsed = JSON.parse(json) as {
    added_tokens?: { id: number; content: string }[];
    model?: { unk_token?: unknown; vocab?: unknown };
  };
  const unk = parsed.model?.unk_token;
  const vocab = parsed.model?.vocab;
  const added = parsed.added_tokens ?? [];
  if (typeof unk !== 'string' || unk === '') return { json, maskToken: null };
  if (added.some((token) => token.content === unk)) return { json, maskToken: unk };
  const id = vocab !== null && typeof vocab === 'object' ? (vocab as Record<string, unknown>)[unk] : undefined;
  if (typeof id !== 'number') return { json, maskToken: null };
  const token = {
    id,
    content: unk,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  };
  return { json: JSON.stringify({ ...parsed, added_tokens: [...added, token] }), maskToken: unk };
}
