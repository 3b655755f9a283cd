/**
 * Errors that several layers throw: the ground floor, so that preprocess, the runtime, eval and data can all throw
 * them without importing each other. Platform-neutral (no Node built-ins): the browser entry will share it.
 */

/**
 * A caller's input (a sample, a batch, an option, a dataset array) does not have
 * the shape, type or values that were expected.
 */
export class InputValidationError extends Error {
  /** The class's name, also set on instances, so that logs and `error.name` checks see it. */
  override readonly name = 'InputValidationError';

  constructor(
    /** Where the problem is, as a path: `samples[3][5]`, `options.labels`. */
    readonly field: string,
    /** What was expected there, in words. */
    readonly expected: string,
    /** What was found instead, in words. */
    readonly received: string,
  ) {
    super(`${field}: expected ${expected}, received ${received}`);
  }
}

/** Describes a value for an error message without dumping it. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'number') return Number.isNaN(value) ? 'NaN' : String(value);
  if (typeof value === 'string')
    return `string ${JSON.stringify(value.length > 20 ? `${value.slice(0, 20)}…` : value)}`;
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (ArrayBuffer.isView(value)) {
    const length = 'length' in value && typeof value.length === 'number' ? value.length : value.byteLength;
    return `a ${value.constructor.name} of length ${length}`;
  }
  if (typeof value === 'object') {
    // The types say every object has a constructor; one made by Object.create(null) has none.
    const constructor: unknown = (value as { constructor?: unknown }).constructor;
    return `an object (${typeof constructor === 'function' ? constructor.name : 'null prototype'})`;
  }
  return typeof value;
}
