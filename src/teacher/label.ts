/**
 * A teacher you call, made into answers the engine reads: the rows of each split the run needs (the transfer set,
 * and data.test / a data.validation file for the report) are answered by the function or module — from the cache
 * first, the rest in batches (schedule.ts) — or read from a file of outputs (outputs-file.ts), checked by one set
 * of rules (answers.ts), and written as `<outDir>/data/teacher-<split>.npy`. The engine then sees a `precomputed`
 * teacher (python/distillery/precomputed.py) and never calls anything.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { z } from 'zod';
import {
  CALLED_TEACHERS,
  type DataConfig,
  type EngineTeacher,
  type FunctionTeacher,
  type ModuleTeacher,
  type OutputsTeacher,
  type PrecomputedTeacher,
} from '../config/schema';
import type { TeacherFunction, TeacherInput } from '../config/teacher-function';
import { required as requiredValue } from '../core/required';
import type { EngineProvider, PreparedData, Role } from '../data';
import { rawRows } from '../data/rows';
import { loadDataset } from '../eval/dataset';
import { writeFileAtomic } from '../io/files';
import { distilleryHome } from '../io/home';
import { npyBytes } from '../io/npy';
import { answersFrom, TeacherOutputError, type AnswerKind, type Answers } from './answers';
import { AnswerCache, rowKey, type CachedAnswer } from './cache';
import { loadTeacherModule } from './module';
import { readOutputsFile } from './outputs-file';
import { callInBatches, type CallStats } from './schedule';

/** A teacher the run calls (or reads) before the engine starts, as zod leaves it. */
export type CalledTeacherConfig =
  z.output<typeof OutputsTeacher> | z.output<typeof ModuleTeacher> | z.output<typeof FunctionTeacher>;

/** One split's rows as the teacher answered them. */
export interface SplitLabelling {
  /** The split: `transfer` (or `train` without data.transfer), `test`, `validation`. */
  split: Role;
  /** Its rows. */
  rows: number;
  /** Rows answered from the cache. */
  cached: number;
  /** Rows the teacher was asked for (a row appearing twice is asked once). */
  called: number;
}

/** What the labelling did, per split and in all: report.json's `teacher.labelling`. */
export interface TeacherLabelling {
  /** What gave the answers: `function <id>`, `module <path>`, or `outputs <path>`. */
  source: string;
  /** What the answers were; 'labels': no soft targets, the students learnt the teacher's labels as pseudo-labels. */
  kind: AnswerKind;
  /** How the kind was known: declared in the config, or decided on the first answers ('auto'). */
  kindFrom: 'declared' | 'auto';
  /** Per split: its rows, those answered from the cache, and those the teacher was asked for. */
  splits: SplitLabelling[];
  /** Calls made (first tries and retries). */
  calls: number;
  /** Attempts that failed (timeouts included). */
  failures: number;
  /** Retries made after retryable failures. */
  retries: number;
  /** Attempts that took longer than `timeoutMs`. */
  timeouts: number;
  /** Seconds spent labelling. */
  seconds: number;
  /** The cache folder of this teacher's answers; null when not cached (`cache: false`, or an outputs file). */
  cache: string | null;
}

/** Progress of the labelling, one event per answered batch (and per failed attempt). */
export interface LabellingEvent {
  /** Discriminates it from the engine's events. */
  event: 'labelling';
  /** The teacher's name. */
  teacher: string;
  /** The split being answered. */
  split: Role;
  /** The split's rows. */
  rows: number;
  /** Rows answered from the cache. */
  cached: number;
  /** Rows answered by calls so far. */
  called: number;
  /** Calls made so far (first tries and retries). */
  calls: number;
  /** Attempts that failed so far. */
  failures: number;
  /** Retries so far. */
  retries: number;
  /** Seconds since this split's calls began. */
  seconds: number;
}

export interface LabelOptions {
  /** Reads arrays (MNIST, .npz) the way the engine does. */
  engine: EngineProvider;
  signal?: AbortSignal;
  onEvent?: (event: LabellingEvent | { event: 'log'; message: string }) => void;
}

/** The engine's teacher and data once the answers are written. */
export interface Labelled {
  teacher: z.input<typeof PrecomputedTeacher>;
  data: PreparedData['data'];
  labelling: TeacherLabelling;
}

/** The engine's teacher for a teacher that is not called: the same config (a called one must be labelled first). */
export function engineTeacherOf(teacher: { type: string }, labelled: Labelled | null): z.input<typeof EngineTeacher> {
  if (labelled) return labelled.teacher;
  if (isCalledTeacher(teacher)) throw new Error(`internal error: the '${teacher.type}' teacher was not labelled`);
  return teacher as z.input<typeof EngineTeacher>;
}

/** Whether a teacher is one the run calls or reads before the engine starts. */
export function isCalledTeacher(teacher: { type: string }): teacher is CalledTeacherConfig {
  return (CALLED_TEACHERS as readonly string[]).includes(teacher.type);
}

/** The splits whose rows the teacher answers: the transfer set always; data.test and a validation file for the report. */
export function labelledSplits(teacher: CalledTeacherConfig, data: DataConfig): Role[] {
  const transfer: Role = data.transfer ? 'transfer' : 'train';
  const ownValidation = data.validation !== undefined && !['split', 'fold'].includes(data.validation.type);
  if (teacher.type === 'outputs')
    return [
      transfer,
      ...(teacher.test ? (['test'] as const) : []),
      ...(teacher.validation && ownValidation ? (['validation'] as const) : []),
    ];
  if (!teacher.evaluate) return [transfer];
  return [transfer, 'test', ...(ownValidation ? (['validation'] as const) : [])];
}

/**
 * Answers every split the run needs with the teacher and writes them beside the data; returns the engine's
 * `precomputed` teacher and data config.
 */
export async function labelData(
  teacher: CalledTeacherConfig,
  data: DataConfig,
  prepared: PreparedData,
  outDir: string,
  options: LabelOptions,
): Promise<Labelled> {
  const started = performance.now();
  let answered: Answered;
  try {
    const classes = await classNamesOf(data, prepared, options.engine, scratchOf(outDir));
    const splits = labelledSplits(teacher, data);
    answered =
      teacher.type === 'outputs'
        ? await readAnswerFiles(teacher, data, prepared, classes, splits, outDir, options)
        : await callTeacher(teacher, data, prepared, classes, splits, outDir, options);
  } finally {
    fs.rmSync(scratchOf(outDir), { recursive: true, force: true }); // arrays read through the engine, once
  }
  const files: Partial<Record<Role, string>> = {};
  const digest = createHash('sha256');
  for (const [role, answers] of answered.blocks) {
    const file = path.join(outDir, 'data', `teacher-${role}.npy`);
    const bytes = answersNpy(answers);
    writeFileAtomic(file, bytes);
    digest.update(role).update(bytes);
    files[role] = file;
  }
  const labelling: TeacherLabelling = {
    ...answered.labelling,
    seconds: (performance.now() - started) / 1000,
  };
  return {
    teacher: {
      type: 'precomputed',
      name: teacher.name,
      kind: labelling.kind,
      source: labelling.source,
      sha256: digest.digest('hex'),
    },
    data: { ...prepared.data, teacherOutputs: files },
    labelling,
  };
}

/** Class names in order (classification), or the names of the regression targets: what answers are read against. */
interface Classes {
  task: 'classification' | 'regression';
  names: readonly string[];
}

async function classNamesOf(
  data: DataConfig,
  prepared: PreparedData,
  engine: EngineProvider,
  scratch: string,
): Promise<Classes> {
  const named = prepared.data.labels ?? data.labels;
  if (named !== undefined) return { task: data.task, names: named };
  if (data.task === 'classification' && data.numClasses !== undefined)
    return { task: data.task, names: Array.from({ length: data.numClasses }, (_, index) => String(index)) };
  // Arrays without names: the classes (or targets) the engine will find in data.train's labels.
  const file = path.join(scratch, 'train-labels.npz');
  fs.mkdirSync(scratch, { recursive: true });
  await (await engine()).call('write_split', { data: prepared.data, split: 'train', path: file });
  try {
    const dataset = await loadDataset(file);
    const y = dataset.y;
    if (data.task === 'regression')
      return { task: data.task, names: Array.from({ length: dataset.targetWidth }, (_, index) => `y${index}`) };
    let top = 0;
    for (const value of y ?? []) top = Math.max(top, value);
    return { task: data.task, names: Array.from({ length: top + 1 }, (_, index) => String(index)) };
  } finally {
    fs.rmSync(file, { force: true });
  }
}

interface Answered {
  blocks: [Role, Answers][];
  labelling: Omit<TeacherLabelling, 'seconds'>;
}

// ------------------------------------------------------------ a file of outputs

async function readAnswerFiles(
  teacher: z.output<typeof OutputsTeacher>,
  data: DataConfig,
  prepared: PreparedData,
  classes: Classes,
  splits: readonly Role[],
  outDir: string,
  options: LabelOptions,
): Promise<Answered> {
  const blocks: [Role, Answers][] = [];
  let decided: AnswerKind | undefined;
  for (const role of splits) {
    // (absolute: resolveTeacherPaths made them so when the config was parsed)
    const file = required(role === 'test' ? teacher.test : role === 'validation' ? teacher.validation : teacher.path);
    const where = role === 'test' ? 'teacher.test' : role === 'validation' ? 'teacher.validation' : 'teacher.path';
    const rows = await rawRows(data, prepared, role, options.engine, scratchOf(outDir));
    const answers = await readOutputsFile(file, {
      kind: decided ?? teacher.kind,
      classNames: classes.task === 'classification' ? classes.names : [],
      task: classes.task,
      outputs: classes.names.length,
      rows: rows.rows.length,
      ...(teacher.id !== undefined ? { idColumn: teacher.id, ids: idsOf(rows.rows, teacher.id, role) } : {}),
      where,
    });
    decided = answers.kind;
    blocks.push([role, answers]);
  }
  const kind = required(decided);
  return {
    blocks,
    labelling: {
      source: `outputs ${teacher.path}`,
      kind,
      kindFrom: teacher.kind === 'auto' ? 'auto' : 'declared',
      splits: blocks.map(([split, answers]) => ({ split, rows: answers.rows, cached: 0, called: 0 })),
      calls: 0,
      failures: 0,
      retries: 0,
      timeouts: 0,
      cache: null,
    },
  };
}

/** The data's ids, as strings, from a table's id column; a row without one is an error naming it. */
function idsOf(rows: readonly TeacherInput[], column: string, role: Role): string[] {
  return rows.map((row, index) => {
    const value = isTableRow(row) ? row[column] : undefined;
    if (value === undefined || value === null || value === '')
      throw new TeacherOutputError(`data.${role}`, index, null, `no id in column "${column}" (teacher.id)`, {
        where: 'teacher.id',
        field: column,
      });
    return String(value);
  });
}

function isTableRow(row: TeacherInput): row is Readonly<Record<string, string | number | boolean | null | undefined>> {
  return !ArrayBuffer.isView(row);
}

// ------------------------------------------------------------ a teacher you call

async function callTeacher(
  teacher: z.output<typeof ModuleTeacher> | z.output<typeof FunctionTeacher>,
  data: DataConfig,
  prepared: PreparedData,
  classes: Classes,
  splits: readonly Role[],
  outDir: string,
  options: LabelOptions,
): Promise<Answered> {
  const { call, identity, source } = await teacherFunction(teacher);
  const cacheRoot =
    teacher.cache === false
      ? null
      : teacher.cache === 'auto'
        ? path.join(distilleryHome(), 'teacher-answers')
        : teacher.cache; // absolute: resolveTeacherPaths made it so when the config was parsed
  const cache =
    cacheRoot === null
      ? null
      : AnswerCache.open(cacheRoot, { teacher: identity, kind: teacher.kind, classes: classes.names });
  let decided: AnswerKind | undefined = cache?.kind ?? (teacher.kind === 'auto' ? undefined : teacher.kind);
  const blocks: [Role, Answers][] = [];
  const counts: TeacherLabelling['splits'] = [];
  const totals = { calls: 0, failures: 0, retries: 0, timeouts: 0 };
  for (const role of splits) {
    const { rows } = await rawRows(data, prepared, role, options.engine, scratchOf(outDir));
    const keys = rows.map(rowKey);
    const known = new Map<string, CachedAnswer>();
    for (const key of keys) {
      const hit = cache?.get(key);
      if (hit !== undefined) known.set(key, hit);
    }
    // Each distinct row is asked once, even when it appears several times in the split.
    const asked = new Set<string>();
    const pending: { index: number; input: TeacherInput }[] = [];
    keys.forEach((key, index) => {
      if (known.has(key) || asked.has(key)) return;
      asked.add(key);
      pending.push({ index, input: required(rows[index]) });
    });
    const cached = rows.length - keys.filter((key) => !known.has(key)).length;
    const emit = (stats: CallStats): void =>
      options.onEvent?.({
        event: 'labelling',
        teacher: teacher.name,
        split: role,
        rows: rows.length,
        cached,
        called: stats.called,
        calls: stats.calls,
        failures: stats.failures,
        retries: stats.retries,
        seconds: stats.seconds,
      });
    const stats = await callInBatches(
      pending,
      (inputs, context) =>
        Promise.resolve(
          call(inputs, {
            signal: context.signal,
            rows: context.rows,
            split: role,
            attempt: context.attempt - 1,
            classes: classes.names,
          }),
        ) as Promise<unknown[]>,
      {
        batchSize: teacher.batchSize,
        concurrency: teacher.concurrency,
        timeoutMs: teacher.timeoutMs,
        callsPerSecond: teacher.callsPerSecond,
        retries: teacher.retries,
        backoffMs: teacher.backoffMs,
        maxBackoffMs: teacher.maxBackoffMs,
        cached,
        ...(options.signal ? { signal: options.signal } : {}),
        onProgress: emit,
        onAnswers: (indices, answers) => {
          const block = checkedBlock(answers, indices, { teacher, source, classes, decided, role });
          decided = block.kind;
          const entries = indices.map((index, i): [string, CachedAnswer] => [required(keys[index]), rowOf(block, i)]);
          cache?.put(entries, block.kind);
          for (const [key, answer] of entries) known.set(key, answer);
        },
      },
    );
    emit(stats);
    totals.calls += stats.calls;
    totals.failures += stats.failures;
    totals.retries += stats.retries;
    totals.timeouts += stats.timeouts;
    counts.push({ split: role, rows: rows.length, cached, called: stats.called });
    const kind = decided ?? (teacher.kind === 'auto' ? undefined : teacher.kind);
    blocks.push([
      role,
      blockOf(
        keys.map((key) => required(known.get(key))),
        required(kind),
        classes.names.length,
      ),
    ]);
  }
  return {
    blocks,
    labelling: {
      source,
      kind: required(decided ?? (teacher.kind === 'auto' ? undefined : teacher.kind)),
      kindFrom: teacher.kind === 'auto' ? 'auto' : 'declared',
      splits: counts,
      ...totals,
      cache: cache?.folder ?? null,
    },
  };
}

/** The function, the identity its answers are cached under, and how the report names it. */
async function teacherFunction(
  teacher: z.output<typeof ModuleTeacher> | z.output<typeof FunctionTeacher>,
): Promise<{ call: TeacherFunction; identity: string; source: string }> {
  if (teacher.type === 'function')
    return { call: teacher.call, identity: `function ${teacher.id}`, source: `function ${teacher.id}` };
  const file = teacher.path;
  const loaded = await loadTeacherModule(file, teacher.export);
  const identity = teacher.id ?? `module sha256:${loaded.sha256}#${teacher.export}`;
  return { call: loaded.call, identity, source: `module ${file}#${teacher.export}` };
}

/** One batch's answers, checked: exactly one per row, each by answers.ts's rules; errors name the split's rows. */
function checkedBlock(
  answers: unknown,
  indices: readonly number[],
  context: {
    teacher: { name: string; kind: 'auto' | AnswerKind };
    source: string;
    classes: Classes;
    decided: AnswerKind | undefined;
    role: Role;
  },
): Answers {
  const first = indices[0] ?? 0;
  const last = indices[indices.length - 1] ?? first;
  const where = `teacher.call, data.${context.role}`;
  if (!Array.isArray(answers))
    throw new TeacherOutputError(
      context.source,
      first,
      null,
      `expected an array of answers, one per row, received ${describe(answers)}`,
      { where },
    );
  if (answers.length !== indices.length)
    throw new TeacherOutputError(
      context.source,
      first,
      null,
      `expected ${indices.length} answers for rows ${first + 1}–${last + 1}, received ${answers.length}`,
      { where },
    );
  try {
    return answersFrom(answers as unknown[], {
      kind: context.teacher.kind,
      ...(context.decided ? { decided: context.decided } : {}),
      classNames: context.classes.task === 'classification' ? context.classes.names : [],
      task: context.classes.task,
      outputs: context.classes.names.length,
      firstRow: 0,
      source: context.source,
      where,
    });
  } catch (error) {
    // answersFrom counts rows within the batch; the batch's rows may skip cached ones, so name the split's row.
    if (error instanceof TeacherOutputError && error.row !== null) {
      const row = indices[error.row] ?? first;
      const detail = error.message.slice(error.message.indexOf(': ') + 2);
      throw new TeacherOutputError(context.source, row, null, detail, {
        where,
        ...(error.field ? { field: error.field } : {}),
        cause: error,
      });
    }
    throw error;
  }
}

function describe(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value;
}

/** Row `i` of a block, as the cache keeps it. */
function rowOf(block: Answers, i: number): CachedAnswer {
  if (block.kind === 'labels') return required(block.values[i]);
  return Array.from(block.values.subarray(i * block.classes, (i + 1) * block.classes));
}

function blockOf(rows: readonly CachedAnswer[], kind: AnswerKind, classes: number): Answers {
  if (kind === 'labels') return { kind, rows: rows.length, classes, values: Float32Array.from(rows as number[]) };
  const values = new Float32Array(rows.length * classes);
  rows.forEach((row, index) => values.set(row as number[], index * classes));
  return { kind, rows: rows.length, classes, values };
}

/** float32 [rows, classes] for probabilities and logits, int64 [rows] class indices for labels. */
function answersNpy(answers: Answers): Uint8Array {
  if (answers.kind === 'labels')
    return npyBytes(
      BigInt64Array.from(answers.values, (value) => BigInt(value)),
      [answers.rows],
    );
  return npyBytes(answers.values, [answers.rows, answers.classes]);
}

function scratchOf(outDir: string): string {
  return path.join(outDir, 'data', 'scratch');
}

function required<T>(value: T | undefined): T {
  return requiredValue(value, 'a value the labelling computed');
}
