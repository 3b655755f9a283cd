/**
 * The teacher's answers, kept on disk between runs: a teacher you pay per call is called once per row, and a run that
 * failed half-way resumes where it stopped.
 *
 * One folder per teacher identity (the teacher, the declared kind, the classes): an answer is only ever reused for
 * the same teacher asked the same question. Inside, answers are keyed by a hash of the row's content, not its
 * position, so reordering or growing the data keeps what was asked before. Each put() writes a new chunk file
 * atomically and never rewrites an old one: a crash loses at most the chunk being written, and two processes sharing
 * the folder never overwrite each other's files.
 *
 * Node-only (node:fs, node:crypto).
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { InputValidationError, describeValue } from '../core/errors';
import { writeFileAtomic } from '../io/files';
import type { AnswerKind, DeclaredKind } from './answers';

/** Bumped when the encoding of keys or files changes: old folders are then simply not found, never misread. */
const CACHE_FORMAT = 1;

const ANSWER_KINDS = ['probabilities', 'logits', 'labels'] as const satisfies readonly AnswerKind[];

/**
 * The sha256 (hex) of a canonical encoding of one row's input: the same content gives the same key in every process,
 * whatever the key order of an object; different types never collide (a string and its UTF-8 bytes, a Float32Array
 * and a Float64Array holding the same numbers, an array and a typed array).
 *
 * The encoding is a stream of tagged values, each with its length, so that no two values share a prefix: strings
 * (UTF-8), byte arrays (Buffer, Uint8Array, ArrayBuffer: image bytes), other typed arrays (their dtype and bytes),
 * numbers, booleans, null, arrays, plain objects (keys sorted; an undefined property counts as missing, as in JSON)
 * and Dates. Anything else (a function, a Map, a class instance, a cycle) is an InputValidationError.
 */
export function rowKey(input: unknown): string {
  const hash = createHash('sha256');
  encode(hash, input, 'input', new Set());
  return hash.digest('hex');
}

function encode(hash: Hash, value: unknown, field: string, ancestors: Set<object>): void {
  if (value === null) hash.update('z;');
  else if (typeof value === 'string') encodeBytes(hash, 's', Buffer.from(value, 'utf8'));
  else if (typeof value === 'number') hash.update(`n${Object.is(value, -0) ? '0' : String(value)};`);
  else if (typeof value === 'boolean') hash.update(value ? 't;' : 'f;');
  else if (typeof value === 'bigint') hash.update(`i${value.toString()};`);
  else if (value instanceof ArrayBuffer) encodeBytes(hash, 'b', new Uint8Array(value));
  else if (ArrayBuffer.isView(value)) encodeView(hash, value);
  else if (value instanceof Date) hash.update(`d${value.getTime()};`);
  else if (typeof value === 'object') encodeContainer(hash, value, field, ancestors);
  else throw unhashable(field, value);
}

/** A tag, the byte count, then the bytes: the count keeps "ab"+"c" apart from "a"+"bc". */
function encodeBytes(hash: Hash, tag: string, bytes: Uint8Array): void {
  hash.update(`${tag}${bytes.byteLength}:`);
  hash.update(bytes);
}

/** Uint8Array (Buffer too) and DataView are plain bytes; other typed arrays carry their dtype into the key. */
function encodeView(hash: Hash, view: ArrayBufferView): void {
  const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  if (view instanceof Uint8Array || view instanceof DataView) encodeBytes(hash, 'b', bytes);
  else encodeBytes(hash, `a${view.constructor.name}:`, bytes);
}

function encodeContainer(hash: Hash, value: object, field: string, ancestors: Set<object>): void {
  if (ancestors.has(value)) throw unhashable(field, value, 'a value that contains itself');
  ancestors.add(value);
  if (Array.isArray(value)) {
    hash.update(`[${value.length}:`);
    value.forEach((item: unknown, index) => encode(hash, item, `${field}[${index}]`, ancestors));
  } else {
    const prototype: unknown = Object.getPrototypeOf(value);
    if (prototype !== Object.prototype && prototype !== null) throw unhashable(field, value);
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record)
      .filter((key) => record[key] !== undefined)
      .sort();
    hash.update(`{${keys.length}:`);
    for (const key of keys) {
      encodeBytes(hash, 'k', Buffer.from(key, 'utf8'));
      encode(hash, record[key], `${field}.${key}`, ancestors);
    }
  }
  ancestors.delete(value);
}

function unhashable(field: string, value: unknown, received = describeValue(value)): InputValidationError {
  return new InputValidationError(
    field,
    'a string, bytes, a typed array, a number, a boolean, null, an array or a plain object',
    received,
  );
}

/** What makes two teachers' answers interchangeable: the same teacher, asked for the same kind over the same classes. */
export interface CacheIdentity {
  /** Names the teacher: a module path and its export, a service and model, what the user set as its cache key. */
  teacher: string;
  kind: DeclaredKind;
  /** The data's classes in order (empty for regression). */
  classes: readonly string[];
}

/** One row's cached answer: one number per class (probabilities, logits, regression outputs) or a class index. */
export type CachedAnswer = number[] | number;

/** A cache folder or file that cannot be used: the message names the file and says to delete the folder. */
export class AnswerCacheError extends Error {
  /** The class's name, also set on instances, so that logs and `error.name` checks see it. */
  override readonly name = 'AnswerCacheError';

  constructor(
    /** The file at fault. */
    readonly file: string,
    reason: string,
  ) {
    super(
      `the teacher's answer cache file ${file} ${reason}; delete its folder ${path.dirname(file)} to ask the teacher again`,
    );
  }
}

const IdentityFileSchema = z.object({
  format: z.literal(CACHE_FORMAT),
  teacher: z.string(),
  kind: z.enum(['auto', ...ANSWER_KINDS]),
  classes: z.array(z.string()),
});

const ChunkSchema = z.object({
  kind: z.enum(ANSWER_KINDS),
  classes: z.array(z.string()),
  entries: z.array(z.tuple([z.string(), z.union([z.array(z.number()), z.number()])])),
});

type IdentityFile = z.infer<typeof IdentityFileSchema>;

/** The file's JSON, checked against `schema`; an unreadable or malformed file is an AnswerCacheError naming it. */
function readJson<T>(file: string, schema: z.ZodType<T>): T {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    throw new AnswerCacheError(file, `cannot be read as JSON (${error instanceof Error ? error.message : 'unknown'})`);
  }
  const result = schema.safeParse(parsed);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue && issue.path.length > 0 ? ` at ${issue.path.join('.')}` : '';
    throw new AnswerCacheError(file, `is not a cache file of this version${where}: ${issue?.message ?? 'invalid'}`);
  }
  return result.data;
}

/** The format needs no comparing: the schema only reads this version's files. */
function sameIdentity(a: IdentityFile, b: IdentityFile): boolean {
  return a.teacher === b.teacher && a.kind === b.kind && sameClasses(a.classes, b.classes);
}

/** Chunk files are `<n>-<random>.json`: numbered for their order, with a random part so two writers never clash. */
const CHUNK_NAME = /^(\d+)-[0-9a-f]+\.json$/;

/** The chunk files in the order they were written (by number; ties between concurrent writers by name). */
function listChunks(folder: string): { file: string; number: number }[] {
  if (!fs.existsSync(folder)) return [];
  return fs
    .readdirSync(folder)
    .map((name) => ({ name, match: CHUNK_NAME.exec(name) }))
    .filter((entry): entry is { name: string; match: RegExpExecArray } => entry.match !== null)
    .map((entry) => ({ file: path.join(folder, entry.name), number: Number(entry.match[1]) }))
    .sort((a, b) => a.number - b.number || a.file.localeCompare(b.file));
}

/**
 * The answers of one teacher identity, from `dir/<identity hash>/`: identity.json (written once, checked on open) and
 * chunks/, one JSON file per put(): `{ kind, classes, entries: [[rowKey, answer], …] }`.
 */
export class AnswerCache {
  private readonly entries = new Map<string, CachedAnswer>();
  private decidedKind: AnswerKind | undefined;
  private nextChunk = 0;

  private constructor(
    /** This identity's folder. */
    readonly folder: string,
    readonly identity: CacheIdentity,
  ) {
    this.decidedKind = identity.kind === 'auto' ? undefined : identity.kind;
  }

  /** Opens (creating when new) the folder of `identity` under `dir` and loads every answer cached there. */
  static open(dir: string, identity: CacheIdentity): AnswerCache {
    // Built field by field: the folder's hash must not depend on the key order or extra fields of what was passed.
    const file: IdentityFile = {
      format: CACHE_FORMAT,
      teacher: identity.teacher,
      kind: identity.kind,
      classes: [...identity.classes],
    };
    const folder = path.join(dir, createHash('sha256').update(JSON.stringify(file)).digest('hex').slice(0, 16));
    const identityFile = path.join(folder, 'identity.json');
    if (!fs.existsSync(identityFile)) writeFileAtomic(identityFile, `${JSON.stringify(file, null, 2)}\n`);
    else if (!sameIdentity(readJson(identityFile, IdentityFileSchema), file))
      // 64 bits of sha256 make this a hand-edited file rather than a collision: say so instead of reusing answers.
      throw new AnswerCacheError(identityFile, `belongs to another teacher than ${JSON.stringify(identity.teacher)}`);
    const cache = new AnswerCache(folder, { ...identity, classes: [...identity.classes] });
    cache.load();
    return cache;
  }

  /** The kind of the cached answers: the declared one, or what the first chunk holds when it was 'auto'. */
  get kind(): AnswerKind | undefined {
    return this.decidedKind;
  }

  /** Rows with a cached answer. */
  get size(): number {
    return this.entries.size;
  }

  get(key: string): CachedAnswer | undefined {
    return this.entries.get(key);
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  /**
   * Caches answers: writes one new chunk file atomically (old chunks are never rewritten) and adds them here. `kind`
   * is the kind of these answers; it may be left out once the cache has a kind, and must agree with it.
   */
  put(entries: readonly (readonly [string, CachedAnswer])[], kind: AnswerKind | undefined = this.decidedKind): void {
    if (entries.length === 0) return;
    const decided = this.checkKind(kind);
    entries.forEach(([key, answer], index) => checkEntry(key, answer, `entries[${index}]`));
    const chunk = { kind: decided, classes: this.identity.classes, entries };
    const name = `${this.nextChunk}-${randomBytes(4).toString('hex')}.json`;
    writeFileAtomic(path.join(this.folder, 'chunks', name), JSON.stringify(chunk));
    this.nextChunk++;
    this.decidedKind = decided;
    for (const [key, answer] of entries) this.entries.set(key, Array.isArray(answer) ? [...answer] : answer);
  }

  private checkKind(kind: AnswerKind | undefined): AnswerKind {
    if (kind === undefined)
      throw new InputValidationError('kind', 'the kind of the answers (the cache has none yet)', 'undefined');
    if (this.decidedKind !== undefined && kind !== this.decidedKind)
      throw new InputValidationError('kind', `${this.decidedKind}, the kind the cache holds`, kind);
    return kind;
  }

  /** Reads every chunk in order; the first decides the kind, and a later one of another kind is an error. */
  private load(): void {
    const chunks = listChunks(path.join(this.folder, 'chunks'));
    for (const { file, number } of chunks) {
      const chunk = readJson(file, ChunkSchema);
      if (this.decidedKind !== undefined && chunk.kind !== this.decidedKind)
        throw new AnswerCacheError(file, `holds ${chunk.kind}, but this cache holds ${this.decidedKind}`);
      if (!sameClasses(chunk.classes, this.identity.classes))
        throw new AnswerCacheError(file, `lists other classes than its folder's identity.json`);
      this.decidedKind = chunk.kind;
      for (const [key, answer] of chunk.entries) this.entries.set(key, answer);
      this.nextChunk = Math.max(this.nextChunk, number + 1);
    }
  }
}

function sameClasses(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((name, index) => name === b[index]);
}

/** JSON has no NaN or Infinity: such an answer would come back as null, so it is refused before it is written. */
function checkEntry(key: unknown, answer: unknown, field: string): void {
  if (typeof key !== 'string' || !/^[0-9a-f]{64}$/.test(key))
    throw new InputValidationError(`${field}[0]`, 'a row key (64 hex digits, from rowKey)', describeValue(key));
  const finite = Array.isArray(answer)
    ? answer.every((value) => typeof value === 'number' && Number.isFinite(value))
    : typeof answer === 'number' && Number.isFinite(answer);
  if (!finite)
    throw new InputValidationError(
      `${field}[1]`,
      'a finite number or an array of finite numbers',
      describeValue(answer),
    );
}
