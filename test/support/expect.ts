/**
 * `value`, asserted to be an instance of `type` (the test fails here if not) and typed as one: what
 * `expect(value).toBeInstanceOf(type)` checks, without a cast that the type checker cannot verify.
 */
export function instanceOf<T>(value: unknown, type: abstract new (...args: never[]) => T): T {
  expect(value).toBeInstanceOf(type);
  if (!(value instanceof type)) throw new Error('unreachable: toBeInstanceOf has failed the test');
  return value;
}
