/**
 * A table's text column (issue 27): which column is text, its tokenizer, and what encoding it found.
 *
 * - Inference: an undeclared column is text when it is neither numeric nor boolean, at least half of its non-missing
 *   cells are distinct (TEXT_MIN_DISTINCT), and those cells average at least 3 whitespace-separated words
 *   (TEXT_MIN_WORDS) or 20 characters (TEXT_MIN_CHARS). A column inferred so is announced (a note in the output and
 *   the report): never a silent guess. At most one text column per table; it is placed after every other input.
 * - The tokenizer: fitted on data.train's texts by the engine (`fit_tokenizer`: the Hugging Face `tokenizers`
 *   library), which writes a standard tokenizer.json into the run folder; or the user's own tokenizer.json, checked
 *   and copied there. Its sha256 is recorded in the preprocess spec, and the file travels with the engine's data.
 * - Encoding: src/preprocess (the one implementation, shared with the runtime) turns each text into token ids.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError } from '../config/errors';
import type { TextOptionsConfig } from '../config/schema';
import { DatasetError } from '../eval/dataset';
import type { Commands, Engine } from '../engine';
import { writeFileAtomic } from '../io/files';
import type { TableColumnSpec } from '../preprocess/spec';
import { compileTable, encodeText } from '../preprocess/table';
import { loadTokenizer, TokenizerError } from '../preprocess/text';
import { required } from '../core/required';
import type { StoredColumn, TableStore } from './table-store';

/** Distinct values per non-missing cell from which an undeclared string column may be text. */
export const TEXT_MIN_DISTINCT = 0.5;
/** Mean whitespace-separated words per non-missing cell from which such a column is text… */
export const TEXT_MIN_WORDS = 3;
/** …or mean characters (UTF-16 code units) per non-missing cell. */
export const TEXT_MIN_CHARS = 20;

/** The rule, in words, for messages. */
export const TEXT_RULE = `text: at least ${100 * TEXT_MIN_DISTINCT} % distinct cells averaging ${TEXT_MIN_WORDS}+ words or ${TEXT_MIN_CHARS}+ characters`;

/** Starts (or hands over) the one engine of this process: fitting a tokenizer needs Python. */
export type EngineProvider = () => Promise<Engine>;

/** What the data preparation says about a table's text column (report.json's `data.text`). */
export interface TextSummary {
  /** The text column. */
  column: string;
  /** true when its kind was inferred (the rule in src/data/text.ts), false when declared in `columns`. */
  inferred: boolean;
  /** A tokenizer fitted on data.train's texts (its kind), or the user's tokenizer.json (`file`). */
  tokenizer: 'wordpiece' | 'bpe' | 'unigram' | 'file';
  /** The tokenizer.json the models carry, relative to the run folder. */
  tokenizerFile: string;
  /** sha256 (hex) of the tokenizer.json's bytes, as the preprocess spec records it. */
  tokenizerSha256: string;
  /** Token ids are in [0, vocabSize). */
  vocabSize: number;
  /** Token slots per row. */
  maxLength: number;
  /** Which end of a longer text is cut. */
  truncation: 'right' | 'left';
  /** Per split: texts of more than maxLength tokens, truncated to maxLength. */
  truncated: Record<string, number>;
  /** Per split: texts that are missing, empty or whitespace only, encoded as zero tokens (all padding). */
  emptyTexts: Record<string, number>;
}

/** Words and characters of a column's non-missing cells, and their distinct share. */
export interface TextStats {
  readonly present: number;
  readonly distinct: number;
  readonly meanWords: number;
  readonly meanChars: number;
}

const wordCount = (text: string): number => {
  const trimmed = text.trim();
  return trimmed === '' ? 0 : trimmed.split(/\s+/u).length;
};

/** The statistics the inference rule reads, over a stored column (codes: once per distinct value; texts: per cell). */
export function textStats(store: TableStore, column: StoredColumn): TextStats {
  let words = 0;
  let chars = 0;
  let present = 0;
  let distinct: number;
  if (column.texts) {
    const seen = new Set<string>();
    const texts = column.textRows(store.rows);
    for (const text of texts) {
      if (text === '') continue;
      present++;
      seen.add(text);
      words += wordCount(text);
      chars += text.length;
    }
    distinct = seen.size;
  } else {
    distinct = column.keys.length;
    column.keys.forEach((key, index) => {
      const count = column.counts[index + 1] ?? 0;
      present += count;
      words += wordCount(key) * count;
      chars += key.length * count;
    });
  }
  return {
    present,
    distinct,
    meanWords: present > 0 ? words / present : 0,
    meanChars: present > 0 ? chars / present : 0,
  };
}

/** Whether an undeclared column is free text by the documented rule (the file comment); its statistics if so. */
export function inferText(store: TableStore, column: StoredColumn): TextStats | null {
  if (column.floats || (column.codes && (column.numeric || column.boolean))) return null;
  const stats = textStats(store, column);
  if (stats.present === 0 || stats.distinct < TEXT_MIN_DISTINCT * stats.present) return null;
  return stats.meanWords >= TEXT_MIN_WORDS || stats.meanChars >= TEXT_MIN_CHARS ? stats : null;
}

/** The note that announces an inferred text column, with how to say otherwise. */
export function inferredTextNote(where: string, name: string, stats: TextStats, columnPath: string): string {
  const share = Math.round((100 * stats.distinct) / stats.present);
  return `${where}: column "${name}" read as text (its cells average ${stats.meanWords.toFixed(1)} words and ${stats.meanChars.toFixed(0)} characters, ${share} % distinct): it is tokenized, not one-hot encoded; declare ${columnPath}: 'categorical' to keep it as categories, or 'text' to say so yourself`;
}

/** Two text columns: an error naming both (a model takes one text column). */
export function twoTextColumns(
  file: string,
  names: readonly string[],
  declared: ReadonlySet<string>,
  where: string,
): ConfigError | DatasetError {
  const [first = '', second = ''] = names;
  const both = `"${first}" and "${second}"`;
  const fix = `leave one out with ${where}.features, or declare it ${where}.columns: 'categorical'`;
  if (declared.has(first) && declared.has(second)) {
    return new ConfigError([
      {
        path: `${where}.columns`,
        message: `${both} are both declared text: a table may have one text column; ${fix}`,
      },
    ]);
  }
  const how = names.map((name) => `"${name}" ${declared.has(name) ? 'declared' : 'inferred'}`).join(', ');
  return new DatasetError(file, null, `two text columns (${how}): a table may have one text column; ${fix}`);
}

// ---------------------------------------------------------------- the tokenizer

/** A tokenizer.json in the run folder, as the preprocess spec and the engine take it. */
export interface PreparedTokenizer {
  /** Its absolute path (`<run folder>/data/tokenizer.json`). */
  file: string;
  /** Its JSON text (the runtime and src/preprocess load it). */
  json: string;
  sha256: string;
  vocabSize: number;
  padId: number;
  kind: TextSummary['tokenizer'];
}

/** The tokenizer.json of a run folder, relative to it. */
export const TOKENIZER_FILE = 'data/tokenizer.json';

const sha256 = (bytes: Uint8Array | string): string => crypto.createHash('sha256').update(bytes).digest('hex');

/**
 * The tokenizer of data.train's text column, in `<dir>/data/tokenizer.json`: fitted by the engine on `texts` (the
 * non-empty ones, as JSON lines), or the user's file copied as it is.
 */
export async function prepareTokenizer(
  options: TextOptionsConfig,
  texts: readonly string[],
  dir: string,
  engine: EngineProvider,
  where: string,
): Promise<PreparedTokenizer> {
  const file = path.join(dir, TOKENIZER_FILE);
  if (typeof options.tokenizer === 'object') {
    const source = options.tokenizer.file;
    const checked = readTokenizerFile(source, `${where}.text.tokenizer.file`);
    writeFileAtomic(file, checked.bytes);
    return {
      file,
      json: checked.json,
      sha256: checked.sha256,
      vocabSize: checked.vocabSize,
      padId: checked.padId,
      kind: 'file',
    };
  }
  const textsPath = path.join(dir, 'data', 'train-texts.jsonl');
  const lines: string[] = [];
  for (const text of texts) if (text.trim() !== '') lines.push(`${JSON.stringify(text)}\n`);
  if (lines.length === 0) {
    throw new ConfigError([
      { path: `${where}.text.tokenizer`, message: 'no text to fit a tokenizer on: every text of data.train is empty' },
    ]);
  }
  writeFileAtomic(textsPath, lines.join(''));
  try {
    const request: Commands['fit_tokenizer']['request'] = {
      textsPath,
      kind: options.tokenizer,
      vocabSize: options.vocabSize,
      lowercase: options.lowercase,
      minFrequency: options.minFrequency,
      outPath: file,
    };
    const fitted = await (await engine()).call('fit_tokenizer', request);
    const bytes = fs.readFileSync(file);
    const digest = sha256(bytes);
    if (digest !== fitted.sha256) {
      throw new Error(
        `the engine's tokenizer ${file} changed after it was written (sha256 ${digest}, not ${fitted.sha256})`,
      );
    }
    return {
      file,
      json: bytes.toString('utf8'),
      sha256: digest,
      vocabSize: fitted.vocabSize,
      padId: fitted.padId,
      kind: options.tokenizer,
    };
  } finally {
    fs.rmSync(textsPath, { force: true }); // a copy of data.train's texts: not kept
  }
}

/** Special tokens a user's tokenizer may pad with, in the order they are looked for. */
const PAD_TOKENS = ['[PAD]', '<pad>', '<PAD>', '[pad]'];

/**
 * A user's tokenizer.json, checked: JSON, with a `model` of a known type and a vocabulary, and a padding token
 * (its `padding.pad_id`, else one of [PAD], <pad>). Anything else is a DatasetError naming the file and `field`.
 */
export function readTokenizerFile(
  file: string,
  field: string,
): { bytes: Buffer; json: string; sha256: string; vocabSize: number; padId: number } {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const what =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EISDIR'
          ? 'a folder, not a file'
          : `cannot read it (${code ?? String(error)})`;
    throw new DatasetError(file, null, `${what} (${field})`, { cause: error });
  }
  const notOne = (detail: string): DatasetError =>
    new DatasetError(
      file,
      null,
      `not a tokenizer.json (${field}): ${detail}; expected a Hugging Face tokenizers file, as tokenizer.save() or save_pretrained() writes it`,
    );
  let value: unknown;
  const json = bytes.toString('utf8');
  try {
    value = JSON.parse(json);
  } catch (error) {
    throw notOne(`not valid JSON (${(error as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw notOne('not a JSON object');
  const tokenizer = value as Record<string, unknown>;
  const model = tokenizer.model;
  if (typeof model !== 'object' || model === null) throw notOne('no "model" object');
  const { type, vocab } = model as Record<string, unknown>;
  const ids = new Map<string, number>();
  if (Array.isArray(vocab)) {
    // Unigram: [[piece, score], …], ids by position
    vocab.forEach((entry, index) => {
      if (Array.isArray(entry) && typeof entry[0] === 'string') ids.set(entry[0], index);
    });
    if (ids.size !== vocab.length) throw notOne('"model.vocab" is a list whose entries are not [piece, score] pairs');
  } else if (typeof vocab === 'object' && vocab !== null) {
    for (const [token, id] of Object.entries(vocab)) {
      if (typeof id !== 'number' || !Number.isInteger(id) || id < 0)
        throw notOne(`the id of ${JSON.stringify(token)} in "model.vocab" is not an index`);
      ids.set(token, id);
    }
  } else {
    throw notOne('no vocabulary ("model.vocab")');
  }
  if (!['WordPiece', 'BPE', 'Unigram', 'WordLevel'].includes(String(type)) && !(type === undefined && ids.size > 0)) {
    throw notOne(`"model.type" is ${JSON.stringify(type)}, not WordPiece, BPE, Unigram or WordLevel`);
  }
  if (ids.size === 0) throw notOne('an empty vocabulary');
  const added = Array.isArray(tokenizer.added_tokens) ? (tokenizer.added_tokens as unknown[]) : [];
  for (const entry of added) {
    const { id, content } = (entry ?? {}) as Record<string, unknown>;
    if (typeof id === 'number' && typeof content === 'string') ids.set(content, id);
  }
  const vocabSize = Math.max(...ids.values()) + 1;
  if (vocabSize > 1 << 24) throw notOne(`${vocabSize} token ids, more than a float32 slot holds exactly (2^24)`);
  const padding = tokenizer.padding as Record<string, unknown> | null | undefined;
  const padId =
    typeof padding?.pad_id === 'number'
      ? padding.pad_id
      : PAD_TOKENS.map((token) => ids.get(token)).find((id) => id !== undefined);
  if (padId === undefined) {
    throw new DatasetError(
      file,
      null,
      `the tokenizer (${field}) has no padding token: expected its "padding.pad_id", or a [PAD] or <pad> token in its vocabulary`,
    );
  }
  try {
    loadTokenizer(value, { maxLength: 1, truncation: 'right' }); // what the runtime will do with it
  } catch (error) {
    if (!(error instanceof TokenizerError)) throw error;
    throw notOne(error.message.replace(/^not a tokenizer\.json: /, ''));
  }
  return { bytes, json, sha256: sha256(bytes), vocabSize, padId };
}

// ---------------------------------------------------------------- encoding

type TextColumnSpec = Extract<TableColumnSpec, { type: 'text' }>;

/** What encoding a split's texts found, for the report. */
export interface TextCounts {
  truncated: number;
  empty: number;
}

/**
 * Writes the token ids of `texts[i]` at `x[i * width + slot …]` (column.maxLength slots, right-padded with padId)
 * through src/preprocess (`encodeText`, the runtime's own code: tokenizer, truncation, padding), and counts the
 * truncated and the empty texts (missing, empty, or no token at all: every slot padding).
 */
export function encodeTexts(
  texts: readonly string[],
  column: TextColumnSpec,
  tokenizerJson: string,
  x: Float32Array,
  width: number,
  slot: number,
): TextCounts {
  const table = compileTable({ kind: 'table', columns: [column], targets: [] }, loadTokenizer(tokenizerJson, column));
  const compiled = required(table.text, 'the compiled text column');
  const counts: TextCounts = { truncated: 0, empty: 0 };
  texts.forEach((text, row) => {
    const cell = encodeText(compiled, text, x, row * width + slot, column.maxLength, 'row');
    if (cell.truncated) counts.truncated++;
    if (cell.empty) counts.empty++;
  });
  return counts;
}
