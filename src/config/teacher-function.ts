/**
 * The contract of a teacher you call (`teacher: { type: 'function', call }`, or a module's default export): what it
 * receives and what it may return. Types only; src/teacher calls it, checks its answers and caches them.
 */

/**
 * One row as the user has it, the same value the runtime's `predict` takes for that data: a table row (column name →
 * cell; a text column's cell is its text), the bytes of an image file, or a sample's values (arrays, MNIST).
 */
export type TeacherInput =
  Readonly<Record<string, string | number | boolean | null | undefined>> | Uint8Array | Float32Array;

/**
 * One row's answer: class probabilities or logits (one number per class, in the data's class order), a class name
 * or index (a teacher that gives labels alone), or an object that says which. A regression teacher gives its values.
 */
export type TeacherAnswer =
  | readonly number[]
  | Float32Array
  | Float64Array
  | string
  | number
  | {
      /** One probability per class, in the data's class order, summing to 1. */
      readonly probabilities: readonly number[] | Float32Array | Float64Array;
    }
  | {
      /** One logit per class, in the data's class order. */
      readonly logits: readonly number[] | Float32Array | Float64Array;
    }
  | {
      /** A class name, or a class index. */
      readonly label: string | number;
    };

/** What a call receives beside its rows. */
export interface TeacherCallContext {
  /** Aborted when the call times out (`timeoutMs`) or the run is cancelled: pass it to fetch(). */
  readonly signal: AbortSignal;
  /** The rows of this call within the split being labelled: [start, end), 0-based. */
  readonly rows: {
    /** The first row, 0-based. */
    readonly start: number;
    /** The row after the last. */
    readonly end: number;
  };
  /** Which split's rows these are. */
  readonly split: 'transfer' | 'train' | 'validation' | 'test';
  /** 0 for the first try, then 1, 2… for retries. */
  readonly attempt: number;
  /** The data's class names, in order: the order of a probabilities or logits answer. */
  readonly classes: readonly string[];
}

/**
 * A teacher you call: receives up to `batchSize` rows, returns one answer per row, in order. Throw a
 * {@link RetryableError} (or any error with `retryable: true`) for a failure worth retrying (a 429, a 503, a reset
 * connection); any other error stops the labelling (the rows answered so far stay cached).
 */
export type TeacherFunction = (
  inputs: readonly TeacherInput[],
  context: TeacherCallContext,
) => Promise<readonly TeacherAnswer[]> | readonly TeacherAnswer[];
