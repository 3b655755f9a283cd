/**
 * `value` itself, or an internal error when it is null or undefined: for values that an invariant of the code
 * guarantees (a chunk pushed just before, a pair's second half), where a missing value is a bug in distillery, not a
 * caller's mistake. Platform-neutral, like the rest of src/core.
 *
 * @param what - the value, in words, for the error message
 */
export function required<T>(value: T | null | undefined, what: string): T {
  if (value === null || value === undefined) throw new Error(`internal error: ${what} is missing`);
  return value;
}
