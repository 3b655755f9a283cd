/**
 * Text → token ids: the one tokenizer implementation, used by src/data to encode the training, test and transfer
 * sets and by the runtime's `predict('some text')`. The tokenizer is a standard tokenizer.json (fitted by the engine
 * with Python `tokenizers`, or the user's own), which travels inside the model (`distillery.tokenizer` metadata).
 *
 * The model step (WordPiece, BPE, Unigram) is @huggingface/tokenizers'. Its normalizers and pre-tokenizers are
 * replaced here by implementations that give the ids Python `tokenizers` gives (test/text.parity.test.ts checks every
 * SST-2 dev and test sentence and a set of hard strings). The differences patched:
 *
 * - Unicode tables: the Rust crate classifies characters with older Unicode tables than Node's (`\w` of the
 *   Whitespace pre-tokenizer, punctuation of the Bert pre-tokenizer, non-spacing marks of StripAccents, control
 *   characters of clean_text, the decompositions of NFD/NFKD/NFKC). The code points where they disagree are listed
 *   in ./unicode-compat.ts (generated from Python by scripts/text-unicode-tables.js) and flipped here.
 * - Greek capital sigma: Python lowercases character by character, so Σ is always σ; JavaScript's toLowerCase gives
 *   the final form ς at the end of a word. Σ is lowered to σ before toLowerCase.
 * - Astral CJK: BertNormalizer puts spaces around CJK ideographs, including those outside the BMP (U+20000…);
 *   the JavaScript library walks UTF-16 code units and misses them. The walk here is by code point.
 * - [UNK] fusing: the JavaScript library fuses consecutive unknown tokens (BPE `fuse_unk`, Unigram) across words;
 *   Python fuses only inside one word. The model is called word by word here, which also feeds the word cache.
 *
 * Known limitation: the exceptions are exact for the Python `tokenizers` version they were generated from (0.23.3) and
 * this Node's Unicode version, character by character; a normalisation form that composes or reorders characters
 * across a listed one may still differ, and a newer Node (newer Unicode) needs the table regenerated (the parity test
 * says so). Normalizers and pre-tokenizers
 * other than those implemented here (BertNormalizer, NFC, NFD, NFKC, NFKD, Lowercase, StripAccents, Strip,
 * Sequence; BertPreTokenizer, Whitespace, WhitespaceSplit, Sequence) use @huggingface/tokenizers' own, without the
 * parity guarantee.
 */
import { FLIPPED } from './unicode-compat';

/** What is used of @huggingface/tokenizers' Tokenizer: its components, each callable. */
interface HfTokenizer {
  readonly model: unknown;
  readonly normalizer: ((text: string) => string) | null;
  readonly pre_tokenizer: ((text: string) => string[]) | null;
}

/**
 * @huggingface/tokenizers is an ES module with a CommonJS build, which this CommonJS package loads (its ESM types
 * cannot be imported from CommonJS, hence the small interface above).
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const hf = require('@huggingface/tokenizers') as { Tokenizer: new (json: object, config: object) => HfTokenizer };

/** The tokenizer.json could not be used: not JSON, not a tokenizer, or a model type the runtime cannot run. */
export class TokenizerError extends Error {
  /** The class's name, also set on instances, so that logs and `error.name` checks see it. */
  override readonly name = 'TokenizerError';
}

/** One text's token ids, after truncation. */
export interface TextEncoding {
  /** Token ids, at most `maxLength`; no [CLS]/[SEP]; empty for empty or whitespace-only text. */
  readonly ids: number[];
  /** Whether the text had more than `maxLength` tokens (and lost some). */
  readonly truncated: boolean;
}

/** How a text column cuts a long text. */
export interface TruncationOptions {
  /** Tokens kept at most. */
  readonly maxLength: number;
  /** 'right' keeps the first `maxLength` tokens, 'left' the last. */
  readonly truncation: 'right' | 'left';
}

/** A loaded tokenizer.json, with a text column's truncation. */
export interface TextTokenizer {
  /** The model type: 'wordpiece', 'bpe', 'unigram' (lower case), or the tokenizer.json's own name for another. */
  readonly kind: string;
  /** Ids are in [0, vocabSize): the model's vocabulary and the added tokens. */
  readonly vocabSize: number;
  /** The id of [PAD] (or `<pad>`), null when the tokenizer has none. */
  readonly padId: number | null;
  /** The id of the unknown token, null when the model has none. */
  readonly unkId: number | null;
  /** maxLength and truncation side, as given to {@link loadTokenizer}. */
  readonly options: TruncationOptions;
  /** One text → its ids, truncated to `maxLength` on the `truncation` side. */
  encode(text: string): TextEncoding;
  /** One text → all its ids (no truncation). */
  tokenize(text: string): number[];
}

type Normalize = (text: string) => string;
type PreTokenize = (text: string) => string[];

type JsonObject = Readonly<Record<string, unknown>>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// ---- Unicode classification, with the Python crate's exceptions -------------------------------------------------

/** Whether `cp` is in the [first, last, …] ranges. */
function inRanges(ranges: readonly number[], cp: number): boolean {
  let low = 0;
  let high = ranges.length / 2 - 1;
  while (low <= high) {
    const mid = (low + high) >> 1;
    if (cp < (ranges[2 * mid] as number)) high = mid - 1;
    else if (cp > (ranges[2 * mid + 1] as number)) low = mid + 1;
    else return true;
  }
  return false;
}

interface Exceptions {
  /** Python says yes, JavaScript no. */
  readonly yes: readonly number[];
  /** Python says no, JavaScript yes. */
  readonly no: readonly number[];
}

/** A property test as Python answers it: its listed answer where the two disagree, else the JavaScript regex. */
function property(regex: RegExp, exceptions: Exceptions): (cp: number) => boolean {
  return (cp) =>
    inRanges(exceptions.yes, cp) ? true : inRanges(exceptions.no, cp) ? false : regex.test(String.fromCodePoint(cp));
}

const isOtherJs = property(/[\p{Cc}\p{Cf}\p{Co}]/u, FLIPPED.other);
/** Removed by clean_text: NUL, U+FFFD and control/format/private-use characters (but \t \n \r). */
function isCleanedAway(cp: number): boolean {
  if (cp < 128) return (cp < 32 && cp !== 9 && cp !== 10 && cp !== 13) || cp === 127;
  return cp === 0xfffd || isOtherJs(cp);
}
const isSpaceJs = property(/\p{White_Space}/u, FLIPPED.space);
/** Rust's char::is_whitespace: the White_Space property. */
function isSpace(cp: number): boolean {
  if (cp < 128) return cp === 32 || (cp >= 9 && cp <= 13);
  return isSpaceJs(cp);
}
/** BertNormalizer's strip_accents removes non-spacing marks (Mn)… */
const isMn = property(/\p{Mn}/u, FLIPPED.mn);
/** …but the StripAccents normalizer removes every combining mark (M: Mn, Mc, Me). */
const isMark = property(/\p{M}/u, FLIPPED.mark);
const isPunctJs = property(/\p{P}/u, FLIPPED.punct);
/** The Bert pre-tokenizer's punctuation: ASCII punctuation or a Unicode P* character. */
function isBertPunct(cp: number): boolean {
  if (cp < 128)
    return (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126);
  return isPunctJs(cp);
}
const isWordJs = property(/[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]/u, FLIPPED.word);
/** Oniguruma's `\w` (the Whitespace pre-tokenizer): letters, marks, digits, connector punctuation, ZWJ/ZWNJ. */
function isWord(cp: number): boolean {
  if (cp < 128) return (cp >= 48 && cp <= 57) || (cp >= 65 && cp <= 90) || (cp >= 97 && cp <= 122) || cp === 95;
  return isWordJs(cp);
}
/** BertNormalizer's CJK ideograph ranges (by code point, astral planes included). */
function isChinese(cp: number): boolean {
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) ||
    (cp >= 0x2b920 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0x2f800 && cp <= 0x2fa1f)
  );
}

// eslint-disable-next-line no-control-regex
const ASCII = /^[\x00-\x7f]*$/;

type Form = 'NFC' | 'NFD' | 'NFKC' | 'NFKD';
/** The characters each form leaves as they are in Python and changes in JavaScript. */
const KEPT: Record<Form, readonly number[]> = {
  NFC: FLIPPED.nfc.no,
  NFD: FLIPPED.nfd.no,
  NFKC: FLIPPED.nfkc.no,
  NFKD: FLIPPED.nfkd.no,
};

/**
 * String.prototype.normalize, except for the characters that Python's tables leave as they are (newer than them):
 * the text is normalised in pieces around those.
 */
function normalizeForm(text: string, form: Form): string {
  if (ASCII.test(text)) return text;
  const kept = KEPT[form];
  let out = '';
  let start = 0;
  let index = 0;
  for (const ch of text) {
    const cp = ch.codePointAt(0) as number;
    if (cp >= 128 && inRanges(kept, cp)) {
      out += text.slice(start, index).normalize(form) + ch;
      start = index + ch.length;
    }
    index += ch.length;
  }
  return start === 0 ? text.normalize(form) : out + text.slice(start).normalize(form);
}

/** Python lowercases character by character: Σ is always σ (JavaScript gives ς at the end of a word). */
function lowercase(text: string): string {
  return (text.includes('Σ') ? text.replaceAll('Σ', 'σ') : text).toLowerCase();
}

/** Removes the characters `isRemoved` says (Python's StripAccents and BertNormalizer's strip_accents; no decomposing). */
function removeMarks(text: string, isRemoved: (cp: number) => boolean): string {
  if (ASCII.test(text)) return text;
  let out = '';
  for (const ch of text) if (!isRemoved(ch.codePointAt(0) as number)) out += ch;
  return out;
}

const stripAccents: Normalize = (text) => removeMarks(text, isMark);

function bertNormalizer(config: JsonObject): Normalize {
  const clean = config.clean_text !== false;
  const chinese = config.handle_chinese_chars !== false;
  const lower = config.lowercase !== false;
  const strip = typeof config.strip_accents === 'boolean' ? config.strip_accents : lower;
  return (input) => {
    let text = input;
    if (clean || chinese) {
      let out = '';
      for (const ch of text) {
        const cp = ch.codePointAt(0) as number;
        if (clean && isCleanedAway(cp)) continue;
        if (clean && isSpace(cp)) out += ' ';
        else if (chinese && isChinese(cp)) out += ` ${ch} `;
        else out += ch;
      }
      text = out;
    }
    if (strip) text = removeMarks(normalizeForm(text, 'NFD'), isMn);
    if (lower) text = lowercase(text);
    return text;
  };
}

function trimSpaces(text: string, left: boolean, right: boolean): string {
  const chars = Array.from(text);
  let start = 0;
  let end = chars.length;
  while (left && start < end && isSpace(chars[start]?.codePointAt(0) as number)) start++;
  while (right && end > start && isSpace(chars[end - 1]?.codePointAt(0) as number)) end--;
  return chars.slice(start, end).join('');
}

/** The normalizer config as a function, or null when it is not one implemented here. */
function compileNormalizer(config: unknown): Normalize | null {
  if (config === null || config === undefined) return (text) => text;
  if (!isObject(config)) return null;
  switch (config.type) {
    case 'BertNormalizer':
      return bertNormalizer(config);
    case 'NFC':
    case 'NFD':
    case 'NFKC':
    case 'NFKD': {
      const form = config.type;
      return (text) => normalizeForm(text, form);
    }
    case 'Lowercase':
      return lowercase;
    case 'StripAccents':
      return stripAccents;
    case 'Strip': {
      const left = config.strip_left !== false;
      const right = config.strip_right !== false;
      return (text) => trimSpaces(text, left, right);
    }
    case 'Sequence': {
      if (!Array.isArray(config.normalizers)) return null;
      const steps = config.normalizers.map(compileNormalizer);
      if (steps.some((step) => step === null)) return null;
      return (text) => (steps as Normalize[]).reduce((value, step) => step(value), text);
    }
    default:
      return null;
  }
}

/** Splits on whitespace (dropped) and, with `punct`, isolates each punctuation character: Bert's pre-tokenizer. */
function splitWords(text: string, punct: boolean): string[] {
  const words: string[] = [];
  let word = '';
  for (const ch of text) {
    const cp = ch.codePointAt(0) as number;
    if (isSpace(cp)) {
      if (word !== '') words.push(word);
      word = '';
    } else if (punct && isBertPunct(cp)) {
      if (word !== '') words.push(word);
      words.push(ch);
      word = '';
    } else {
      word += ch;
    }
  }
  if (word !== '') words.push(word);
  return words;
}

/** `\w+|[^\w\s]+` with Oniguruma's classes: the Whitespace pre-tokenizer. */
function whitespacePreTokenize(text: string): string[] {
  const words: string[] = [];
  let word = '';
  let wordKind = 0; // 0 none, 1 \w run, 2 [^\w\s] run
  for (const ch of text) {
    const cp = ch.codePointAt(0) as number;
    const kind = isWord(cp) ? 1 : isSpace(cp) ? 0 : 2;
    if (kind !== wordKind && word !== '') {
      words.push(word);
      word = '';
    }
    if (kind !== 0) word += ch;
    wordKind = kind;
  }
  if (word !== '') words.push(word);
  return words;
}

function compilePreTokenizer(config: unknown): PreTokenize | null {
  if (config === null || config === undefined) return (text) => (text === '' ? [] : [text]);
  if (!isObject(config)) return null;
  switch (config.type) {
    case 'BertPreTokenizer':
      return (text) => splitWords(text, true);
    case 'WhitespaceSplit':
      return (text) => splitWords(text, false);
    case 'Whitespace':
      return whitespacePreTokenize;
    case 'Sequence': {
      if (!Array.isArray(config.pretokenizers)) return null;
      const steps = config.pretokenizers.map(compilePreTokenizer);
      if (steps.some((step) => step === null)) return null;
      return (text) => (steps as PreTokenize[]).reduce<string[]>((words, step) => words.flatMap(step), [text]);
    }
    default:
      return null;
  }
}

// ---- The tokenizer ------------------------------------------------------------------------------------------------

/** Words kept in the per-tokenizer cache before it is cleared. */
const WORD_CACHE_SIZE = 100_000;

interface ModelLike {
  _call(words: string[]): string[];
  readonly tokens_to_ids: Map<string, number>;
  readonly unk_token_id?: number | undefined;
}

const PAD_NAMES = ['[PAD]', '<pad>', '<PAD>'];

class HfTextTokenizer implements TextTokenizer {
  readonly kind: string;
  readonly vocabSize: number;
  readonly padId: number | null;
  readonly unkId: number | null;
  private readonly normalize: Normalize;
  private readonly preTokenize: PreTokenize;
  private readonly model: ModelLike;
  private readonly added: ReadonlyMap<string, number>;
  private readonly addedPattern: RegExp | null;
  private readonly cache = new Map<string, readonly number[]>();

  constructor(
    json: JsonObject,
    readonly options: TruncationOptions,
  ) {
    const modelConfig = json.model;
    if (!isObject(modelConfig) || typeof modelConfig.type !== 'string')
      throw new TokenizerError('not a tokenizer.json: it has no "model" with a "type"');
    let library: HfTokenizer;
    try {
      library = new hf.Tokenizer(json, {});
    } catch (error) {
      throw new TokenizerError(`@huggingface/tokenizers cannot load it: ${(error as Error).message}`, {
        cause: error,
      });
    }
    const model = library.model as ModelLike | null;
    if (model === null) throw new TokenizerError('not a tokenizer.json: it has no model');
    this.model = model;
    const type = modelConfig.type;
    this.kind = type === 'WordPiece' ? 'wordpiece' : type === 'BPE' ? 'bpe' : type === 'Unigram' ? 'unigram' : type;
    this.normalize = compileNormalizer(json.normalizer) ?? ((text) => library.normalizer?.(text) ?? text);
    const preTokenize = compilePreTokenizer(json.pre_tokenizer);
    this.preTokenize = preTokenize ?? ((text) => library.pre_tokenizer?.(text) ?? [text]);
    const added = new Map<string, number>();
    if (Array.isArray(json.added_tokens)) {
      for (const token of json.added_tokens) {
        if (
          isObject(token) &&
          typeof token.content === 'string' &&
          typeof token.id === 'number' &&
          token.content !== ''
        )
          added.set(token.content, token.id);
      }
    }
    this.added = added;
    const escaped = [...added.keys()]
      .sort((a, b) => b.length - a.length)
      .map((content) => content.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    this.addedPattern = escaped.length > 0 ? new RegExp(`(${escaped.join('|')})`, 'u') : null;
    let largest = -1;
    for (const id of model.tokens_to_ids.values()) if (id > largest) largest = id;
    for (const id of added.values()) if (id > largest) largest = id;
    this.vocabSize = largest + 1;
    const padName = PAD_NAMES.find((name) => added.has(name) || model.tokens_to_ids.has(name));
    this.padId = padName === undefined ? null : (added.get(padName) ?? model.tokens_to_ids.get(padName) ?? null);
    this.unkId = model.unk_token_id ?? null;
  }

  encode(text: string): TextEncoding {
    const { maxLength, truncation } = this.options;
    const words = this.words(text);
    const ids: number[] = [];
    if (truncation === 'right') {
      for (const word of words) {
        pushAll(ids, typeof word === 'number' ? [word] : this.word(word));
        if (ids.length > maxLength) return { ids: ids.slice(0, maxLength), truncated: true };
      }
      return { ids, truncated: false };
    }
    // 'left': the last maxLength tokens, so the words are taken from the end.
    const reversed: number[] = [];
    for (let index = words.length - 1; index >= 0; index--) {
      const word = words[index] as string | number;
      const pieces = typeof word === 'number' ? [word] : this.word(word);
      for (let piece = pieces.length - 1; piece >= 0; piece--) reversed.push(pieces[piece] as number);
      if (reversed.length > maxLength) return { ids: reversed.slice(0, maxLength).reverse(), truncated: true };
    }
    return { ids: reversed.reverse(), truncated: false };
  }

  tokenize(text: string): number[] {
    const ids: number[] = [];
    for (const word of this.words(text)) pushAll(ids, typeof word === 'number' ? [word] : this.word(word));
    return ids;
  }

  /** The text's words (strings, for the model) and added tokens (their ids), in order. */
  private words(text: string): (string | number)[] {
    if (!this.addedPattern?.test(text)) return this.preTokenize(this.normalize(text));
    const out: (string | number)[] = [];
    // split with a capturing group: odd indices are the added tokens found in the raw text.
    text.split(this.addedPattern).forEach((part, index) => {
      if (index % 2 === 1) out.push(this.added.get(part) as number);
      else if (part !== '') out.push(...this.preTokenize(this.normalize(part)));
    });
    return out;
  }

  /** One word's ids, cached. */
  private word(word: string): readonly number[] {
    const cached = this.cache.get(word);
    if (cached !== undefined) return cached;
    const unk = this.unkId ?? -1;
    const ids = this.model
      ._call([word])
      .map((token) => this.added.get(token) ?? this.model.tokens_to_ids.get(token) ?? unk)
      .filter((id) => id >= 0);
    if (this.cache.size >= WORD_CACHE_SIZE) this.cache.clear();
    this.cache.set(word, ids);
    return ids;
  }
}

function pushAll(target: number[], values: readonly number[]): void {
  for (const value of values) target.push(value);
}

/**
 * Loads a tokenizer.json (its text, or the parsed object) for a text column's truncation.
 * @throws {@link TokenizerError} when it is not JSON or not a tokenizer @huggingface/tokenizers can load
 */
export function loadTokenizer(json: string | object, options: TruncationOptions): TextTokenizer {
  let parsed: unknown = json;
  if (typeof json === 'string') {
    try {
      parsed = JSON.parse(json);
    } catch (error) {
      throw new TokenizerError(`not a tokenizer.json: not valid JSON (${(error as Error).message})`, { cause: error });
    }
  }
  if (!isObject(parsed)) throw new TokenizerError('not a tokenizer.json: not a JSON object');
  if (!Number.isInteger(options.maxLength) || options.maxLength < 1)
    throw new RangeError(`maxLength must be a positive integer, got ${options.maxLength}`);
  return new HfTextTokenizer(parsed, options);
}

/** sha256 (lower-case hex) of a text's UTF-8 bytes, with the Web Crypto API (Node and browsers, no import). */
export async function sha256Hex(text: string | Uint8Array): Promise<string> {
  // A copy backed by a plain ArrayBuffer: Web Crypto's BufferSource excludes views of a SharedArrayBuffer.
  const bytes = typeof text === 'string' ? new TextEncoder().encode(text) : new Uint8Array(text);
  const digest = await globalThis.crypto.subtle.digest('SHA-256', bytes);
  return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, '0')).join('');
}
