/**
 * Calling a teacher function in batches (src/teacher/schedule.ts): batching, the concurrency bound, the rate limit,
 * timeouts, retries with backoff, stopping on a fatal error, aborting, and the stats. Fake sleep/random/clock where
 * the numbers matter; small real timeouts (tens of ms) where a real timer is the point.
 */
import {
  RetryableError,
  TeacherAbortError,
  TeacherCallError,
  TeacherTimeoutError,
  callInBatches,
  isRetryable,
  type CallContext,
  type CallInBatchesOptions,
  type CallStats,
} from '../src/teacher/schedule';

const base = {
  batchSize: 2,
  concurrency: 1,
  timeoutMs: 5000,
  callsPerSecond: null,
  retries: 0,
  backoffMs: 100,
  maxBackoffMs: 1000,
};

/** Rows 0..n-1 whose input is `in<i>`, without the `skip`ped (cached) ones. */
function rows(n: number, skip: number[] = []): { index: number; input: string }[] {
  return Array.from({ length: n }, (_, index) => ({ index, input: `in${index}` })).filter(
    (row) => !skip.includes(row.index),
  );
}

/** Answers each input with its own text upper-cased, so a test can see which row got which answer. */
const echo = (inputs: string[]): Promise<unknown[]> => Promise.resolve(inputs.map((input) => input.toUpperCase()));

/** Collects what onAnswers got, by row. */
function collector(): { answers: Map<number, unknown>; onAnswers: CallInBatchesOptions['onAnswers'] } {
  const answers = new Map<number, unknown>();
  return {
    answers,
    onAnswers: (indices, values) => indices.forEach((index, i) => answers.set(index, values[i])),
  };
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = (): void => undefined;
  const promise = new Promise<void>((done) => (resolve = done));
  return { promise, resolve };
}

const ms = (n: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, n));

/** Settles `promise` into a value to inspect, and says meanwhile whether it has settled. */
function watch<T>(promise: Promise<T>): { settled: () => boolean; result: Promise<{ value?: T; error?: unknown }> } {
  let settled = false;
  const result = promise.then(
    (value) => ((settled = true), { value }),
    (error: unknown) => ((settled = true), { error }),
  );
  return { settled: () => settled, result };
}

describe('callInBatches', () => {
  test('batches consecutive pending rows in order, up to batchSize, and hands each batch to onAnswers', async () => {
    const calls: { inputs: string[]; rows: CallContext['rows']; attempt: number }[] = [];
    const { answers, onAnswers } = collector();
    const delivered: number[][] = [];
    const stats = await callInBatches(
      rows(10, [4, 7]),
      (inputs, context) => {
        calls.push({ inputs, rows: context.rows, attempt: context.attempt });
        return echo(inputs);
      },
      {
        ...base,
        batchSize: 3,
        cached: 2,
        onAnswers: (indices, values) => {
          delivered.push(indices);
          return onAnswers(indices, values);
        },
      },
    );
    expect(calls).toEqual([
      { inputs: ['in0', 'in1', 'in2'], rows: { start: 0, end: 3 }, attempt: 1 },
      // the range spans the cached row 4 between the batch's first and last rows
      { inputs: ['in3', 'in5', 'in6'], rows: { start: 3, end: 7 }, attempt: 1 },
      { inputs: ['in8', 'in9'], rows: { start: 8, end: 10 }, attempt: 1 },
    ]);
    expect(delivered).toEqual([
      [0, 1, 2],
      [3, 5, 6],
      [8, 9],
    ]);
    expect([...answers.entries()]).toEqual(
      [0, 1, 2, 3, 5, 6, 8, 9].map((index) => [index, `IN${index}`] as [number, string]),
    );
    expect(stats).toEqual({
      rows: 10,
      cached: 2,
      called: 8,
      calls: 3,
      failures: 0,
      retries: 0,
      timeouts: 0,
      seconds: expect.any(Number) as number,
    });
  });

  test('no pending rows: no call, stats say all were cached', async () => {
    const call = jest.fn(echo);
    const stats = await callInBatches([], call, { ...base, cached: 5, onAnswers: () => undefined });
    expect(call).not.toHaveBeenCalled();
    expect(stats).toMatchObject({ rows: 5, cached: 5, called: 0, calls: 0 });
  });

  test('never more than `concurrency` calls in flight, and the bound is used; onAnswers runs one batch at a time', async () => {
    let inFlight = 0;
    let most = 0;
    let delivering = 0;
    let mostDelivering = 0;
    const { answers, onAnswers } = collector();
    await callInBatches(
      rows(24),
      async (inputs, context) => {
        inFlight++;
        most = Math.max(most, inFlight);
        await ms(1 + (context.rows.start % 3) * 2); // uneven durations, so calls finish out of order
        inFlight--;
        return echo(inputs);
      },
      {
        ...base,
        batchSize: 1,
        concurrency: 3,
        onAnswers: async (indices, values) => {
          delivering++;
          mostDelivering = Math.max(mostDelivering, delivering);
          await ms(1);
          await onAnswers(indices, values);
          delivering--;
        },
      },
    );
    expect(most).toBe(3);
    expect(mostDelivering).toBe(1);
    expect(answers.size).toBe(24);
  });

  test('the rate limit spaces call starts 1/callsPerSecond apart (fake clock)', async () => {
    let clock = 1000;
    const waits: number[] = [];
    const starts: number[] = [];
    await callInBatches(
      rows(10),
      (inputs) => {
        starts.push(clock);
        clock += 30; // each call takes 30 ms: the next start still waits out the other 70
        return echo(inputs);
      },
      {
        ...base,
        callsPerSecond: 10,
        now: () => clock,
        sleep: (wait) => {
          waits.push(wait);
          clock += wait;
          return Promise.resolve();
        },
        onAnswers: () => undefined,
      },
    );
    expect(starts).toEqual([1000, 1100, 1200, 1300, 1400]);
    expect(waits).toEqual([70, 70, 70, 70]);
  });

  test('a wait that ends early by the clock is waited out again before the call starts', async () => {
    let clock = 0;
    const waits: number[] = [];
    const starts: number[] = [];
    await callInBatches(
      rows(4),
      (inputs) => {
        starts.push(clock);
        return echo(inputs);
      },
      {
        ...base,
        batchSize: 1,
        callsPerSecond: 10,
        now: () => clock,
        sleep: (wait) => {
          waits.push(wait);
          clock += waits.length === 1 ? wait - 1 : wait; // the first timer fires a millisecond early by this clock
          return Promise.resolve();
        },
        onAnswers: () => undefined,
      },
    );
    expect(starts).toEqual([0, 100, 200, 300]);
    expect(waits).toEqual([100, 1, 100, 100]);
  });

  test('the rate limit holds in real time with several calls in flight, retries included', async () => {
    const starts: number[] = [];
    let failedOnce = false;
    await callInBatches(
      rows(6),
      (inputs) => {
        starts.push(performance.now());
        if (!failedOnce) {
          failedOnce = true;
          return Promise.reject(new RetryableError('busy'));
        }
        return echo(inputs);
      },
      {
        ...base,
        batchSize: 1,
        concurrency: 4,
        callsPerSecond: 50,
        retries: 1,
        backoffMs: 0,
        onAnswers: () => undefined,
      },
    );
    expect(starts).toHaveLength(7);
    // start k is due 20k ms after the first. One start that runs late does not push back the next one (the slots keep
    // their schedule), so the check is against the first start; timers round to whole milliseconds, hence the 1 ms.
    const first = starts[0] ?? 0;
    starts.forEach((start, k) => expect(start - first).toBeGreaterThanOrEqual(20 * k - 1));
  });

  test('a function that never resolves times out (retryable), is retried, and ends in TeacherCallError', async () => {
    const signals: AbortSignal[] = [];
    const progress: CallStats[] = [];
    const failure = await callInBatches(
      rows(2),
      (_inputs, context) => {
        signals.push(context.signal);
        return new Promise<unknown[]>(() => undefined); // hangs, ignoring its signal
      },
      {
        ...base,
        timeoutMs: 30,
        retries: 2,
        backoffMs: 0,
        onAnswers: () => undefined,
        onProgress: (stats) => progress.push(stats),
      },
    ).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(TeacherCallError);
    const error = failure as TeacherCallError;
    expect(error.name).toBe('TeacherCallError');
    expect(error.rows).toEqual({ start: 0, end: 2 });
    expect(error.attempts).toBe(3);
    expect(error.cause).toBeInstanceOf(TeacherTimeoutError);
    expect(isRetryable(error.cause)).toBe(true);
    expect(error.message).toBe(
      'the teacher failed on rows 1–2 after 3 attempts: the teacher call for rows 1–2 took longer than 30 ms',
    );
    // each attempt had its own signal, aborted with the timeout as its reason
    expect(signals).toHaveLength(3);
    expect(new Set(signals).size).toBe(3);
    for (const signal of signals) {
      expect(signal.aborted).toBe(true);
      expect(signal.reason).toBeInstanceOf(TeacherTimeoutError);
    }
    expect(progress.at(-1)).toMatchObject({ calls: 3, failures: 3, timeouts: 3, retries: 2, called: 0 });
  });

  test('a timed-out attempt that succeeds on retry answers the rows', async () => {
    const { answers, onAnswers } = collector();
    const stats = await callInBatches(
      rows(2),
      (inputs, context) => (context.attempt === 1 ? new Promise<unknown[]>(() => undefined) : echo(inputs)),
      { ...base, timeoutMs: 20, retries: 1, backoffMs: 0, onAnswers },
    );
    expect([...answers.values()]).toEqual(['IN0', 'IN1']);
    expect(stats).toMatchObject({ called: 2, calls: 2, failures: 1, timeouts: 1, retries: 1 });
  });

  test('retryable errors are retried with exponential backoff and full jitter: random() * min(max, backoff * 2^n)', async () => {
    const waits: number[] = [];
    const attempts: number[] = [];
    const stats = await callInBatches(
      rows(1),
      (inputs, context) => {
        attempts.push(context.attempt);
        if (context.attempt === 2) return Promise.reject(Object.assign(new Error('503'), { retryable: true }));
        if (context.attempt < 5) return Promise.reject(new RetryableError('429'));
        return echo(inputs);
      },
      {
        ...base,
        retries: 4,
        backoffMs: 100,
        maxBackoffMs: 300,
        random: () => 0.5,
        sleep: (wait) => {
          waits.push(wait);
          return Promise.resolve();
        },
        onAnswers: () => undefined,
      },
    );
    expect(attempts).toEqual([1, 2, 3, 4, 5]);
    expect(waits).toEqual([0.5 * 100, 0.5 * 200, 0.5 * 300, 0.5 * 300]); // 400 and 800 capped at 300
    expect(stats).toMatchObject({ called: 1, calls: 5, failures: 4, retries: 4, timeouts: 0 });
  });

  test("a RetryableError's retryAfterMs is the least wait; retries spent end in TeacherCallError", async () => {
    const waits: number[] = [];
    const error = await callInBatches(rows(3), () => Promise.reject(new RetryableError('429', { retryAfterMs: 700 })), {
      ...base,
      batchSize: 3,
      retries: 2,
      random: () => 0,
      sleep: (wait) => {
        waits.push(wait);
        return Promise.resolve();
      },
      onAnswers: () => undefined,
    }).catch((caught: unknown) => caught);
    expect(waits).toEqual([700, 700]);
    expect(error).toBeInstanceOf(TeacherCallError);
    expect(error).toMatchObject({ rows: { start: 0, end: 3 }, attempts: 3 });
    expect((error as Error).message).toBe('the teacher failed on rows 1–3 after 3 attempts: 429');
  });

  test('a non-retryable error stops new calls, lets the calls in flight finish and deliver, then throws for its rows', async () => {
    const release = deferred();
    const started: number[] = [];
    const log: string[] = [];
    const run = watch(
      callInBatches(
        rows(10),
        async (inputs, context) => {
          started.push(context.rows.start);
          if (context.rows.start === 2) throw new Error('bad request: unknown field');
          await release.promise;
          return echo(inputs);
        },
        {
          ...base,
          concurrency: 3,
          retries: 5, // not used: the error is not retryable
          onAnswers: (indices) => void log.push(`answers ${indices.join(',')}`),
        },
      ),
    );
    await ms(20);
    // batches [0,1], [2,3], [4,5] started; [2,3] failed; [6,7] and [8,9] never start
    expect(started).toEqual([0, 2, 4]);
    expect(run.settled()).toBe(false); // waiting for the two calls in flight
    release.resolve();
    const { error } = await run.result;
    expect(log).toEqual(['answers 0,1', 'answers 4,5']);
    expect(started).toEqual([0, 2, 4]);
    expect(error).toBeInstanceOf(TeacherCallError);
    expect(error).toMatchObject({ rows: { start: 2, end: 4 }, attempts: 1 });
    expect((error as TeacherCallError).cause).toEqual(new Error('bad request: unknown field'));
    expect((error as Error).message).toBe('the teacher failed on rows 3–4 after 1 attempt: bad request: unknown field');
  });

  test('a fatal error also stops a batch waiting to retry', async () => {
    const started: string[] = [];
    const error = await callInBatches(
      rows(2),
      (_inputs, context) => {
        started.push(`${context.rows.start}#${context.attempt}`);
        return Promise.reject(context.rows.start === 0 ? new RetryableError('busy') : new Error('fatal'));
      },
      {
        ...base,
        batchSize: 1,
        concurrency: 2,
        retries: 3,
        backoffMs: 10_000,
        maxBackoffMs: 10_000,
        onAnswers: () => undefined,
      },
    ).catch((caught: unknown) => caught);
    // row 1's retry was waiting out a backoff of up to 10 s: the fatal error on row 2 ends the wait, and no retry starts
    expect(started).toEqual(['0#1', '1#1']);
    expect(error).toMatchObject({ name: 'TeacherCallError', rows: { start: 1, end: 2 } });
  });

  test('a function that returns no array fails at once (not retried), naming the rows', async () => {
    const call = jest.fn(() => Promise.resolve({ answers: [] } as unknown as unknown[]));
    const error = await callInBatches(rows(4), call, { ...base, retries: 3, onAnswers: () => undefined }).catch(
      (caught: unknown) => caught,
    );
    expect(call).toHaveBeenCalledTimes(1);
    expect((error as Error).message).toBe(
      'the teacher failed on rows 1–2 after 1 attempt: the teacher function returned an object (Object) for rows 1–2; expected an array of 2 answers',
    );
  });

  test('a function that throws synchronously fails its attempt like a rejection', async () => {
    const error = await callInBatches(
      rows(1),
      () => {
        throw new Error('sync');
      },
      { ...base, onAnswers: () => undefined },
    ).catch((caught: unknown) => caught);
    expect(error).toMatchObject({
      name: 'TeacherCallError',
      message: 'the teacher failed on row 1 after 1 attempt: sync',
    });
  });

  test('an error thrown by onAnswers stops the run and is rethrown unchanged', async () => {
    const invalid = new TypeError('row 3: expected 10 probabilities, received 9');
    const call = jest.fn(echo);
    const error = await callInBatches(rows(6), call, {
      ...base,
      onAnswers: (indices) => {
        if (indices.includes(2)) throw invalid;
      },
    }).catch((caught: unknown) => caught);
    expect(error).toBe(invalid);
    expect(call).toHaveBeenCalledTimes(2);
  });

  test('aborting stops the run at once: calls in flight are aborted, and it rejects with an AbortError', async () => {
    const controller = new AbortController();
    const signals: AbortSignal[] = [];
    const { answers, onAnswers } = collector();
    const started = performance.now();
    const error = await callInBatches(
      rows(6),
      (inputs, context) => {
        signals.push(context.signal);
        if (context.rows.start === 0) return echo(inputs);
        setTimeout(() => controller.abort(), 10);
        return new Promise<unknown[]>(() => undefined); // ignores its signal: the abort must not wait for it
      },
      { ...base, batchSize: 1, concurrency: 2, timeoutMs: 60_000, signal: controller.signal, onAnswers },
    ).catch((caught: unknown) => caught);
    expect(performance.now() - started).toBeLessThan(5000);
    expect(error).toBeInstanceOf(TeacherAbortError);
    expect(error).toMatchObject({ name: 'AbortError', called: 1, pending: 6 });
    expect([...answers.keys()]).toEqual([0]);
    expect(signals.length).toBeGreaterThanOrEqual(2);
    expect(signals.slice(1).every((signal) => signal.aborted)).toBe(true);
  });

  test('an already-aborted signal rejects before any call', async () => {
    const call = jest.fn(echo);
    const error = await callInBatches(rows(2), call, {
      ...base,
      signal: AbortSignal.abort(),
      onAnswers: () => undefined,
    }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(TeacherAbortError);
    expect(call).not.toHaveBeenCalled();
  });

  test('stats count rows, calls, failures and retries, and onProgress sees them grow', async () => {
    const progress: CallStats[] = [];
    let failed = false;
    const stats = await callInBatches(
      rows(10, [1, 3, 5, 7]),
      (inputs) => {
        if (!failed) {
          failed = true;
          return Promise.reject(new RetryableError('once'));
        }
        return echo(inputs);
      },
      {
        ...base,
        cached: 4,
        retries: 1,
        random: () => 0,
        onAnswers: () => undefined,
        onProgress: (snapshot) => progress.push(snapshot),
      },
    );
    expect(stats).toMatchObject({ rows: 10, cached: 4, called: 6, calls: 4, failures: 1, retries: 1, timeouts: 0 });
    expect(stats.seconds).toBeGreaterThanOrEqual(0);
    expect(progress.map((snapshot) => snapshot.called)).toEqual([0, 2, 4, 6]); // the failure, then each batch
  });

  test('bad options fail at once, naming the option', async () => {
    const options = { ...base, onAnswers: () => undefined };
    await expect(callInBatches(rows(1), echo, { ...options, batchSize: 0 })).rejects.toThrow(
      'callInBatches: batchSize must be a positive integer, received 0',
    );
    await expect(callInBatches(rows(1), echo, { ...options, callsPerSecond: 0 })).rejects.toThrow(RangeError);
    await expect(callInBatches(rows(1), echo, { ...options, retries: -1 })).rejects.toThrow(/retries/);
  });
});

describe('isRetryable', () => {
  test('RetryableError, timeouts and errors marked retryable: true; nothing else', () => {
    expect(isRetryable(new RetryableError('x'))).toBe(true);
    expect(isRetryable(new TeacherTimeoutError({ start: 0, end: 1 }, 5))).toBe(true);
    expect(isRetryable(Object.assign(new Error('x'), { retryable: true }))).toBe(true);
    expect(isRetryable(Object.assign(new Error('x'), { retryable: 'yes' }))).toBe(false);
    expect(isRetryable(new Error('x'))).toBe(false);
    expect(isRetryable('retryable')).toBe(false);
    expect(isRetryable(null)).toBe(false);
  });

  test('RetryableError keeps its cause', () => {
    const cause = new Error('HTTP 503');
    expect(new RetryableError('busy', { cause }).cause).toBe(cause);
    expect('cause' in new RetryableError('busy')).toBe(false);
  });
});
