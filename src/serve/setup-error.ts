/**
 * The error `distillery serve` starts with when it cannot: kept apart from the server's modules so that importing
 * `distillery` (which exports it) does not load Fastify.
 */

/** Why the server could not start. */
export type ServeSetupReason = 'not-found' | 'not-a-model' | 'verify-failed' | 'no-models' | 'invalid-option';

/** The server could not start: the model or run folder is missing, failed `distillery verify`, or an option is bad. */
export class ServeSetupError extends Error {
  /** The class's name, also set on instances, so that logs and `error.name` checks see it. */
  override readonly name = 'ServeSetupError';

  constructor(
    /** What is wrong, to react on without parsing the message. */
    readonly reason: ServeSetupReason,
    detail: string,
    /** The problems `verifyRun` found, one line each (reason `verify-failed`); empty otherwise. */
    readonly problems: readonly string[] = [],
  ) {
    super(detail);
  }
}
