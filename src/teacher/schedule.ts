/**
 * Calling a user's teacher function over the rows that still need answers: in batches, a bounded number at a time,
 * at most so many calls a second, each attempt with its own timeout, retrying the failures the function marks as
 * passing (rate limits, timeouts, 5xx) with exponential backoff and full jitter.
 *
 * Hand-written rather than p-limit / p-retry / p-timeout: those are ESM-only packages, which this CommonJS build
 * cannot `require`, and the pieces interlock (a retry must wait for a rate-limit slot and stop when another batch
 * fails), which is simpler to get right in one place than across three libraries.
 *
 * Node-only (node:timers/promises, performance).
 */
import { setTimeout as delay } from 'node:timers/promises';
import { describeValue } from '../core/errors';

/** How the teacher function is called. */
export interface CallOptions {
  /** Rows per call (the last batch may be smaller). */
  batchSize: number;
  /** Batches in progress at once, at most: so calls in flight too (a batch waiting out its backoff keeps its place). */
  concurrency: number;
  /** Milliseconds one attempt may take; then its signal aborts and the attempt fails as retryable. */
  timeoutMs: number;
  /** Call starts per second, at most (retries included); null: no limit. */
  callsPerSecond: number | null;
  /** Extra attempts after a retryable failure, per batch. */
  retries: number;
  /** The backoff before the first retry, at most; it doubles on each retry. */
  backoffMs: number;
  /** The backoff's ceiling. */
  maxBackoffMs: number;
}

/** Rows of the role, 0-based, `end` excluded. */
export interface RowRange {
  /** The first row, 0-based. */
  start: number;
  /** The row after the last. */
  end: number;
}

/** What each call of the teacher function gets besides its inputs. */
export interface CallContext {
  /** Aborted when the attempt times out or the whole run is aborted: pass it to `fetch`. */
  signal: AbortSignal;
  /** The batch's rows, 0-based, `end` excluded. */
  rows: RowRange;
  /** 1 for the first attempt, 2 for the first retry, … */
  attempt: number;
}

/** The user's function: answers for `inputs`, in order, one per input. */
export type TeacherFunction<I> = (inputs: I[], context: CallContext) => Promise<unknown[]>;

/** Counts, for progress lines and the run's report. */
export interface CallStats {
  /** All rows of the role: cached and pending. */
  rows: number;
  /** Rows answered from the cache (as the caller said in `options.cached`). */
  cached: number;
  /** Rows answered by calls so far. */
  called: number;
  /** Attempts started (first tries and retries). */
  calls: number;
  /** Attempts that failed (timeouts included). */
  failures: number;
  /** Retries scheduled. */
  retries: number;
  /** Attempts that timed out. */
  timeouts: number;
  /** Seconds since callInBatches started. */
  seconds: number;
}

/** Everything callInBatches takes besides the rows and the function. */
export interface CallInBatchesOptions extends CallOptions {
  /** Aborts the run: attempts in flight are aborted too, and callInBatches rejects with {@link TeacherAbortError}. */
  signal?: AbortSignal;
  /**
   * Gets each successful batch's answers (`indices[i]` is the row of `answers[i]`), one batch at a time, in the order
   * the calls finish. The caller validates and caches them here; an error thrown here stops the run and is rethrown.
   */
  onAnswers: (indices: number[], answers: unknown[]) => void | Promise<void>;
  /** Called after each answered batch and each failed attempt. */
  onProgress?: (stats: CallStats) => void;
  /** Rows the caller answered from its cache, for the stats only. */
  cached?: number;
  /** In [0, 1), for the backoff's jitter (tests inject one). */
  random?: () => number;
  /** Waits `ms` milliseconds, or rejects when `signal` aborts (tests inject one). */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Milliseconds on a monotonic clock, for the rate limit and `seconds` (tests inject one). */
  now?: () => number;
}

/** Throw this (or any error with `retryable: true`) from the teacher function to have the batch retried. */
export class RetryableError extends Error {
  /** The class's name, also set on instances, so that logs and `error.name` checks see it. */
  override readonly name = 'RetryableError';
  /** Marks it as worth retrying, as any error with `retryable: true` is. */
  readonly retryable = true;

  /** The least wait before the retry, when the service said so (a Retry-After header). */
  readonly retryAfterMs: number | undefined;

  constructor(message: string, options: { retryAfterMs?: number; cause?: unknown } = {}) {
    super(message, 'cause' in options ? { cause: options.cause } : undefined);
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** An attempt that took longer than `timeoutMs`. Retryable. */
export class TeacherTimeoutError extends Error {
  /** The class's name, also set on instances, so that logs and `error.name` checks see it. */
  override readonly name = 'TeacherTimeoutError';
  /** Marks it as worth retrying, as any error with `retryable: true` is. */
  readonly retryable = true;

  constructor(
    /** The rows of the attempt that timed out. */
    readonly rows: RowRange,
    /** The limit it passed, in ms. */
    readonly timeoutMs: number,
  ) {
    super(`the teacher call for ${rowsText(rows)} took longer than ${timeoutMs} ms`);
  }
}

/** A batch failed for good: a non-retryable error, or a retryable one after all its retries. */
export class TeacherCallError extends Error {
  /** The class's name, also set on instances, so that logs and `error.name` checks see it. */
  override readonly name = 'TeacherCallError';

  constructor(
    /** The batch's rows, 0-based, `end` excluded (the message says them 1-based). */
    readonly rows: RowRange,
    /** Attempts made for the batch. */
    readonly attempts: number,
    /** What the last attempt failed with. */
    override readonly cause: unknown,
  ) {
    super(
      `the teacher failed on ${rowsText(rows)} after ${attempts} attempt${attempts === 1 ? '' : 's'}: ` +
        messageOf(cause),
    );
  }
}

/** The run was stopped through `options.signal`. Named 'AbortError', as DOM and Node name an aborted operation. */
export class TeacherAbortError extends Error {
  /** `'AbortError'`, so that generic abort handling recognises it. */
  override readonly name = 'AbortError';

  constructor(
    /** Rows answered by calls before the abort (their answers went to onAnswers). */
    readonly called: number,
    /** Rows that were pending. */
    readonly pending: number,
  ) {
    super(`the teacher calls were aborted (${called} of ${pending} rows answered)`);
  }
}

/** True for errors worth retrying: {@link RetryableError}, our timeouts, and any error with `retryable: true`. */
export function isRetryable(error: unknown): boolean {
  if (error instanceof RetryableError || error instanceof TeacherTimeoutError) return true;
  return typeof error === 'object' && error !== null && (error as { retryable?: unknown }).retryable === true;
}

/** "rows 33–64" (1-based, inclusive), "row 7". */
function rowsText(rows: RowRange): string {
  return rows.end - rows.start === 1 ? `row ${rows.start + 1}` : `rows ${rows.start + 1}–${rows.end}`;
}

function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  return typeof error === 'string' ? error : describeValue(error);
}

/** One call's worth of rows. */
interface Batch<I> {
  indices: number[];
  inputs: I[];
  rows: RowRange;
}

/** Consecutive runs of up to `size` pending rows; a batch's range spans any cached rows between its first and last. */
function batchesOf<I>(pending: readonly { index: number; input: I }[], size: number): Batch<I>[] {
  const batches: Batch<I>[] = [];
  for (let start = 0; start < pending.length; start += size) {
    const slice = pending.slice(start, start + size);
    const indices = slice.map((row) => row.index);
    const first = indices[0] ?? 0;
    const last = indices[indices.length - 1] ?? first;
    batches.push({ indices, inputs: slice.map((row) => row.input), rows: { start: first, end: last + 1 } });
  }
  return batches;
}

/** Fails early, naming the option, rather than looping forever on a batch size of 0. */
function checkOptions(options: CallOptions): void {
  const positiveInteger = (name: keyof CallOptions, value: number): void => {
    if (!Number.isInteger(value) || value < 1)
      throw new RangeError(`callInBatches: ${name} must be a positive integer, received ${value}`);
  };
  const notNegative = (name: keyof CallOptions, value: number): void => {
    if (!(value >= 0)) throw new RangeError(`callInBatches: ${name} must be 0 or more, received ${value}`);
  };
  positiveInteger('batchSize', options.batchSize);
  positiveInteger('concurrency', options.concurrency);
  if (!(options.timeoutMs > 0))
    throw new RangeError(`callInBatches: timeoutMs must be more than 0, received ${options.timeoutMs}`);
  if (options.callsPerSecond !== null && !(options.callsPerSecond > 0))
    throw new RangeError(
      `callInBatches: callsPerSecond must be more than 0 or null, received ${options.callsPerSecond}`,
    );
  if (!Number.isInteger(options.retries) || options.retries < 0)
    throw new RangeError(`callInBatches: retries must be an integer, 0 or more, received ${options.retries}`);
  notNegative('backoffMs', options.backoffMs);
  notNegative('maxBackoffMs', options.maxBackoffMs);
}

/**
 * A token bucket that holds one token, refilled at `perSecond`: call starts are spaced evenly. No burst allowance:
 * services enforce their limits over short windows too, and a burst at the start is what trips them.
 */
class StartLimiter {
  private nextSlot = Number.NEGATIVE_INFINITY;
  private readonly interval: number;

  constructor(
    perSecond: number | null,
    private readonly now: () => number,
  ) {
    this.interval = perSecond === null ? 0 : 1000 / perSecond;
  }

  /**
   * Takes the next free start slot, as a time on the clock: at once, so that concurrent callers get distinct slots.
   * Slots keep their schedule: a start that ran late does not push back the next one, so the average rate holds.
   */
  reserve(): number {
    if (this.interval === 0) return Number.NEGATIVE_INFINITY;
    const slot = Math.max(this.now(), this.nextSlot);
    this.nextSlot = slot + this.interval;
    return slot;
  }
}

/** setTimeout's delay is a signed 32-bit count: a longer one fires at once, so it means "no timeout" here. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Settles like `work`, or rejects with the signal's reason as soon as it aborts: a function that ignores its signal
 * (or never settles) cannot hold the run. The listener is removed either way, so nothing stays attached.
 */
function raceAbort<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  let onAbort = (): void => undefined;
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () => reject(signal.reason as Error);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  // race() handles both sides: a late rejection of the loser (the function failing after its timeout) is not unhandled.
  return Promise.race([work, aborted]).finally(() => signal.removeEventListener('abort', onAbort));
}

/** One run of callInBatches: its batches, the shared counters, and the first fatal error. */
class Schedule<I> {
  private readonly batches: Batch<I>[];
  private readonly stats: Omit<CallStats, 'seconds'>;
  private readonly limiter: StartLimiter;
  private readonly started: number;
  /** Aborted on the first fatal error or on options.signal: wakes every wait, and no call starts after it. */
  private readonly halt = new AbortController();
  private nextBatch = 0;
  private failure: { error: unknown } | undefined;
  /** onAnswers runs one batch at a time: the caller's checks (the kind 'auto' decides) need not be re-entrant. */
  private delivering: Promise<void> = Promise.resolve();
  private readonly random: () => number;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  private readonly now: () => number;

  constructor(
    pending: readonly { index: number; input: I }[],
    private readonly call: TeacherFunction<I>,
    private readonly options: CallInBatchesOptions,
  ) {
    this.batches = batchesOf(pending, options.batchSize);
    this.random = options.random ?? Math.random;
    this.sleep = options.sleep ?? ((ms, signal) => delay(ms, undefined, { signal }));
    this.now = options.now ?? (() => performance.now());
    this.started = this.now();
    this.limiter = new StartLimiter(options.callsPerSecond, this.now);
    const cached = options.cached ?? 0;
    this.stats = { rows: cached + pending.length, cached, called: 0, calls: 0, failures: 0, retries: 0, timeouts: 0 };
  }

  async run(): Promise<CallStats> {
    const outer = this.options.signal;
    if (outer?.aborted) throw new TeacherAbortError(0, this.stats.rows - this.stats.cached);
    const onAbort = (): void => this.halt.abort(outer?.reason);
    outer?.addEventListener('abort', onAbort, { once: true });
    try {
      const workers = Math.min(this.options.concurrency, this.batches.length);
      await Promise.all(Array.from({ length: workers }, () => this.worker()));
    } finally {
      outer?.removeEventListener('abort', onAbort);
    }
    if (this.failure) throw this.failure.error;
    const pending = this.stats.rows - this.stats.cached;
    if (outer?.aborted && this.stats.called < pending) throw new TeacherAbortError(this.stats.called, pending);
    return this.snapshot();
  }

  /** A method, not a getter: TypeScript would keep a getter's value narrowed across the awaits that change it. */
  private halted(): boolean {
    return this.halt.signal.aborted;
  }

  private snapshot(): CallStats {
    return { ...this.stats, seconds: (this.now() - this.started) / 1000 };
  }

  private fail(error: unknown): void {
    this.failure ??= { error };
    this.halt.abort(error);
  }

  /** Takes batches until none are left or the run halts. Never rejects: what goes wrong is recorded by fail(). */
  private async worker(): Promise<void> {
    try {
      while (!this.halted()) {
        const batch = this.batches[this.nextBatch++];
        if (batch === undefined) return;
        await this.runBatch(batch);
      }
    } catch (error) {
      this.fail(error);
    }
  }

  /** Attempts one batch until it is answered, fails for good, or the run halts. */
  private async runBatch(batch: Batch<I>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      // No call starts once the run halts: retries and rate-limit waits of other batches stop here too.
      if (!(await this.waitUntil(this.limiter.reserve()))) return;
      let answers: unknown[];
      try {
        answers = await this.attempt(batch, attempt);
      } catch (error) {
        if (this.options.signal?.aborted) return;
        this.countFailure(error);
        if (!isRetryable(error) || attempt > this.options.retries) {
          this.fail(new TeacherCallError(batch.rows, attempt, error));
          return;
        }
        if (this.halted()) return;
        this.stats.retries++;
        if (!(await this.pause(this.backoff(attempt, error)))) return;
        continue;
      }
      await this.deliver(batch, answers);
      return;
    }
  }

  private countFailure(error: unknown): void {
    this.stats.failures++;
    if (error instanceof TeacherTimeoutError) this.stats.timeouts++;
    this.options.onProgress?.(this.snapshot());
  }

  /** Full jitter (uniform in [0, cap]) spreads the retries of batches that failed together, so they do not collide. */
  private backoff(attempt: number, error: unknown): number {
    const cap = Math.min(this.options.maxBackoffMs, this.options.backoffMs * 2 ** (attempt - 1));
    const jittered = this.random() * cap;
    const hint = error instanceof RetryableError ? (error.retryAfterMs ?? 0) : 0;
    return Math.max(jittered, hint);
  }

  /**
   * Waits until `time` on the clock, unless the run halts first; says whether the run may go on. Checked again after
   * each wait: a timer may fire a little early by performance.now() (libuv counts from the loop's cached time), and
   * the rate limit must hold by the clock its slots were computed on.
   */
  private async waitUntil(time: number): Promise<boolean> {
    for (let wait = time - this.now(); wait > 0; wait = time - this.now()) if (!(await this.pause(wait))) return false;
    return !this.halted();
  }

  /** Waits, unless the run halts first; says whether the run may go on. */
  private async pause(ms: number): Promise<boolean> {
    if (ms > 0 && !this.halted()) {
      try {
        await this.sleep(ms, this.halt.signal);
      } catch (error) {
        if (!this.halted()) throw error;
      }
    }
    return !this.halted();
  }

  /** One call of the teacher function, with its own signal, aborted at the timeout or by options.signal. */
  private async attempt(batch: Batch<I>, attempt: number): Promise<unknown[]> {
    this.stats.calls++;
    const controller = new AbortController();
    const outer = this.options.signal;
    const onAbort = (): void => controller.abort(outer?.reason);
    if (outer?.aborted) onAbort();
    else outer?.addEventListener('abort', onAbort, { once: true });
    const { timeoutMs } = this.options;
    const timer =
      timeoutMs <= MAX_TIMER_MS
        ? setTimeout(() => controller.abort(new TeacherTimeoutError(batch.rows, timeoutMs)), timeoutMs)
        : undefined;
    try {
      const context: CallContext = { signal: controller.signal, rows: { ...batch.rows }, attempt };
      // Through a promise, so that a function that throws synchronously fails this attempt like a rejection does.
      const answers = await raceAbort(
        Promise.resolve().then(() => this.call([...batch.inputs], context)),
        controller.signal,
      );
      if (!Array.isArray(answers))
        throw new TypeError(
          `the teacher function returned ${describeValue(answers)} for ${rowsText(batch.rows)}; ` +
            `expected an array of ${batch.inputs.length} answers`,
        );
      return answers;
    } finally {
      clearTimeout(timer);
      outer?.removeEventListener('abort', onAbort);
    }
  }

  /** Hands a batch's answers to onAnswers, one batch at a time; an error there is fatal and rethrown as it is. */
  private async deliver(batch: Batch<I>, answers: unknown[]): Promise<void> {
    const turn = this.delivering.then(async () => {
      await this.options.onAnswers([...batch.indices], answers);
      this.stats.called += batch.indices.length;
      this.options.onProgress?.(this.snapshot());
    });
    this.delivering = turn.catch(() => undefined);
    try {
      await turn;
    } catch (error) {
      this.fail(error);
    }
  }
}

/**
 * Calls `call` on `pending` (the rows without a cached answer, in row order) in batches of consecutive rows and hands
 * each batch's answers to `options.onAnswers`. Resolves with the stats once every row is answered.
 *
 * When a batch fails for good (a non-retryable error, or its retries spent), no further call starts, the calls in
 * flight finish (their answers still reach onAnswers, so the caller caches them), and it rejects with
 * {@link TeacherCallError} for that batch. An error thrown by onAnswers stops the run the same way and is rethrown
 * unchanged. `options.signal` aborts the calls in flight too and rejects with {@link TeacherAbortError}.
 */
export async function callInBatches<I>(
  pending: readonly { index: number; input: I }[],
  call: TeacherFunction<I>,
  options: CallInBatchesOptions,
): Promise<CallStats> {
  checkOptions(options);
  return new Schedule(pending, call, options).run();
}
