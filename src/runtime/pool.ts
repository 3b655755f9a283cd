import { availableParallelism } from 'node:os';
import { extname, join } from 'node:path';
import { Piscina } from 'piscina';
import { InferenceError, ModelLoadError, WorkerDiedError } from './errors';
import type { PreparedRows } from './input';
import { Batcher, type BatcherOptions } from './batcher';
import { readModel } from './model';
import { checkedInput, predictionsFrom, textRun, type LoadedModel } from './onnx-model';
import type { PoolAnswer, PoolTask } from './pool-worker';
import type { RunPlan } from './run';
import type { Batch, LoadOptions, ModelInfo, ModelInput, Prediction, Predictor } from './types';

export interface PoolOptions extends LoadOptions {
  /** Worker threads, each with its own session (default: up to 4, one per core). */
  readonly workers?: number;
  /** onnxruntime intra-op threads per worker (default 1: the workers are the parallelism). */
  readonly threads?: number;
}

/**
 * Where the worker module is, and the execArgv that lets a worker thread load it.
 *
 * From compiled output (dist/runtime/pool.js) the worker is pool-worker.js next
 * to this file and needs nothing special.
 *
 * From TypeScript source (ts-jest, or any TS runner) it is pool-worker.ts, but a
 * worker thread is a fresh Node instance that knows nothing of jest's
 * transform. So the worker preloads, through a `--import data:` URL, a small
 * hook that compiles `.ts` files with the `typescript` package (a
 * devDependency, present whenever the sources are run). No file is written and
 * nothing depends on dist/ having been built; the hook costs nothing in dist.
 */
function workerEntry(): { filename: string; execArgv: string[] | undefined } {
  const extension = extname(__filename);
  const filename = join(__dirname, `pool-worker${extension}`);
  if (extension !== '.ts') return { filename, execArgv: undefined };
  const hook = `
    import { createRequire } from 'node:module';
    import { readFileSync } from 'node:fs';
    const require = createRequire(${JSON.stringify(__filename)});
    const ts = require('typescript');
    require.extensions['.ts'] ??= (module, file) => {
      const { outputText } = ts.transpileModule(readFileSync(file, 'utf8'), {
        fileName: file,
        compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
      });
      module._compile(outputText, file);
    };`;
  return { filename, execArgv: ['--import', `data:text/javascript,${encodeURIComponent(hook)}`] };
}

function defaultWorkers(): number {
  return Math.max(1, Math.min(4, availableParallelism()));
}

/**
 * Predictions on a pool of worker threads (piscina), each with its own session
 * of the same file. Validation, normalisation and post-processing happen here,
 * in the main thread, with the same code as OnnxModel; only the onnxruntime
 * run moves to a worker. Results are identical to OnnxModel's.
 */
export class PredictionPool implements Predictor {
  private closed = false;

  private constructor(
    private readonly model: LoadedModel,
    private readonly piscina: Piscina,
    private readonly threads: number,
    private readonly workers: number,
  ) {}

  /** What the model is and how it is fed, read once at creation. */
  get info(): ModelInfo {
    return this.model.info;
  }

  /**
   * Loads a model into a pool of worker threads, one onnxruntime session each; every worker loads the file before this
   * resolves. For throughput under concurrent load; one {@link OnnxModel} is simpler for sequential calls.
   *
   * @example
   * ```ts
   * import { PredictionPool } from 'distillery/runtime';
   *
   * const pool = await PredictionPool.create('runs/mine/small.onnx', { workers: 4 });
   * try {
   *   const predictions = await Promise.all(inputs.map((input) => pool.predict(input)));
   * } finally {
   *   await pool.close();
   * }
   * ```
   * @param file - path to the `.onnx` file
   * @param options - the {@link LoadOptions}, and the number of workers and threads per worker
   * @returns the pool; close it when done, or its workers keep the process alive
   * @throws {@link ModelLoadError} when the file cannot be loaded, in the main thread or in a worker
   * @throws RangeError when `options.workers` is not a positive integer
   */
  static async create(file: string, options: PoolOptions = {}): Promise<PredictionPool> {
    const model = await readModel(file, options);
    const workers = options.workers ?? defaultWorkers();
    if (!Number.isInteger(workers) || workers < 1)
      throw new RangeError(`options.workers must be a positive integer, got ${workers}`);
    const { filename, execArgv } = workerEntry();
    const piscina = new Piscina({
      filename,
      execArgv,
      minThreads: workers,
      maxThreads: workers,
      idleTimeout: Infinity,
    });
    // A worker that dies with no task in flight is replaced, and piscina emits 'error': unheard, that event would
    // crash the process. The death of a worker that held tasks reaches those tasks' callers (WorkerDiedError).
    piscina.on('error', () => undefined);
    const pool = new PredictionPool(model, piscina, options.threads ?? 1, workers);
    await pool.loadSessions(file, workers);
    return pool;
  }

  /**
   * Predicts one input on the next free worker.
   *
   * @example
   * ```ts
   * const prediction = await pool.predict({ carat: 0.3, cut: 'Ideal' }); // a model trained on a table
   * ```
   * @param input - a sample, or (for models trained on them) a table row or an encoded image
   * @returns its prediction, identical to {@link OnnxModel.predict}'s
   * @throws {@link InputValidationError} when the input does not fit the model
   * @throws {@link InferenceError} when the pool is closed or onnxruntime fails
   * @throws {@link WorkerDiedError} when the worker running it died (replaced already: the call can be retried)
   */
  async predict(input: ModelInput): Promise<Prediction> {
    const text = textRun(this.model, [input], () => 'sample');
    if (text !== null) return (await this.run(text.prepared, text.plan))[0] as Prediction;
    const raw = this.model.raw.sample(input, 'sample');
    const sample = raw instanceof Promise ? await raw : raw; // no extra tick for a plain sample
    const [prediction] = await this.run({ data: this.model.preparer.sample(sample), rows: 1 });
    return prediction as Prediction;
  }

  /**
   * Predicts several inputs in one run on one worker.
   * @param inputs - the inputs, or one flat typed array of `N * features` numbers
   * @returns one prediction per input, in order
   * @throws {@link InputValidationError} when an input does not fit the model
   * @throws {@link InferenceError} when the pool is closed or onnxruntime fails
   * @throws {@link WorkerDiedError} when the worker running it died (replaced already: the call can be retried)
   */
  async predictBatch(inputs: Batch): Promise<Prediction[]> {
    // A text model's rows or texts: one run padded to the longest text of the batch.
    const text = Array.isArray(inputs) ? textRun(this.model, inputs, (index) => `samples[${index}]`) : null;
    if (text !== null) return this.run(text.prepared, text.plan);
    const raw = this.model.raw.batch(inputs, 'samples');
    return this.run(this.model.preparer.batch(raw instanceof Promise ? await raw : raw));
  }

  /**
   * A {@link Batcher} on this pool: concurrent `predict` calls share one `predictBatch`, and each worker receives
   * whole batches (up to one batch per worker at a time, unless `concurrency` says otherwise).
   *
   * @example
   * ```ts
   * const batcher = pool.batcher({ maxBatch: 64, maxDelayMs: 2 });
   * const prediction = await batcher.predict({ carat: 0.3, cut: 'Ideal' });
   * ```
   * @param options - batch size, delay, queue bound and concurrent runs (default: the worker count)
   * @returns the batcher; close it before the pool
   * @throws {@link BatcherOptionError} naming the first option out of range
   */
  batcher(options: BatcherOptions = {}): Batcher {
    const withWorkers = { ...options, concurrency: options.concurrency ?? this.workers };
    return new Batcher(this, withWorkers, (input) =>
      checkedInput(this.model, input, (sample) => void this.model.preparer.sample(sample, 'sample')),
    );
  }

  /** Stops the workers; pending predictions reject. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.piscina.destroy();
  }

  /** One start-up task per worker, so that a bad file fails here, as a ModelLoadError. */
  private async loadSessions(file: string, workers: number): Promise<void> {
    const task: PoolTask = { file: this.info.file, threads: this.threads, run: null };
    let failure: string | null;
    let cause: unknown;
    try {
      const answers = (await Promise.all(
        Array.from({ length: workers }, () => this.piscina.run(task)),
      )) as PoolAnswer[];
      failure =
        answers.map((answer) => (answer.ok ? null : answer.message)).find((message) => message !== null) ?? null;
    } catch (error) {
      failure = error instanceof Error ? error.message : String(error);
      cause = error;
    }
    if (failure === null) return;
    await this.close();
    throw new ModelLoadError(file, 'session-failed', `a pool worker could not load the model: ${failure}`, { cause });
  }

  private async run(prepared: PreparedRows, plan: RunPlan = this.model.plan): Promise<Prediction[]> {
    if (this.closed) throw new InferenceError(this.info.name, 'the pool is closed');
    const task: PoolTask = {
      file: this.info.file,
      threads: this.threads,
      run: { plan, data: prepared.data, rows: prepared.rows },
    };
    let answer: PoolAnswer;
    try {
      // The prepared rows are ours alone: move them instead of copying.
      answer = (await this.piscina.run(task, { transferList: [prepared.data.buffer] })) as PoolAnswer;
    } catch (error) {
      throw this.rejected(error);
    }
    if (!answer.ok) throw new InferenceError(this.info.name, answer.message);
    if (answer.output === null) throw new InferenceError(this.info.name, 'the worker answered no output');
    return predictionsFrom(this.info, answer.output, this.model.meaning);
  }

  /**
   * Why piscina rejected a task. A task's own failure comes back as an answer (pool-worker.ts), so a rejection is
   * the pool's: closed under it, or the worker holding it died — piscina has already started its replacement.
   */
  private rejected(error: unknown): Error {
    const detail = error instanceof Error ? error.message : String(error);
    if (this.closed) return new InferenceError(this.info.name, 'the pool is closed', { cause: error });
    return new WorkerDiedError(this.info.name, detail, { cause: error });
  }
}
