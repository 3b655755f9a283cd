/**
 * The training facade: `trainTeacher()` and `distill()` — one call each does
 * the obvious thing (train, save the checkpoint, export to ONNX) and returns
 * the metrics and artefact paths. `run()` (src/experiment) runs a whole
 * experiment file.
 */
import * as path from 'node:path';
import { z } from 'zod';
import { parseWith, resolveDataPaths, resolveModelPaths, resolveTeacherPaths } from '../config';
import { ConfigError } from '../config/errors';
import { Data, DataSource, DistillOptions, TrainTeacherOptions, type DataConfig } from '../config/schema';
import type { Engine, EngineEvent, ModelResult } from '../engine';
import { withOnDemandEngine } from '../engine/on-demand';
import { materializeArrays, type ArraySourceInput } from './arrays';
import { ensureOutputDir } from '../io/files';
import { lockRunFolder } from '../io/run-folder';
import { prepareData, type EngineDataConfig, type PreparedData } from '../data';
import type { DistillRequest } from '../engine/commands';
import {
  engineTeacherOf,
  isCalledTeacher,
  labelData,
  type LabellingEvent,
  type TeacherLabelling,
} from '../teacher/label';

export { ArraySource, type ArraySourceInput } from './arrays';

/** Options of one {@link trainTeacher} or {@link distill} call: the engine to use, cancellation, progress. */
export interface FacadeCallOptions {
  /** An engine to reuse; without one, a fresh engine is started and closed around the call. */
  engine?: Engine;
  /**
   * Cancels the call: training stops at the next batch boundary and the call rejects with {@link EngineAbortError}.
   */
  signal?: AbortSignal;
  /** Receives each progress event (phase start, step, epoch, phase end, log lines) as the engine sends it. */
  onEvent?: (event: EngineEvent) => void;
  /** Receives the progress of a teacher you call as it answers the rows (src/teacher), before the training. */
  onLabelling?: (event: LabellingEvent) => void;
}

/** What {@link distill} returns: the student's result, and how a teacher you call answered (when it was one). */
export type DistillResult = ModelResult & {
  /** How a teacher you call answered the rows: counts per split, calls, retries, the kind of its answers. */
  labelling?: TeacherLabelling;
};

export type { ModelResult } from '../engine';

type SourceInput = z.input<typeof DataSource> | ArraySourceInput;
/** `data` as the facade takes it: any split may also be typed arrays in memory. */
export type FacadeDataInput = Omit<z.input<typeof Data>, 'train' | 'test' | 'transfer' | 'validation'> & {
  /** The training split: a data source, or typed arrays ({@link ArraySource}). */
  train?: SourceInput;
  /** The test split: a data source, or typed arrays. */
  test?: SourceInput;
  /**
   * The transfer set a student learns the teacher's outputs on (default: the training split): a source, or arrays.
   */
  transfer?: SourceInput;
  /** The validation split (for `checkpoint: 'best'` and sweeps): a data source, or typed arrays. */
  validation?: SourceInput;
};
type WithArrays<T> = Omit<T, 'data'> & { data?: FacadeDataInput };
/** What {@link trainTeacher} takes: {@link TrainTeacherOptionsInput}, with typed arrays allowed as data. */
export type TrainTeacherInput = WithArrays<z.input<typeof TrainTeacherOptions>>;
/** What {@link distill} takes: {@link DistillOptionsInput}, with typed arrays allowed as data. */
export type DistillInput = WithArrays<z.input<typeof DistillOptions>>;

const SPLITS = ['train', 'test', 'transfer', 'validation'] as const;

/** Replaces in-memory array sources by .npz files under `<outDir>/data`, so only paths cross the bridge. */
function withArraysOnDisk(options: Record<string, unknown>, outDir: string): Record<string, unknown> {
  const data = options.data;
  if (!data || typeof data !== 'object') return options;
  const copy: Record<string, unknown> = { ...(data as Record<string, unknown>) };
  for (const split of SPLITS) {
    const source = copy[split] as { type?: unknown } | undefined;
    if (source?.type === 'arrays')
      copy[split] = materializeArrays(source, path.join(outDir, 'data'), split, `data.${split}`);
  }
  return { ...options, data: copy };
}

type Parsed<S extends z.ZodType> = Omit<z.output<S>, 'outDir'> & { outDir: string; data: DataConfig };

/** Checks the output folder and parses the options (typed arrays go to .npz files first). Nothing is locked yet. */
function parseOptions<S extends z.ZodType>(schema: S, options: unknown): Parsed<S> {
  if (!options || typeof options !== 'object')
    throw new ConfigError([{ path: '', message: 'expected an options object' }]);
  const raw = options as Record<string, unknown>;
  const outDir = typeof raw.outDir === 'string' ? path.resolve(raw.outDir) : '';
  if (outDir) ensureOutputDir(outDir, { create: false }); // an unusable folder fails before anything is written or trained
  const parsed = parseWith(schema, withArraysOnDisk(raw, outDir)) as z.output<S> & { data: DataConfig };
  return { ...parsed, outDir, data: resolveDataPaths(parsed.data, process.cwd()) };
}

/**
 * Runs `work` holding the output folder's lock (not waiting: a folder in use fails at once, naming the holder),
 * so two calls never write one folder at the same time; tables and images are encoded for the engine under it.
 * One engine (the caller's, or one started here and closed after) fits a text column's tokenizer and trains.
 */
async function inLockedFolder<T>(
  parsed: { outDir: string; data: DataConfig },
  purpose: string,
  call: FacadeCallOptions,
  work: (data: EngineDataConfig, engine: Engine, prepared: PreparedData) => Promise<T>,
): Promise<T> {
  const lock = lockRunFolder(parsed.outDir, purpose);
  try {
    return await withOnDemandEngine(call.engine, async (engine) => {
      const prepared = await prepareData(parsed.data, parsed.outDir, { engine: () => engine.get() });
      for (const note of prepared.summary.notes ?? []) call.onEvent?.({ event: 'log', message: `note: ${note}` });
      return work(prepared.data, await engine.get(), prepared);
    });
  } finally {
    lock.release();
  }
}

/**
 * Trains (or loads, or assembles) a teacher; saves `<outDir>/checkpoints/<name>.pt` and `<outDir>/<name>.onnx`.
 * A Hugging Face teacher (`huggingface-onnx`, or `huggingface`: fine-tuned into `<outDir>/checkpoints/<name>.hf`)
 * reads the raw texts with its own tokenizer: it is not exported (`onnx: null`, `inputs: 'texts'`) and its metrics
 * are the engine's.
 *
 * @example
 * ```ts
 * import { trainTeacher } from 'distillery';
 *
 * const teacher = await trainTeacher({
 *   outDir: 'runs/mine',
 *   teacher: { type: 'train', model: { type: 'mlp', hidden: [1200, 1200], dropout: 0.5 }, training: { epochs: 20 } },
 * });
 * console.log(teacher.checkpoint, teacher.metrics.testAccuracy);
 * ```
 * @param options - the teacher, data (the embedded MNIST by default), output folder, device, seed, export options
 * @param call - an engine to reuse, an AbortSignal, a progress callback
 * @returns the teacher's result: checkpoint, `.onnx` file, history and metrics
 * @throws {@link ConfigError} when an option is invalid, naming its path
 * @throws {@link RunFolderError} when `outDir` is in use by another process
 * @throws {@link EngineError} (a subclass) when Python fails, the call is aborted, or training diverges
 */
export async function trainTeacher(options: TrainTeacherInput, call: FacadeCallOptions = {}): Promise<ModelResult> {
  const parsed = parseOptions(TrainTeacherOptions, options);
  // (a teacher you call is refused by TrainTeacherOptions: it has nothing to train)
  const teacher = engineTeacherOf(resolveTeacherPaths(parsed.teacher, process.cwd()), null);
  return inLockedFolder(parsed, `trainTeacher ${parsed.teacher.name}`, call, (data, engine) =>
    engine.call('train_teacher', { ...parsed, data, teacher }, { signal: call.signal, onEvent: call.onEvent }),
  );
}

/**
 * Distils one student from a teacher checkpoint (or ONNX teacher) with the student's method; saves and exports it like
 * trainTeacher. The teacher may also be a Hugging Face ONNX folder (`{ type: 'huggingface-onnx', path }`), or the
 * `huggingface` teacher that trainTeacher() fine-tuned into the same `outDir` (the same `{ type: 'huggingface', … }`
 * options: its fine-tuned copy in `checkpoints/<name>.hf` is used, never fine-tuned again).
 *
 * @example
 * ```ts
 * import { distill } from 'distillery';
 *
 * const student = await distill({
 *   outDir: 'runs/mine',
 *   teacher: 'runs/mine/checkpoints/teacher.pt', // the checkpoint trainTeacher() returned
 *   student: { name: 'small', model: { type: 'mlp', hidden: [300] }, method: { type: 'soft-targets', temperature: 8 } },
 * });
 * console.log(student.onnx, student.metrics.testAccuracy);
 * ```
 * @param options - the student (model, method, training), the teacher, data, output folder, device, seed
 * @param call - an engine to reuse, an AbortSignal, a progress callback
 * @returns the student's result: checkpoint, `.onnx` file, history and metrics
 * @throws {@link ConfigError} when an option is invalid, e.g. a method that needs a teacher without one
 * @throws {@link RunFolderError} when `outDir` is in use by another process
 * @throws {@link EngineError} (a subclass) when Python fails, the call is aborted, or training diverges
 */
export async function distill(options: DistillInput, call: FacadeCallOptions = {}): Promise<DistillResult> {
  const parsed = parseOptions(DistillOptions, options);
  const given = parsed.teacher;
  const teacher =
    given === undefined
      ? undefined
      : typeof given === 'string'
        ? path.resolve(given)
        : isCalledTeacher(given)
          ? resolveTeacherPaths(given, process.cwd())
          : { ...given, path: path.resolve(given.path) };
  const student = { ...parsed.student, model: resolveModelPaths(parsed.student.model, process.cwd()) };
  return inLockedFolder(parsed, `distill ${parsed.student.name}`, call, async (data, engine, prepared) => {
    const events = { signal: call.signal, onEvent: call.onEvent };
    if (teacher === undefined || typeof teacher === 'string' || !isCalledTeacher(teacher)) {
      const engineTeacher = teacher as z.input<typeof DistillRequest>['teacher'];
      return engine.call('distill', { ...parsed, data, teacher: engineTeacher, student }, events);
    }
    // A teacher you call answers the rows first; the engine then reads its answers (src/teacher).
    const labelled = await labelData(teacher, parsed.data, prepared, parsed.outDir, {
      engine: () => Promise.resolve(engine),
      ...(call.signal ? { signal: call.signal } : {}),
      onEvent: (event) => (event.event === 'log' ? call.onEvent?.(event) : call.onLabelling?.(event)),
    });
    const result = await engine.call(
      'distill',
      { ...parsed, data: labelled.data, teacher: labelled.teacher, student },
      events,
    );
    return { ...result, labelling: labelled.labelling };
  });
}
