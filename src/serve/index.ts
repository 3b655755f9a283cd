/**
 * `distillery serve` as a library: `serve(options)` starts the HTTP server and returns `{ url, close() }`, for
 * tests and for embedding in a process of one's own. The CLI command is src/cli/commands/serve.ts.
 *
 * Fastify, its plugins and prom-client load on the first call (about 150 ms), not when `distillery` is imported:
 * every other command and every `require('distillery')` would pay for them otherwise.
 */
import type { RunningServer } from './server';
import type { ServeOptions } from './options';

export type { RunningServer } from './server';
export { SERVE_DEFAULTS, type ServeOptions } from './options';
export { ServeSetupError, type ServeSetupReason } from './setup-error';

/**
 * Starts the HTTP server over a model or a run folder's students (docs/RUNTIME.md, "Serving").
 *
 * @param options - the model or run folder, host, port, batching, token, limits
 * @returns the running server: its URL and `close()`, which drains every accepted request
 * @throws {@link ServeSetupError} when the model or folder is missing, fails verification, or an option is bad
 */
export async function serve(options: ServeOptions): Promise<RunningServer> {
  // require, not import(): this CommonJS build keeps import() as an ES import, which jest's module registry refuses.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const server = require('./server') as typeof import('./server');
  return server.serve(options);
}
