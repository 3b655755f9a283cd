/**
 * A model on one onnxruntime session, for every platform: the shared body of `distillery/runtime`'s OnnxModel
 * (src/runtime/model.ts, Node) and `distillery/web`'s (src/web/model.ts, the browser). Each platform adds only how
 * the bytes are read, the session opened and images decoded (src/runtime/platform.ts).
 */
import { describeModel, type ModelDescription } from './describe';
import { InferenceError, ModelLoadError } from './errors';
import { InputPreparer, type PreparedRows, type RowAllocator } from './input';
import { decodeModel, graphFacts } from './model-file';
import type { ModelBytes, ModelSession, Platform } from './platform';
import { toPredictions, type OutputMeaning } from './postprocess';
import type { RawOutput, RunPlan } from './run';
import { RawInputs } from './raw-input';
import type { PixelDecoder } from '../preprocess/image-core';
import type { Batch, LoadOptions, ModelInfo, ModelInput, Prediction, Predictor, Sample, TokenizerInfo } from './types';
import { Batcher, type BatcherOptions } from './batcher';
import type { EncodedRows } from '../preprocess/table';
import { loadTokenizer, sha256Hex, TokenizerError, type TextTokenizer } from '../preprocess/text';
import type { TablePreprocessSpec } from '../preprocess/spec';
import { Metadata } from './metadata';

/** What every way of running a model needs, read once from the file. */
export interface LoadedModel extends ModelDescription {
  readonly bytes: Uint8Array;
  readonly preparer: InputPreparer;
  /** Table rows and encoded images → samples, by the model's recorded preprocessing. */
  readonly raw: RawInputs;
  readonly meaning: OutputMeaning;
  /** A text model's rows may be sent padded to their batch's longest text (nothing for the runtime to normalise). */
  readonly dynamicWidth: boolean;
}

/**
 * A text model's tokenizer: `distillery.tokenizer`, whose sha256 must be the text column's `tokenizerSha256`
 * (ModelLoadError 'invalid-metadata' otherwise). null when the preprocess has no text column.
 */
async function readTokenizer(
  file: string,
  metadata: Metadata,
  spec: TablePreprocessSpec,
): Promise<{ tokenizer: TextTokenizer; info: TokenizerInfo } | null> {
  const column = spec.columns.find((candidate) => candidate.type === 'text');
  if (column?.type !== 'text') return null;
  const json = metadata.get('tokenizer');
  if (json === undefined)
    throw new ModelLoadError(
      file,
      'invalid-metadata',
      `distillery.preprocess has the text column ${column.name} but the model has no distillery.tokenizer`,
    );
  // A page served over plain http from another host than localhost has no crypto.subtle (a secure context's API).
  if ((globalThis as { crypto?: { subtle?: unknown } }).crypto?.subtle === undefined)
    throw new ModelLoadError(
      file,
      'unsupported',
      "a text model's tokenizer is checked with the Web Crypto API (crypto.subtle), which this context lacks: " +
        'serve the page over https (or from localhost)',
    );
  const sha256 = await sha256Hex(json);
  if (sha256 !== column.tokenizerSha256)
    throw new ModelLoadError(
      file,
      'invalid-metadata',
      `distillery.tokenizer has sha256 ${sha256}, but the text column ${column.name} was encoded with the tokenizer ` +
        `${column.tokenizerSha256}: the tokenizer does not belong to this model`,
    );
  let tokenizer: TextTokenizer;
  try {
    tokenizer = loadTokenizer(json, column);
  } catch (error) {
    if (!(error instanceof TokenizerError)) throw error;
    throw new ModelLoadError(file, 'invalid-metadata', `distillery.tokenizer: ${error.message}`, { cause: error });
  }
  const info: TokenizerInfo = {
    column: column.name,
    kind: tokenizer.kind,
    vocabSize: column.vocabSize,
    maxLength: column.maxLength,
    truncation: column.truncation,
    sha256,
  };
  return { tokenizer, info };
}

/**
 * A model's bytes → everything needed to run it (its info, plan, preparation), with the platform's image decoder.
 * The caller has checked `options` (checkLoadOptions) before reading the bytes, so that a bad option is named first.
 */
export async function describeBytes(
  source: ModelBytes,
  options: LoadOptions,
  decodePixels: PixelDecoder,
): Promise<LoadedModel> {
  const { bytes, file } = source;
  const facts = graphFacts(decodeModel(bytes, file));
  const description = describeModel(source, facts, options);
  const preprocess = description.info.preprocess;
  const text =
    preprocess?.kind === 'table' ? await readTokenizer(file, new Metadata(facts.metadata, file), preprocess) : null;
  const info: ModelInfo = text ? { ...description.info, tokenizer: text.info } : description.info;
  const normalization = info.normalizationInGraph ? null : info.normalization;
  return {
    ...description,
    info,
    bytes,
    // A graph that normalises its inputs itself gets them raw: the runtime validates and copies only.
    preparer: new InputPreparer(info.input.shape, normalization),
    raw: new RawInputs(info.preprocess, text?.tokenizer ?? null, decodePixels),
    meaning: { task: info.task, kind: info.output.kind, labels: info.labels },
    dynamicWidth: text !== null && normalization === null && info.fixedBatchSize === null,
  };
}

/**
 * A text model's rows (or texts) encoded for one run, padded to the batch's longest text, and the plan for that
 * width; null when the inputs go through the usual path (samples, or a model without a text column).
 */
export function textRun(
  model: Pick<LoadedModel, 'raw' | 'plan' | 'dynamicWidth'>,
  inputs: readonly ModelInput[],
  where: (index: number) => string,
): { prepared: PreparedRows; plan: RunPlan } | null {
  if (!model.dynamicWidth) return null;
  const encoded: EncodedRows | null = model.raw.textRows(inputs, where);
  if (encoded === null) return null;
  return {
    prepared: { data: encoded.data, rows: encoded.rows },
    plan: { ...model.plan, features: encoded.width, tensorSampleDims: [encoded.width] },
  };
}

/**
 * One input checked on its own, as a {@link Batcher} does before the input joins a batch, so that a bad one fails
 * only its own call. Returns what goes into the batch: a text model's row or text as it is (the batch's run pads to
 * its longest text; encoding it here is the check), else the sample (a table row encoded, an image decoded), which
 * `validate` has checked against the input shape. Errors name the field `sample`, as `predict`'s do.
 */
export function checkedInput(
  model: Pick<LoadedModel, 'raw' | 'plan' | 'dynamicWidth'>,
  input: ModelInput,
  validate: (sample: Sample) => void,
): ModelInput | Promise<ModelInput> {
  if (textRun(model, [input], () => 'sample') !== null) return input;
  const raw = model.raw.sample(input, 'sample');
  if (raw instanceof Promise)
    return raw.then((sample) => {
      validate(sample);
      return sample;
    });
  validate(raw);
  return raw;
}

/** Raw output rows → predictions, after checking that the output is what the info promised. */
export function predictionsFrom(info: ModelInfo, output: RawOutput, meaning: OutputMeaning): Prediction[] {
  const expected = info.output.size ?? info.labels?.length ?? null;
  if (output.width === 0 || (expected !== null && output.width !== expected)) {
    throw new InferenceError(
      info.name,
      `output ${info.output.name} has ${output.width} values per sample, expected ${expected ?? 'at least 1'}`,
    );
  }
  return toPredictions(output.data, output.width, meaning);
}

/** Buffers above this size are not kept for reuse (a one-off huge batch should not stay in memory). */
const MAX_KEPT_BUFFER_BYTES = 16 * 1024 * 1024;
/** Free buffers kept; more are only needed while that many calls are in flight at once. */
const MAX_KEPT_BUFFERS = 4;

/**
 * Input buffers for one OnnxModel, reused from call to call. A fresh
 * Float32Array per batch costs more than filling it: the zeroed pages of a
 * large allocation fault in on first write, and the external memory drives
 * the GC. A buffer belongs to one call from preparation until its run is over
 * (onnxruntime reads the input only during the run, and the buffer never
 * reaches the caller), so concurrent calls never share one.
 */
class InputBuffers {
  private readonly free: Float32Array<ArrayBuffer>[] = [];

  /** The smallest free buffer that holds `length` values (a view of exactly `length`), else a new one. */
  readonly allocate: RowAllocator = (length) => {
    let best = -1;
    for (let i = 0; i < this.free.length; i++) {
      const capacity = (this.free[i] as Float32Array).length;
      if (capacity >= length && (best < 0 || capacity < (this.free[best] as Float32Array).length)) best = i;
    }
    if (best < 0) return new Float32Array(length);
    const [buffer] = this.free.splice(best, 1) as [Float32Array<ArrayBuffer>];
    return buffer.length === length ? buffer : buffer.subarray(0, length);
  };

  /** Gives a buffer from `allocate` back once its run is over. */
  release(data: Float32Array<ArrayBuffer>): void {
    const buffer = data.buffer;
    if (buffer.byteLength > MAX_KEPT_BUFFER_BYTES) return;
    this.free.push(data.length * 4 === buffer.byteLength && data.byteOffset === 0 ? data : new Float32Array(buffer));
    if (this.free.length > MAX_KEPT_BUFFERS) {
      // Drop the smallest: it is the cheapest to allocate again.
      let smallest = 0;
      for (let i = 1; i < this.free.length; i++)
        if ((this.free[i] as Float32Array).length < (this.free[smallest] as Float32Array).length) smallest = i;
      this.free.splice(smallest, 1);
    }
  }
}

/** A model read and its session open: what a platform's `load` hands to the shared constructor. */
export interface OpenedModel {
  readonly loaded: LoadedModel;
  readonly session: ModelSession;
}

/** Reads the model (describeBytes) and opens its session on the platform; onnxruntime's refusal is a ModelLoadError. */
export async function openModel(source: ModelBytes, options: LoadOptions, platform: Platform): Promise<OpenedModel> {
  const loaded = await describeBytes(source, options, platform.decodePixels);
  try {
    return { loaded, session: await platform.openSession(loaded.bytes, options) };
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new ModelLoadError(source.file, 'session-failed', `onnxruntime rejected the model: ${detail}`, {
      cause: error,
    });
  }
}

/**
 * The model API every platform shares: `predict`, `predictBatch`, `batcher`, `info`, `close`. A platform's OnnxModel
 * extends it with a `load` that reads its kind of source.
 */
export class OnnxModelBase implements Predictor {
  private readonly buffers = new InputBuffers();
  /** What the model is and how it is fed, read once at load. */
  readonly info: ModelInfo;
  private readonly session: ModelSession;
  private readonly plan: RunPlan;
  private readonly preparer: InputPreparer;
  private readonly raw: RawInputs;
  private readonly meaning: OutputMeaning;
  private readonly dynamicWidth: boolean;

  protected constructor(opened: OpenedModel) {
    const { loaded, session } = opened;
    this.info = loaded.info;
    this.session = session;
    this.plan = loaded.plan;
    this.preparer = loaded.preparer;
    this.raw = loaded.raw;
    this.meaning = loaded.meaning;
    this.dynamicWidth = loaded.dynamicWidth;
  }

  /** One input: a sample, or (for models trained on them) a table row, a text or an encoded image. */
  async predict(input: ModelInput): Promise<Prediction> {
    const text = textRun(this.textModel, [input], () => 'sample');
    if (text !== null) return (await this.run(text.prepared, text.plan))[0] as Prediction;
    const raw = this.raw.sample(input, 'sample');
    const sample = raw instanceof Promise ? await raw : raw; // no extra tick for a plain sample
    const [prediction] = await this.run(this.preparer.one(sample, 'sample', this.buffers.allocate, true));
    return prediction as Prediction;
  }

  /** One onnxruntime run for the whole batch (chunks of the fixed size when the graph fixes it). */
  async predictBatch(inputs: Batch): Promise<Prediction[]> {
    // A text model's rows or texts: one run padded to the longest text of the batch.
    const text = Array.isArray(inputs) ? textRun(this.textModel, inputs, (index) => `samples[${index}]`) : null;
    if (text !== null) return this.run(text.prepared, text.plan);
    const raw = this.raw.batch(inputs, 'samples');
    const samples = raw instanceof Promise ? await raw : raw;
    return this.run(this.preparer.batch(samples, 'samples', this.buffers.allocate, true));
  }

  /**
   * A {@link Batcher} on this model: concurrent `predict` calls on it share one `predictBatch` run.
   *
   * @example
   * ```ts
   * const batcher = model.batcher({ maxBatch: 64, maxDelayMs: 2, maxQueue: 1024 });
   * const prediction = await batcher.predict(pixels); // in a request handler: concurrent requests share runs
   * ```
   * @param options - batch size, delay, queue bound and concurrent runs (default 1: the session has the threads)
   * @returns the batcher; close it before the model
   * @throws {@link BatcherOptionError} naming the first option out of range
   */
  batcher(options: BatcherOptions = {}): Batcher {
    return new Batcher(this, options, (input) =>
      checkedInput(this.textModel, input, (sample) => this.validate(sample)),
    );
  }

  /** Checks one sample as `predict` would, without running it (a borrowed or reused buffer: nothing to allocate). */
  private validate(sample: Sample): void {
    const prepared = this.preparer.one(sample, 'sample', this.buffers.allocate, true);
    if (!prepared.borrowed) this.buffers.release(prepared.data);
  }

  private get textModel(): Pick<LoadedModel, 'raw' | 'plan' | 'dynamicWidth'> {
    return { raw: this.raw, plan: this.plan, dynamicWidth: this.dynamicWidth };
  }

  /** Frees the native session. The model cannot be used afterwards. */
  async close(): Promise<void> {
    await this.session.release();
  }

  private async run(prepared: PreparedRows, plan: RunPlan = this.plan): Promise<Prediction[]> {
    let output: RawOutput;
    try {
      output = await this.session.run(plan, prepared.data, prepared.rows);
    } catch (error) {
      throw new InferenceError(this.info.name, error instanceof Error ? error.message : String(error), {
        cause: error,
      });
    } finally {
      // The run is over (done or failed): onnxruntime no longer reads the input. The caller's own array is not ours to keep.
      if (!prepared.borrowed) this.buffers.release(prepared.data);
    }
    return predictionsFrom(this.info, output, this.meaning);
  }
}
