/**
 * Teacher answers: the one place that checks what a teacher said about each row and turns it into a block of
 * float32 values the engine reads as a `precomputed` teacher. A user function's results and an outputs file's
 * rows both come through {@link answersFrom}, so that both follow the same rules and give the same messages.
 *
 * The rules, in one place:
 * - An object `{ probabilities }`, `{ logits }` or `{ label }` says its kind; a bare array of numbers is
 *   probabilities or logits as declared; a string (a class name) or a number (a class index) is a label.
 * - Kind 'auto' is decided on the first block of answers and then held (the caller passes it back as `decided`):
 *   if an answer says its kind, that kind; bare arrays are probabilities when every value of the block lies in
 *   [0, 1], else logits; bare strings and numbers are labels. Errors that depend on that decision repeat it, so
 *   that a wrong guess is never silent.
 * - probabilities: one per class, finite, each in [0, 1], each row summing to 1 within 1e-3.
 * - logits: one per class, finite.
 * - labels: a class name of the data, or an integer class index in [0, classes).
 * - regression: each answer is a number or an array of `outputs` numbers (or `{ logits }`); the kind is 'logits'.
 */
import { describeValue } from '../core/errors';

/** What a block of answers holds. */
export type AnswerKind = 'probabilities' | 'logits' | 'labels';
/** What a teacher is declared to answer: 'auto' decides on the first answers (see the module's rules). */
export type DeclaredKind = 'auto' | AnswerKind;
/** Classification teachers answer classes; regression teachers answer values (reported as kind 'logits'). */
export type TeacherTask = 'classification' | 'regression';

/** One row's answer as a teacher gives it (the contract in src/config/teacher-function.ts). */
export type { TeacherAnswer } from '../config/teacher-function';

/** A block of validated answers, rows × classes. */
export interface Answers {
  kind: AnswerKind;
  rows: number;
  /** The data's classes (classification), or the values per row (regression). */
  classes: number;
  /** probabilities/logits: rows*classes float32, row-major; labels: one class index per row (as float32). */
  values: Float32Array;
}

/** Where a {@link TeacherOutputError} is, and what caused it. */
export interface TeacherOutputErrorOptions {
  /** The config path the source came from (`teacher.path`), named in the message. */
  where?: string;
  /** The part of the answer at fault: a class name, `label`, an id column. */
  field?: string;
  /** What caused it (a parse error, an earlier TeacherOutputError). */
  cause?: unknown;
}

/**
 * A teacher's answer, or a file of them, is not what the teacher's kind and the data's classes call for.
 * The message names the source (and config path), the line or row, what was expected and what was received.
 */
export class TeacherOutputError extends Error {
  /** The class's name, also set on instances, so that logs and `error.name` checks see it. */
  override readonly name = 'TeacherOutputError';
  /** The config path of the source (`teacher.path`, `teacher.call, data.train`), when known. */
  readonly where: string | undefined;
  /** The part of the answer at fault (a class name, `label`, an id column), when it is one. */
  readonly field: string | undefined;

  constructor(
    /** What gave the answers: `teacher.call`, `teacher.module <path>`, or an outputs file's path. */
    readonly source: string,
    /** The 0-based row of the data (the role's rows, in order); null when the problem is not one row's. */
    readonly row: number | null,
    /** The 1-based line of a text file; null for arrays, function results and whole-file problems. */
    readonly line: number | null,
    detail: string,
    options: TeacherOutputErrorOptions = {},
  ) {
    super(`${placeOf(source, row, line, options.where)}: ${detail}`, { cause: options.cause });
    this.where = options.where;
    this.field = options.field;
  }
}

/**
 * "file.csv (teacher.path), line 7 (row 6)". Rows are counted from 1 in messages, as the scheduler's "rows 33–64"
 * are; the error's `row` field stays 0-based.
 */
function placeOf(source: string, row: number | null, line: number | null, where: string | undefined): string {
  const named = where === undefined ? source : `${source} (${where})`;
  if (line !== null && row !== null) return `${named}, line ${line} (row ${row + 1})`;
  if (line !== null) return `${named}, line ${line}`;
  if (row !== null) return `${named}, row ${row + 1}`;
  return named;
}

/** How to read a block of answers. */
export interface AnswersOptions {
  /** The declared kind. */
  kind: DeclaredKind;
  /** The data's classes in order: class names map labels, and their count is the width of a row. */
  classNames: readonly string[];
  /** The row index of raw[0] among the role's rows, for messages. */
  firstRow: number;
  /** What to name in errors (`teacher.call`, an outputs file's path). */
  source: string;
  /** The kind 'auto' decided on earlier answers: it is held, never decided again. */
  decided?: AnswerKind;
  /** 'classification' (the default) or 'regression'. */
  task?: TeacherTask;
  /** Regression only: values per row (default 1). */
  outputs?: number;
  /** The config path of the source, for messages. */
  where?: string;
  /** The 1-based file line of each raw answer, for messages (outputs files). */
  lines?: readonly (number | null)[];
}

/** Probabilities a float32 softmax writes can stray this far outside [0, 1]; they are kept as they are. */
const PROBABILITY_SLACK = 1e-6;
/** How far a row of probabilities may sum from 1. */
const SUM_TOLERANCE = 1e-3;
/** The keys of an answer object that says its kind. */
export const ANSWER_KEYS = ['probabilities', 'logits', 'label'] as const;
type AnswerKey = (typeof ANSWER_KEYS)[number];

/** A row of numbers as a teacher gives it (its elements are checked one by one). */
type Vector = readonly unknown[] | Float32Array | Float64Array;

/** One raw answer, sorted by form before the block's kind is known. */
type Entry =
  | { form: 'vector'; values: Vector; says: 'probabilities' | 'logits' | null }
  | { form: 'label'; value: unknown; says: boolean };

/** What the block is read as, and why (repeated in errors that depend on it). */
interface Choice {
  kind: AnswerKind;
  because: string | null;
}

/** Everything a row check needs. */
interface Context {
  options: AnswersOptions;
  task: TeacherTask;
  classes: number;
  classIndex: ReadonlyMap<string, number>;
}

/**
 * Validates a block of raw answers (one per row, rows firstRow… in order) and returns them as float32 values.
 * Throws {@link TeacherOutputError} naming the source, the row (and line) and what was expected vs received.
 */
export function answersFrom(raw: readonly unknown[], options: AnswersOptions): Answers {
  const context = contextOf(options);
  const entries = raw.map((value, index) => entryOf(value, index, context));
  const choice = chooseKind(entries, context);
  const width = choice.kind === 'labels' ? 1 : context.classes;
  const values = new Float32Array(entries.length * width);
  entries.forEach((entry, index) => {
    writeRow(entry, index, choice, context, values.subarray(index * width, (index + 1) * width));
  });
  return { kind: choice.kind, rows: entries.length, classes: context.classes, values };
}

function contextOf(options: AnswersOptions): Context {
  const task = options.task ?? 'classification';
  const fail = (detail: string): never => {
    throw new TeacherOutputError(options.source, null, null, detail, { where: options.where });
  };
  if (task === 'regression') {
    const outputs = options.outputs ?? 1;
    if (!Number.isInteger(outputs) || outputs < 1) fail(`regression needs outputs ≥ 1, received ${outputs}`);
    if (options.kind === 'probabilities' || options.kind === 'labels') {
      fail(`kind '${options.kind}' needs a classification task; a regression teacher answers values (kind 'auto')`);
    }
    return { options, task, classes: outputs, classIndex: new Map() };
  }
  if (options.classNames.length === 0) fail("a classification teacher needs the data's class names; none were given");
  const classIndex = new Map(options.classNames.map((name, index) => [name, index]));
  return { options, task, classes: options.classNames.length, classIndex };
}

// ---------------------------------------------------------------- sorting answers by form

function entryOf(value: unknown, index: number, context: Context): Entry {
  if (typeof value === 'string') {
    if (context.task === 'regression')
      throw rowError(context, index, expectedText(fixedChoice(context), context), describeValue(value));
    return { form: 'label', value, says: false };
  }
  if (typeof value === 'number') {
    // A bare number is a class index for a classifier, and the one value of a single-output regression.
    if (context.task === 'regression') return { form: 'vector', values: [value], says: null };
    return { form: 'label', value, says: false };
  }
  if (Array.isArray(value) || value instanceof Float32Array || value instanceof Float64Array) {
    return { form: 'vector', values: value as Vector, says: null };
  }
  if (isPlainObject(value)) return explicitEntry(value, index, context);
  throw rowError(context, index, expectedText(fixedChoice(context), context), describeValue(value));
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || ArrayBuffer.isView(value)) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/** `{ probabilities }`, `{ logits }` or `{ label }`: exactly one of those keys and nothing else. */
function explicitEntry(value: Record<string, unknown>, index: number, context: Context): Entry {
  const keys = Object.keys(value);
  const known = keys.filter((key): key is AnswerKey => (ANSWER_KEYS as readonly string[]).includes(key));
  const [key] = known;
  if (key === undefined || known.length !== 1 || keys.length !== 1) {
    const received = keys.length === 0 ? 'an empty object' : `an object with keys ${keys.join(', ')}`;
    throw rowError(context, index, 'an object with exactly one key: probabilities, logits or label', received);
  }
  if (key === 'label') {
    if (context.task === 'regression')
      throw rowError(context, index, expectedText(fixedChoice(context), context), 'a label');
    return { form: 'label', value: value.label, says: true };
  }
  const values = value[key];
  if (!Array.isArray(values) && !(values instanceof Float32Array) && !(values instanceof Float64Array)) {
    throw rowError(context, index, 'an array of numbers', describeValue(values), key);
  }
  return { form: 'vector', values: values as Vector, says: key };
}

// ---------------------------------------------------------------- deciding the kind

function chooseKind(entries: readonly Entry[], context: Context): Choice {
  return fixedChoice(context) ?? decideAuto(entries, context);
}

/** The kind known before looking at the answers: regression, declared, or decided earlier; null: 'auto' decides. */
function fixedChoice(context: Context): Choice | null {
  const { kind, decided } = context.options;
  if (context.task === 'regression') return { kind: 'logits', because: null };
  if (kind !== 'auto') return { kind, because: null };
  if (decided !== undefined) {
    return { kind: decided, because: `kind 'auto' decided ${decided} on the first answers and holds it` };
  }
  return null;
}

/** The 'auto' rule on the first block (see the module's comment); a block that mixes kinds is an error. */
function decideAuto(entries: readonly Entry[], context: Context): Choice {
  const [first] = entries;
  if (first === undefined) {
    throw new TeacherOutputError(
      context.options.source,
      null,
      null,
      "kind 'auto' is decided on the first answers, and there were none; declare the teacher's kind",
      { where: context.options.where },
    );
  }
  const said = new Map<AnswerKind, number>();
  entries.forEach((entry, index) => {
    const kind = entry.form === 'label' ? 'labels' : entry.says;
    if (kind !== null && !said.has(kind)) said.set(kind, index);
  });
  const labels = entries.findIndex((entry) => entry.form === 'label');
  const vectors = entries.findIndex((entry) => entry.form === 'vector');
  if (labels >= 0 && vectors >= 0) {
    const [earlier, later] = labels < vectors ? ['a label', 'an array of numbers'] : ['an array of numbers', 'a label'];
    const row = context.options.firstRow + Math.min(labels, vectors) + 1;
    throw rowError(context, Math.max(labels, vectors), `${earlier} like row ${row}: one kind per teacher`, later);
  }
  if (said.size > 1) {
    const [[firstKind, firstAt], [otherKind, at]] = [...said.entries()] as [[AnswerKind, number], [AnswerKind, number]];
    const row = context.options.firstRow + firstAt + 1;
    throw rowError(context, at, `${firstKind} like row ${row}: one kind per teacher`, otherKind);
  }
  const [saidKind] = said.keys();
  if (saidKind !== undefined) return { kind: saidKind, because: null };
  return byRange(entries, context);
}

/** Bare arrays: probabilities when every value lies in [0, 1], else logits. */
function byRange(entries: readonly Entry[], context: Context): Choice {
  for (const [index, entry] of entries.entries()) {
    if (entry.form !== 'vector') continue;
    for (const value of entry.values) {
      // Non-numbers and NaN are left for the row check, which names them.
      if (typeof value !== 'number' || Number.isNaN(value) || isProbability(value)) continue;
      const row = context.options.firstRow + index + 1;
      return {
        kind: 'logits',
        because: `kind 'auto' read the answers as logits because a value lies outside [0, 1] (row ${row} has ${value}); declare kind 'probabilities' if they are probabilities`,
      };
    }
  }
  return {
    kind: 'probabilities',
    because:
      "kind 'auto' read the answers as probabilities because every value of the first answers lies in [0, 1]; declare kind 'logits' if they are logits",
  };
}

function isProbability(value: number): boolean {
  return value >= -PROBABILITY_SLACK && value <= 1 + PROBABILITY_SLACK;
}

// ---------------------------------------------------------------- checking and writing one row

function writeRow(entry: Entry, index: number, choice: Choice, context: Context, out: Float32Array): void {
  if (choice.kind === 'labels') {
    out[0] = labelOf(entry, index, choice, context);
    return;
  }
  if (entry.form !== 'vector' || (entry.says !== null && entry.says !== choice.kind)) {
    const received = entry.form === 'vector' ? describeVector(entry) : describeLabel(entry);
    throw rowError(context, index, expectedText(choice, context), received, undefined, choice.because);
  }
  writeVector(entry.values, index, choice, context, out);
}

function describeVector(entry: Entry & { form: 'vector' }): string {
  return entry.says === null ? describeValue(entry.values) : `an object with ${entry.says}`;
}

function describeLabel(entry: Entry & { form: 'label' }): string {
  return entry.says ? `a label (${describeValue(entry.value)})` : describeValue(entry.value);
}

function labelOf(entry: Entry, index: number, choice: Choice, context: Context): number {
  if (entry.form !== 'label') {
    const received = describeVector(entry);
    throw rowError(context, index, expectedText(choice, context), received, undefined, choice.because);
  }
  const { value } = entry;
  if (typeof value === 'string') {
    const found = context.classIndex.get(value);
    if (found !== undefined) return found;
    const names = listNames(context.options.classNames);
    throw rowError(context, index, `a class name of the data (${names})`, describeValue(value), 'label');
  }
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value < context.classes) return value;
  const expected = `a class name, or a class index: an integer from 0 to ${context.classes - 1}`;
  throw rowError(context, index, expected, describeValue(value), 'label', choice.because);
}

function writeVector(values: Vector, index: number, choice: Choice, context: Context, out: Float32Array): void {
  if (values.length !== context.classes) {
    // The length is wrong whatever the kind: the auto decision is not the point here.
    throw rowError(context, index, expectedText(choice, context), describeValue(values));
  }
  const probabilities = choice.kind === 'probabilities';
  let sum = 0;
  for (let at = 0; at < values.length; at++) {
    const value = values[at];
    const field = fieldName(at, context);
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw rowError(context, index, 'a finite number', describeValue(value), field);
    }
    if (probabilities && !isProbability(value)) {
      throw rowError(context, index, 'a probability in [0, 1]', String(value), field, choice.because);
    }
    sum += value;
    out[at] = value;
  }
  if (probabilities && Math.abs(sum - 1) > SUM_TOLERANCE) {
    const detail = `probabilities that sum to 1 (within ${SUM_TOLERANCE})`;
    throw rowError(context, index, detail, `probabilities that sum to ${roundSum(sum)}`, undefined, choice.because);
  }
}

function roundSum(sum: number): string {
  return String(Number(sum.toPrecision(6)));
}

/** A value's class name (classification) or its position (regression), for messages. */
function fieldName(at: number, context: Context): string {
  const name = context.options.classNames[at];
  return context.task === 'classification' && name !== undefined ? `class ${JSON.stringify(name)}` : `value ${at}`;
}

/** What an answer should be, in words, for the chosen kind (null: not decided yet). */
function expectedText(choice: Choice | null, context: Context): string {
  const { classes } = context;
  if (context.task === 'regression') {
    return classes === 1 ? 'a number (or an array of 1 number)' : `an array of ${classes} numbers`;
  }
  const perClass = `one per class: ${listNames(context.options.classNames)}`;
  switch (choice?.kind) {
    case 'probabilities':
      return `an array of ${classes} probabilities (${perClass})`;
    case 'logits':
      return `an array of ${classes} logits (${perClass})`;
    case 'labels':
      return `a class name or a class index from 0 to ${classes - 1}`;
    default:
      return `an array of ${classes} numbers (${perClass}), a class name or index, or an object with probabilities, logits or label`;
  }
}

/** The first few class names; the count when there are more. */
function listNames(names: readonly string[]): string {
  const shown = names.slice(0, 6).map((name) => JSON.stringify(name));
  return names.length > shown.length ? `${shown.join(', ')}, … ${names.length} in all` : shown.join(', ');
}

function rowError(
  context: Context,
  index: number,
  expected: string,
  received: string,
  field?: string,
  because?: string | null,
): TeacherOutputError {
  const { options } = context;
  const subject = field === undefined ? '' : `${field}: `;
  const reason = because === null || because === undefined ? '' : ` (${because})`;
  return new TeacherOutputError(
    options.source,
    options.firstRow + index,
    options.lines?.[index] ?? null,
    `${subject}expected ${expected}, received ${received}${reason}`,
    { where: options.where, field },
  );
}

// ---------------------------------------------------------------- blocks

/** Values per row of a block. */
function widthOf(answers: Answers): number {
  return answers.kind === 'labels' ? 1 : answers.classes;
}

/** Blocks of the same kind and classes, one after the other. */
export function concatAnswers(blocks: readonly Answers[]): Answers {
  const [first] = blocks;
  if (first === undefined) throw new TypeError('concatAnswers needs at least one block');
  for (const block of blocks) {
    if (block.kind !== first.kind || block.classes !== first.classes) {
      throw new TypeError(
        `concatAnswers: a block of ${block.kind} × ${block.classes} after one of ${first.kind} × ${first.classes}`,
      );
    }
  }
  const rows = blocks.reduce((total, block) => total + block.rows, 0);
  const values = new Float32Array(rows * widthOf(first));
  let offset = 0;
  for (const block of blocks) {
    values.set(block.values, offset);
    offset += block.values.length;
  }
  return { kind: first.kind, rows, classes: first.classes, values };
}

/** The given rows of a block, in the order given (an index may repeat). */
export function selectRows(answers: Answers, indices: readonly number[]): Answers {
  const width = widthOf(answers);
  const values = new Float32Array(indices.length * width);
  indices.forEach((row, at) => {
    if (!Number.isInteger(row) || row < 0 || row >= answers.rows) {
      throw new RangeError(`selectRows: row ${row} is outside the block's ${answers.rows} rows`);
    }
    values.set(answers.values.subarray(row * width, (row + 1) * width), at * width);
  });
  return { kind: answers.kind, rows: indices.length, classes: answers.classes, values };
}
