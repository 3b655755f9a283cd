/**
 * Dynamic batching: concurrent `predict` calls on one model share one `predictBatch` run. A service's traffic is
 * many small concurrent requests, and one run of 64 rows costs far less than 64 runs of one.
 *
 * Platform-free on purpose (timers and promises only, no Node built-in): a browser entry will share this file.
 */
import { BatcherClosedError, BatcherOptionError, InferenceError, QueueFullError, WorkerDiedError } from './errors';
import type { ModelInfo, ModelInput, Prediction } from './types';

/** How a {@link Batcher} groups calls. */
export interface BatcherOptions {
  /** Rows in one run at most (default 32); a batch this full runs at once. */
  readonly maxBatch?: number;
  /**
   * How long the first call of a batch waits for batch-mates while runs are busy, in milliseconds (default 2; 0
   * gathers the calls made in the same tick). A call can also wait for a free run (see `concurrency`): under load,
   * batches fill instead. A call that finds the batcher idle does not wait at all unless `waitWhenIdle` is set.
   */
  readonly maxDelayMs?: number;
  /**
   * Whether a call that finds the batcher idle (no run in flight, no other call queued or being checked) waits
   * `maxDelayMs` for batch-mates too (default false).
   *
   * - false (the default, what Triton calls dynamic batching without a queue delay): an idle batcher runs the call
   *   at once, with whatever was queued in the same tick, so a lone client never pays the delay. Batches still form
   *   under load, by themselves: the calls that arrive while a run is in flight make up the next batch, and
   *   `maxDelayMs` bounds how long they wait for batch-mates while runs are busy.
   * - true: a fixed window: every batch waits `maxDelayMs` after its first call (unless it fills), idle or not. Larger
   *   batches at light load, at the cost of `maxDelayMs` on every call; for tests that need calls to meet in a batch.
   */
  readonly waitWhenIdle?: boolean;
  /** Calls waiting at most (default 1024, at least `maxBatch`); one more is refused with {@link QueueFullError}. */
  readonly maxQueue?: number;
  /**
   * Batches running at once (default 1 for an OnnxModel, whose session already uses every intra-op thread; a
   * PredictionPool's worker count for a pool). Bounds the rows in flight, so that a slow model fills the queue (and
   * meets `maxQueue`) instead of piling runs onto onnxruntime.
   */
  readonly concurrency?: number;
}

/** What a batcher runs its batches on: an OnnxModel or a PredictionPool. */
export interface BatchTarget {
  /** The model's description (its name goes in errors). */
  readonly info: ModelInfo;
  /** One run for the whole batch, one prediction per input, in order. */
  predictBatch(inputs: readonly ModelInput[]): Promise<Prediction[]>;
}

/**
 * Checks one input on its own, before it joins a batch, and returns what goes into the batch (the input, or its
 * prepared sample): it throws (an InputValidationError) for an input the model cannot take, so that only its caller
 * sees the error.
 */
export type InputCheck = (input: ModelInput) => ModelInput | Promise<ModelInput>;

interface Call {
  /** The input as checked, ready for the batch. */
  readonly input: ModelInput;
  /** When it was queued (ms, `performance.now()`), from which its batch's deadline runs. */
  readonly queuedAt: number;
  readonly resolve: (prediction: Prediction) => void;
  readonly reject: (error: unknown) => void;
}

interface Limits {
  readonly maxBatch: number;
  readonly maxDelayMs: number;
  readonly maxQueue: number;
  readonly concurrency: number;
  readonly waitWhenIdle: boolean;
}

const DEFAULTS: Limits = { maxBatch: 32, maxDelayMs: 2, maxQueue: 1024, concurrency: 1, waitWhenIdle: false };

/** Timers fire on whole milliseconds and may run a fraction early: a head this close to its deadline is due. */
const TIMER_SLACK_MS = 1;

function positiveInteger(option: keyof Limits, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1)
    throw new BatcherOptionError(option, 'a positive integer', value);
  return value;
}

/** The options with their defaults, each checked; a BatcherOptionError names the first bad one. */
export function batcherLimits(options: BatcherOptions, defaults: Partial<Limits> = {}): Limits {
  const given = { ...DEFAULTS, ...defaults, ...definedOnly(options) };
  const maxBatch = positiveInteger('maxBatch', given.maxBatch);
  const maxQueue = positiveInteger('maxQueue', given.maxQueue);
  const concurrency = positiveInteger('concurrency', given.concurrency);
  const maxDelayMs = given.maxDelayMs;
  if (typeof maxDelayMs !== 'number' || !Number.isFinite(maxDelayMs) || maxDelayMs < 0)
    throw new BatcherOptionError('maxDelayMs', 'a finite number of milliseconds >= 0', maxDelayMs);
  // A queue smaller than a batch could never fill one: every batch would wait out its delay.
  if (maxQueue < maxBatch) throw new BatcherOptionError('maxQueue', `at least maxBatch (${maxBatch})`, maxQueue);
  const waitWhenIdle: unknown = given.waitWhenIdle;
  if (typeof waitWhenIdle !== 'boolean') throw new BatcherOptionError('waitWhenIdle', 'true or false', waitWhenIdle);
  return { maxBatch, maxDelayMs, maxQueue, concurrency, waitWhenIdle };
}

/** `{ maxBatch: undefined }` means the default, as a missing key does. */
function definedOnly(options: BatcherOptions): Partial<Limits> {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
}

/**
 * Coalesces concurrent {@link Batcher.predict} calls on one model into `predictBatch` runs of up to `maxBatch`
 * rows. A batch runs when one of its `concurrency` run slots is free and it is due: at once when the batcher was
 * idle (no run in flight; the calls made in the same tick go together), else when it is full or `maxDelayMs` after
 * its first call was queued, whichever comes first. So a lone client is answered without waiting, and under load
 * the calls that arrive during a run form the next batch (set `waitWhenIdle` for a fixed window instead). Each
 * caller gets its own prediction, equal to `predict`'s.
 *
 * Each input is checked on its own before it is queued, so that a bad one fails only its own call; should a batch's
 * run fail anyway, its rows run again one by one and only the failing ones fail. Get one from
 * {@link OnnxModel.batcher} or {@link PredictionPool.batcher}. Closing the batcher does not close the model.
 *
 * @example
 * ```ts
 * const batcher = model.batcher({ maxBatch: 64, maxDelayMs: 2 });
 * const predictions = await Promise.all(requests.map((input) => batcher.predict(input))); // a few runs, not one each
 * await batcher.close();
 * ```
 */
export class Batcher {
  private readonly limits: Limits;
  private readonly queue: Call[] = [];
  /** Calls accepted and not yet in a run: being checked, or queued. What `maxQueue` bounds. */
  private waiting = 0;
  private running = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** A dispatch queued as a microtask: an idle batcher's first call waits for the rest of its tick, no longer. */
  private flushQueued = false;
  private closing = false;
  /** Resolves `close()` once nothing waits or runs. */
  private drained: (() => void) | null = null;
  private readonly batchListeners = new Set<(rows: number) => void>();

  constructor(
    private readonly target: BatchTarget,
    options: BatcherOptions = {},
    private readonly check: InputCheck = (input) => input,
  ) {
    this.limits = batcherLimits(options);
  }

  /** The limits in force, defaults filled in. */
  get options(): Required<BatcherOptions> {
    return { ...this.limits };
  }

  /** Calls accepted and not yet in a run (at most `maxQueue`): the queue depth. */
  get queued(): number {
    return this.waiting;
  }

  /** Batches running now (at most `concurrency`). */
  get inFlight(): number {
    return this.running;
  }

  /**
   * Calls `listener` with each batch's row count as its run starts — for metrics such as a batch-size histogram
   * (`distillery serve`'s `/metrics`). A listener that throws is ignored: metrics never fail a batch.
   *
   * @returns a function that removes the listener
   */
  onBatch(listener: (rows: number) => void): () => void {
    this.batchListeners.add(listener);
    return () => this.batchListeners.delete(listener);
  }

  /**
   * Predicts one input in a batch with the calls made around the same time.
   * @param input - a sample, or what the model takes besides: a table row, a text, an encoded image
   * @returns its prediction, equal to the model's `predict(input)` (a text model's: to `predictBatch`'s, whose run is
   *   padded to the batch's longest text, within float rounding of `predict`'s)
   * @throws {@link InputValidationError} when the input does not fit the model (only this call fails)
   * @throws {@link QueueFullError} at once when `maxQueue` calls are waiting
   * @throws {@link BatcherClosedError} after `close()`
   * @throws {@link InferenceError} when onnxruntime fails on this input
   * @throws {@link WorkerDiedError} (a PredictionPool's batcher) when the worker running its batch died
   */
  async predict(input: ModelInput): Promise<Prediction> {
    if (this.closing) throw new BatcherClosedError(this.target.info.name);
    if (this.waiting >= this.limits.maxQueue)
      throw new QueueFullError(this.target.info.name, this.limits.maxQueue, this.waiting);
    this.waiting += 1;
    let checked: ModelInput;
    try {
      const result = this.check(input);
      checked = result instanceof Promise ? await result : result; // no extra tick for a plain sample
    } catch (error) {
      this.waiting -= 1;
      // The calls queued beside it may have been waiting for it alone.
      if (this.queue.length > 0 && this.idle()) this.flushAfterTick();
      this.settle();
      throw error;
    }
    return new Promise<Prediction>((resolve, reject) => {
      this.queue.push({ input: checked, queuedAt: performance.now(), resolve, reject });
      this.schedule();
    });
  }

  /**
   * Stops taking calls (a new one rejects with {@link BatcherClosedError}), runs every queued call without waiting
   * out `maxDelayMs`, and resolves once each has its answer. The model stays open.
   */
  close(): Promise<void> {
    this.closing = true;
    this.dispatch();
    return new Promise<void>((resolve) => {
      const previous = this.drained;
      this.drained = () => {
        previous?.();
        resolve();
      };
      this.settle();
    });
  }

  /** After a call was queued: run now if its batch is full; on an idle batcher, after this tick; else by a timer. */
  private schedule(): void {
    if (this.queue.length >= this.limits.maxBatch || this.closing) this.dispatch();
    else if (this.idle()) this.flushAfterTick();
    else this.armTimer();
  }

  /**
   * Idle: no run in flight and every accepted call queued (none still being checked, such as an image decoding: its
   * caller sent it with the others, so it is worth waiting for, up to `maxDelayMs`). Never, with `waitWhenIdle`.
   */
  private idle(): boolean {
    return !this.limits.waitWhenIdle && this.running === 0 && this.waiting === this.queue.length;
  }

  /** A microtask, not a timer: the calls made in the same tick (a `Promise.all` of them) still share the run. */
  private flushAfterTick(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(() => {
      this.flushQueued = false;
      this.dispatch();
    });
  }

  /** A timer for the head's deadline, when a run slot is free to take it (a finished run dispatches otherwise). */
  private armTimer(): void {
    const head = this.queue[0];
    if (this.timer !== null || head === undefined || this.running >= this.limits.concurrency) return;
    const wait = Math.max(0, head.queuedAt + this.limits.maxDelayMs - performance.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      this.dispatch();
    }, wait);
  }

  /** Starts every batch that is due (full, past its deadline, or closing) while run slots are free. */
  private dispatch(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const { maxBatch, maxDelayMs, concurrency } = this.limits;
    while (this.running < concurrency) {
      const head = this.queue[0];
      if (head === undefined) break;
      const due =
        this.closing ||
        this.queue.length >= maxBatch ||
        this.idle() ||
        performance.now() + TIMER_SLACK_MS >= head.queuedAt + maxDelayMs;
      if (!due) break;
      this.start(this.queue.splice(0, maxBatch));
    }
    this.armTimer();
  }

  private start(batch: Call[]): void {
    this.waiting -= batch.length;
    this.running += 1;
    void this.run(batch).finally(() => {
      this.running -= 1;
      this.dispatch();
      this.settle();
    });
  }

  /**
   * One run for the batch; if it fails, each row alone, so that only a failing row's caller sees an error (but a
   * {@link WorkerDiedError} fails the whole batch).
   */
  private async run(batch: readonly Call[]): Promise<void> {
    for (const listener of this.batchListeners) {
      try {
        listener(batch.length);
      } catch {
        // (a metrics listener's own failure is not the callers')
      }
    }
    try {
      const predictions = await this.target.predictBatch(batch.map((call) => call.input));
      // A target of one's own that answers fewer rows must not leave a caller with `undefined`.
      if (predictions.length !== batch.length) throw this.countError(predictions.length, batch.length);
      batch.forEach((call, index) => call.resolve(predictions[index] as Prediction));
      return;
    } catch (error) {
      // A dead worker is no row's fault: the whole batch gets the error at once (its callers may retry), rather than
      // a row-by-row rerun that a poisoned worker pool would turn into one death per row.
      if (batch.length === 1 || error instanceof WorkerDiedError) {
        for (const call of batch) call.reject(error);
        return;
      }
    }
    // One by one, in this run's slot: the retry adds no load beyond the batch it replaces.
    for (const call of batch) {
      try {
        const predictions = await this.target.predictBatch([call.input]);
        if (predictions.length !== 1) throw this.countError(predictions.length, 1);
        call.resolve(predictions[0] as Prediction);
      } catch (error) {
        call.reject(error);
      }
    }
  }

  private countError(answered: number, asked: number): InferenceError {
    return new InferenceError(
      this.target.info.name,
      `predictBatch answered ${answered} predictions for ${asked} inputs`,
    );
  }

  /** Resolves `close()` once closed and idle. */
  private settle(): void {
    if (!this.closing || this.drained === null || this.waiting > 0 || this.running > 0) return;
    const drained = this.drained;
    this.drained = null;
    drained();
  }
}
